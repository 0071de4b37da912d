"""Messages the bot sends on its own, outside a conversation: a payment arrived (with its
invoice as a PDF), a payment failed, and alerts to support.

By the time these are sent the money has moved; a message that cannot be delivered (the
user blocked the bot, Telegram is down) is logged and never undoes or repeats the payment.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from billing.bot.texts import LANGUAGES, date_text, t
from billing.domain.catalog import Catalog
from billing.domain.money import format_minor
from billing.observability import logger
from billing.orders.invoices import document_from_json
from billing.orders.model import Order, Purpose
from billing.orders.service import Outcome, Settlement
from billing.store.accounts import AccountsRepository
from billing.store.orders import OrdersRepository
from billing.telegram.client import BotApi, TelegramError


class ChatNotices:
    def __init__(
        self,
        *,
        accounts: AccountsRepository,
        orders: OrdersRepository,
        catalog: Catalog,
        telegram: Callable[[], BotApi],
        admin_ids: Collection[int],
    ) -> None:
        self._accounts = accounts
        self._orders = orders
        self._catalog = catalog
        self._telegram = telegram
        self._admin_ids = admin_ids

    def settled(self, settlement: Settlement) -> None:
        order = settlement.order
        if order is None:
            return
        lang = self._language(order.payer_id)
        amount = format_minor(order.paid_amount or order.amount, order.currency)
        purchase = settlement.purchase
        if purchase is not None:
            sub = purchase.subscription
            product = self._catalog.product(sub.product)
            text = t(
                lang,
                "paid_purchase",
                amount=amount,
                order=order.id,
                product=product.titles.get(lang) or product.titles["en"],
                expiry=date_text(sub.expires_at, lang),
            )
        elif settlement.outcome is Outcome.TOPPED_UP:
            text = t(lang, "paid_kept_on_balance", amount=amount, order=order.id)
        else:
            text = t(lang, "paid_top_up", amount=amount, order=order.id)
        chat = order.chat_id or order.payer_id
        self._send(chat, text)
        if purchase is not None and purchase.invoice_number is not None:
            self.send_invoice(chat, purchase.invoice_number)

    def payment_failed(self, order: Order, reason: str) -> None:
        lang = self._language(order.payer_id)
        key = "payment_failed_purchase" if order.purpose is not Purpose.TOP_UP else "payment_failed"
        self._send(
            order.chat_id or order.payer_id,
            t(lang, key, order=order.id, reason=reason[:300]),
        )

    def alert(self, reason: str) -> None:
        for admin in sorted(self._admin_ids):
            self._send(admin, f"⚠ {reason}"[:4096])

    def send_invoice(self, chat_id: int, number: str) -> bool:
        """Sends the invoice PDF as a document; False when there is no such invoice."""
        from billing.documents.render import render_invoice

        record = self._orders.invoice(number)
        if record is None:
            return False
        content = render_invoice(document_from_json(record.document))
        try:
            self._telegram().call(
                "sendDocument",
                {"chat_id": chat_id, "caption": number},
                files={"document": (f"{number}.pdf", content, "application/pdf")},
            )
        except TelegramError as error:
            logger.warning("invoice not delivered", extra={"code": error.error_code})
        return True

    def _language(self, user_id: int) -> str:
        account = self._accounts.get(user_id)
        language = account.language if account is not None else None
        return language if language in LANGUAGES and language else "en"

    def _send(self, chat_id: int, text: str) -> None:
        try:
            self._telegram().call("sendMessage", {"chat_id": chat_id, "text": text})
        except TelegramError as error:
            logger.warning("notice not delivered", extra={"code": error.error_code})
