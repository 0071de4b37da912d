"""54-FZ fiscal receipts (SPEC §7): every card-for-Russia payment and refund carries one.

YooKassa sends the receipt to the Payer's e-mail or phone, which the bot asks for once in
/billing (`require_can_pay` refuses the method until it is there). The receipt names our
service as one item at the full amount, with the configured VAT code.
"""

from __future__ import annotations

from typing import Any

from billing.config import Settings
from billing.errors import InvalidState
from billing.store.accounts import AccountsRepository


class FiscalReceipts:
    def __init__(self, *, accounts: AccountsRepository, settings: Settings) -> None:
        self._accounts = accounts
        self._settings = settings

    def contact(self, payer_id: int) -> str:
        account = self._accounts.get(payer_id)
        contact = account.profile.receipt_contact if account is not None else None
        if contact is None:
            raise InvalidState(
                "the payer has no e-mail or phone for receipts", reason="no_receipt_contact"
            )
        return contact

    def receipt(
        self, payer_id: int, description: str, amount: int, currency: str
    ) -> dict[str, Any]:
        return self.for_contact(self.contact(payer_id), description, amount, currency)

    def for_contact(
        self, contact: str, description: str, amount: int, currency: str
    ) -> dict[str, Any]:
        """The receipt to `contact`: a resend of a payment must send the very body the
        first try did (same Idempotence-Key), so callers fix the contact on the order."""
        from billing.providers.yookassa import receipt

        return receipt(contact, description, amount, currency, self._settings.yookassa_vat_code)
