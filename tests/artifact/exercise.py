"""Run inside the twin of the built artifact (tests/artifact/test_built_artifact.py): every
module of the billing package imports, and each path that loads a library lazily works
with what the layer ships (no Pillow, no fontTools accelerators, no stripe.params/events,
no requests, the runtime's botocore). Prints "ok" and what it did, or fails loudly."""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import sys
from datetime import date

import billing

STRIPE = sys.argv[1]  # base URL of the test's canned Stripe answers


def import_everything() -> int:
    names = [m.name for m in pkgutil.walk_packages(billing.__path__, "billing.")]
    for name in names:
        if name.endswith("__main__") or name == "billing.cli":
            continue
        importlib.import_module(name)
    return len(names)


def documents() -> None:
    from billing.documents.model import (
        BankDetails,
        DocumentLine,
        InvoiceDocument,
        Party,
        PaymentOrderDocument,
    )
    from billing.documents.render import render_invoice, render_payment_order

    seller = Party("SIP.TG UAB", "Vilnius, Lithuania", "LT")
    for name, language in (("Jürgen Groß", "en"), ("Иван Петров", "ru"), ("山田太郎 김민준", "en")):
        pdf = render_invoice(
            InvoiceDocument(
                number="INV-000001",
                issued_on=date(2026, 12, 1),
                seller=seller,
                seller_vat_number="LT100018548216",
                buyer=Party(name, "Street 1", "DE", None),
                currency="EUR",
                lines=(DocumentLine("Softphone, 12 months", 12000),),
                subtotal=12000,
                discount_percent="10",
                discount=1200,
                net=10800,
                vat_rate="21",
                vat=2268,
                vat_note=None,
                total=13068,
                paid_by="wallet balance",
                period="1 December 2026 - 1 December 2027",
                language=language,
            )
        )
        assert pdf.startswith(b"%PDF"), name
    order = render_payment_order(
        PaymentOrderDocument(
            order_number="ORD-1",
            issued_on=date(2026, 12, 1),
            seller=seller,
            seller_vat_number=None,
            bank=BankDetails("SIP.TG UAB", "LT12 1000 0111 0100 1000", "CBVILT2X", "SEB"),
            buyer=Party("ООО Ромашка", "Москва", "RU"),
            currency="EUR",
            amount=50000,
            minimum=5000,
            purpose="Top-up",
            valid_until=date(2026, 12, 31),
            language="ru",
        )
    )
    assert order.startswith(b"%PDF")


def stripe_calls() -> None:
    from billing.providers.stripe_gateway import StripeGateway

    gateway = StripeGateway("sk_test_artifact", STRIPE, max_network_retries=0)
    assert gateway.ensure_customer(payer_id=1, existing=None, idempotency_key="k1") == "cus_1"
    gateway.events_since(0)
    gateway.payment_intent("pi_1")
    gateway.refund(payment_intent_id="pi_1", amount=100, idempotency_key="k2")


def tax_and_phones() -> None:
    from billing.domain.profile import phone_country
    from billing.domain.tax import normalize_vat_id

    assert phone_country("+4915112345678") == "DE"
    assert normalize_vat_id("136695976", "DE") == "DE136695976"


def telegram() -> None:
    from billing.telegram.client import BotApi
    from billing.telegram.errors import TelegramUnavailable
    from billing.telegram.models import parse_update

    update = parse_update(
        b'{"update_id": 5, "message": {"message_id": 1, "date": 1,'
        b' "chat": {"id": 1, "type": "private"}, "text": "hi"}}'
    )
    assert update is not None and update.update_id == 5
    # httpx reaches the network layer: nothing listens there.
    with contextlib.suppress(TelegramUnavailable):
        BotApi("http://127.0.0.1:9", "1:token", max_attempts=1).call("getMe", {})


def aws_clients() -> None:
    from billing import aws

    aws.client("ssm", "eu-central-1", None)
    aws.client("sqs", "eu-central-1", None)
    assert "boto3" not in sys.modules, "a handler path imported boto3"
    for absent in ("PIL", "requests", "pydantic"):
        try:
            importlib.import_module(absent)
        except ImportError:
            continue
        raise AssertionError(f"{absent} is in the layer")


if __name__ == "__main__":
    count = import_everything()
    documents()
    stripe_calls()
    tax_and_phones()
    telegram()
    aws_clients()
    print(f"ok: {count} modules imported, documents, stripe, tax, telegram, aws")
