"""What a Customer may use now (SPEC §11): a pure function of their subscriptions and the
catalog.

Limits apply to the Customer, never to the Payer: a subscription someone pays for another
user gives that user its limits and gives the Payer nothing. For each sellable product the
answer is its active subscription's plan, or Free when none is active; every limit's value
comes from the catalog's `limits` tables (billing/data/catalog.toml), never from code here.

Validity follows what billing has committed, not the wall clock: a subscription stays
active until the renewal sweep renews or expires it (a card charge of its period may still
be settling), so `valid_until` is told and the telephony side may act on it, but the plan
changes when the expiry is committed, which is also when the change event is emitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from billing.domain.catalog import Catalog, LimitValue, OptionValue, Product
from billing.domain.subscription import Subscription

# The plan of a product nothing paid is active for.
FREE_PLAN = "free"


@dataclass(frozen=True)
class Grant:
    """What one active subscription gives its Customer: all the entitlements need of it."""

    subscription_id: str
    product: str
    options: Mapping[str, OptionValue]
    valid_until: datetime


def grant_of(sub: Subscription) -> Grant | None:
    """The subscription's grant while it is active; None once it has ended."""
    if not sub.is_active:
        return None
    return Grant(sub.id, sub.product, MappingProxyType(dict(sub.options)), sub.expires_at)


@dataclass(frozen=True)
class ProductEntitlement:
    product: str
    plan: str  # FREE_PLAN, or the product's key when a subscription is active
    subscription_id: str | None
    valid_until: datetime | None
    limits: Mapping[str, LimitValue]  # None: no limit

    @property
    def is_free(self) -> bool:
        return self.plan == FREE_PLAN


@dataclass(frozen=True)
class Entitlements:
    customer_id: int
    products: Mapping[str, ProductEntitlement]  # every sellable product, in catalog order


def _free(product: Product) -> ProductEntitlement:
    limits = {key: limit.free for key, limit in product.limits.items()}
    return ProductEntitlement(product.key, FREE_PLAN, None, None, MappingProxyType(limits))


def _paid(product: Product, grant: Grant) -> ProductEntitlement:
    limits = {key: limit.paid.apply(grant.options) for key, limit in product.limits.items()}
    return ProductEntitlement(
        product.key,
        product.key,
        grant.subscription_id,
        grant.valid_until,
        MappingProxyType(limits),
    )


def from_grants(catalog: Catalog, customer_id: int, grants: Iterable[Grant]) -> Entitlements:
    """Entitlements from the grants of the Customer's active subscriptions (at most one per
    product; should two ever be given, the one valid longer counts)."""
    by_product: dict[str, Grant] = {}
    for grant in grants:
        held = by_product.get(grant.product)
        if held is None or grant.valid_until > held.valid_until:
            by_product[grant.product] = grant
    products = {}
    for product in catalog.sellable():
        held_now = by_product.get(product.key)
        products[product.key] = _free(product) if held_now is None else _paid(product, held_now)
    return Entitlements(customer_id, MappingProxyType(products))


def entitlements_of(
    catalog: Catalog, customer_id: int, subscriptions: Iterable[Subscription]
) -> Entitlements:
    """The Customer's entitlements from subscriptions that may include others' (ones they
    only pay for, or ended ones): only their own active subscriptions count."""
    grants = (
        grant
        for sub in subscriptions
        if sub.customer_id == customer_id
        if (grant := grant_of(sub)) is not None
    )
    return from_grants(catalog, customer_id, grants)
