"""pynamodb models, one per item type. Table names and endpoint are bound at start-up
(`billing.store.connection.bind`) from the settings, never hard-coded."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    KeysOnlyProjection,
    LocalSecondaryIndex,
)
from pynamodb.models import Model


class _Meta:
    table_name = "unbound"
    region = "eu-central-1"


# --- Accounts: pk = "user#<telegram id>" -------------------------------------------------


class AccountModel(Model):
    """sk = "profile": language, billing profile, payment method, verification."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute()
    created_at = UnicodeAttribute()
    language = UnicodeAttribute(null=True)
    first_name = UnicodeAttribute(null=True)
    username = UnicodeAttribute(null=True)
    start_parameter = UnicodeAttribute(null=True)
    profile = JSONAttribute(null=True)  # billing profile: country, name, address, vat_id, ...
    version = NumberAttribute(default=1)


class ConversationModel(Model):
    """sk = "conversation": the question the bot is waiting on; expires by TTL."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    state = JSONAttribute()
    expires_at = TTLAttribute()


# --- Subscriptions: pk = "sub#<id>" or "slot#<customer>#<product>" --------------------------


class DueIndex(GlobalSecondaryIndex["SubscriptionModel"]):
    """Sparse: only subscriptions with a pending action carry due_shard + next_action_at."""

    class Meta:
        index_name = "due"
        projection = KeysOnlyProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    next_action_at = NumberAttribute(range_key=True)


class ByPayerIndex(GlobalSecondaryIndex["SubscriptionModel"]):
    class Meta:
        index_name = "by_payer"
        projection = AllProjection()

    payer_id = NumberAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class ByCustomerIndex(GlobalSecondaryIndex["SubscriptionModel"]):
    class Meta:
        index_name = "by_customer"
        projection = AllProjection()

    customer_id = NumberAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class SubscriptionModel(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    product = UnicodeAttribute()
    customer_id = NumberAttribute()
    payer_id = NumberAttribute()
    options = JSONAttribute()
    months = NumberAttribute()
    currency = UnicodeAttribute()
    status = UnicodeAttribute()
    started_at = UnicodeAttribute()
    expires_at = UnicodeAttribute()
    auto_renew = BooleanAttribute()
    customer_may_change = BooleanAttribute()
    customer_name = UnicodeAttribute(null=True)
    value_amount = NumberAttribute()
    value_since = UnicodeAttribute()
    version = NumberAttribute()
    created_at = UnicodeAttribute()
    history = JSONAttribute()
    sweep = JSONAttribute(null=True)  # the renewal sweep's marks for the current period
    due_shard = UnicodeAttribute(null=True)
    next_action_at = NumberAttribute(null=True)

    due_index = DueIndex()
    by_payer = ByPayerIndex()
    by_customer = ByCustomerIndex()


class SlotModel(Model):
    """Guards "at most one active subscription per Customer and product" (SPEC §5):
    created with attribute_not_exists in the connect transaction, deleted when it ends."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    subscription_id = UnicodeAttribute()


# --- Balances: pk = "payer#<id>", sk = "wallet#<CUR>" | "entry#<CUR>#<cause>" ---------------


class EntryOrderIndex(LocalSecondaryIndex["LedgerEntryModel"]):
    """Entries of one wallet in the order they were written (entry_order = CUR#seq)."""

    class Meta:
        index_name = "by_order"
        projection = AllProjection()

    pk = UnicodeAttribute(hash_key=True)
    entry_order = UnicodeAttribute(range_key=True)


class WalletModel(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    payer_id = NumberAttribute()
    currency = UnicodeAttribute()
    balance = NumberAttribute()
    credit_limit = NumberAttribute()
    seq = NumberAttribute()
    updated_at = UnicodeAttribute()


class LedgerEntryModel(Model):
    """Immutable: written once with attribute_not_exists, never updated."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entry_order = UnicodeAttribute()
    payer_id = NumberAttribute()
    currency = UnicodeAttribute()
    cause = UnicodeAttribute()
    amount = NumberAttribute()
    kind = UnicodeAttribute()
    reason = UnicodeAttribute()
    # The Payer's wording of the reason: a catalog key and its facts (absent on old entries
    # and on support's own words, which are shown as written).
    reason_key = UnicodeAttribute(null=True)
    reason_facts = JSONAttribute(null=True)
    reference = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    balance_after = NumberAttribute()
    credit_limit = NumberAttribute()
    seq = NumberAttribute()

    by_order = EntryOrderIndex()


# --- Orders: pk = "order#<id>" | "invoice#<number>" | "counter#invoice" | "alert#<...>" ----


class ByProviderRefIndex(GlobalSecondaryIndex["OrderModel"]):
    """Finds the order of a provider's payment id (support's lookup, refunds, disputes)."""

    class Meta:
        index_name = "by_provider_ref"
        projection = AllProjection()

    provider_ref = UnicodeAttribute(hash_key=True)


class OpenOrdersIndex(GlobalSecondaryIndex["OrderModel"]):
    """Sparse: the orders still waiting for money, by the time they stop being payable
    (reconciliation asks their providers about them, then expires what is past due)."""

    class Meta:
        index_name = "open_orders"
        projection = AllProjection()

    open_shard = UnicodeAttribute(hash_key=True)
    open_until = NumberAttribute(range_key=True)


class OrdersByPayerIndex(GlobalSecondaryIndex["OrderModel"]):
    """A Payer's orders and invoices, newest first (`/balance`, support)."""

    class Meta:
        index_name = "by_payer"
        projection = AllProjection()

    payer_id = NumberAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class OrderModel(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # "order"
    payer_id = NumberAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    purpose = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    method = UnicodeAttribute()
    status = UnicodeAttribute()
    details = JSONAttribute()
    provider_ref = UnicodeAttribute(null=True)
    paid_amount = NumberAttribute(null=True)
    refunded_amount = NumberAttribute(default=0)
    note = UnicodeAttribute(null=True)
    chat_id = NumberAttribute(null=True)
    version = NumberAttribute()
    expires_at = UnicodeAttribute(null=True)  # when it stops being payable
    refund_ids = JSONAttribute(null=True)  # provider refund / dispute id -> amount taken back
    # Set only while the order is open (pending or failed): the open_orders index.
    open_shard = UnicodeAttribute(null=True)
    open_until = NumberAttribute(null=True)

    by_provider_ref = ByProviderRefIndex()
    by_payer = OrdersByPayerIndex()
    open_orders = OpenOrdersIndex()


class InvoicesByPayerIndex(GlobalSecondaryIndex["InvoiceModel"]):
    """The same by_payer index, read as invoices (items are told apart by `kind`)."""

    class Meta:
        index_name = "by_payer"
        projection = AllProjection()

    payer_id = NumberAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class InvoiceModel(Model):
    """An issued invoice: its number and the document as issued (rendered on demand)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # "invoice"
    number = UnicodeAttribute()
    payer_id = NumberAttribute()
    created_at = UnicodeAttribute()
    total = NumberAttribute()
    currency = UnicodeAttribute()
    subscription_id = UnicodeAttribute(null=True)
    order_id = UnicodeAttribute(null=True)
    document = JSONAttribute()

    by_payer = InvoicesByPayerIndex()


class CounterModel(Model):
    """The invoice counter (advanced inside the charge transaction, so numbers have no
    gaps) and reconciliation's cursors (the time each provider was reconciled up to)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    value = NumberAttribute()


class OpenAlertsIndex(GlobalSecondaryIndex["AlertModel"]):
    """Sparse: the alerts support has not resolved yet (`inbox` is set only while open),
    by their pk, which sorts by creation time: support's inbox is one query."""

    class Meta:
        index_name = "open_alerts"
        projection = AllProjection()

    inbox = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class AlertModel(Model):
    """Something support must look at (unknown or mismatching payment, refund, dispute).
    pk = "alert#<ISO time>#<random>"; state "open" until support resolves it."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # "alert"
    reason = UnicodeAttribute()
    created_at = UnicodeAttribute()
    provider = UnicodeAttribute(null=True)
    details = JSONAttribute()
    state = UnicodeAttribute(default="open")  # "open" | "resolved"
    inbox = UnicodeAttribute(null=True)  # "open" while open: the open_alerts index
    resolved_by = NumberAttribute(null=True)  # the admin's Telegram id
    resolved_at = UnicodeAttribute(null=True)

    open_alerts = OpenAlertsIndex()


# --- Idempotency: id = "<namespace>#<key>", expires by TTL on `expiration` ----------------


class IdempotencyRecordModel(Model):
    """A claim that some work was done once (e.g. one Telegram update). The table follows
    the Powertools idempotency schema, so records of both can live side by side."""

    class Meta(_Meta):
        pass

    id = UnicodeAttribute(hash_key=True)
    expiration = NumberAttribute()  # epoch seconds; the table's TTL attribute
    status = UnicodeAttribute()


# --- Entitlements: pk = "customer#<telegram id>" ------------------------------------------


class EntitlementsModel(Model):
    """What a Customer may use: `version` counts the committed changes, and one attribute
    per product (`grant#<product>`, JSON; billing/store/entitlements.py writes and reads
    them) holds the grant of its active subscription. Product keys are catalog data, so
    those attributes are not declared here."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    version = NumberAttribute()
    updated_at = UnicodeAttribute()


ALL_MODELS: dict[str, tuple[type[Model], ...]] = {
    "accounts": (AccountModel, ConversationModel),
    "subscriptions": (SubscriptionModel, SlotModel),
    "balances": (WalletModel, LedgerEntryModel),
    "orders": (OrderModel, InvoiceModel, CounterModel, AlertModel),
    "idempotency": (IdempotencyRecordModel,),
    "entitlements": (EntitlementsModel,),
}
