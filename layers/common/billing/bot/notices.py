"""Messages the bot sends on its own, outside a conversation: a payment arrived (with its
invoice as a PDF), a payment failed, and alerts to support.

By the time these are sent the money has moved; a message that cannot be delivered (the
user blocked the bot, Telegram is down) is logged and never undoes or repeats the payment.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from billing.bot.callbacks import encode
from billing.bot.subscriptions import period_token
from billing.bot.texts import LANGUAGES, date_text, error_text, method_name, t
from billing.bot.views import for_label, person_label
from billing.clock import Clock
from billing.domain import renewal
from billing.domain.catalog import Catalog
from billing.domain.money import Currency, format_minor
from billing.domain.profile import PaymentMethod
from billing.domain.subscription import Subscription
from billing.errors import BillingError
from billing.i18n import plural
from billing.ledger.model import EntryKind, LedgerEntry
from billing.observability import logger
from billing.orders.invoices import document_from_json
from billing.orders.model import Order, Purpose
from billing.orders.service import Outcome, RefundRecord, Settlement
from billing.store.accounts import AccountsRepository
from billing.store.conversations import ConversationRepository
from billing.store.orders import OrdersRepository
from billing.subscriptions.service import Purchase
from billing.subscriptions.sweep import Failure, ReminderFacts, Source
from billing.telegram.client import BotApi
from billing.telegram.errors import TelegramError


class ChatNotices:
    def __init__(
        self,
        *,
        accounts: AccountsRepository,
        conversations: ConversationRepository,
        clock: Clock,
        orders: OrdersRepository,
        catalog: Catalog,
        telegram: Callable[[], BotApi],
        admin_ids: Collection[int],
    ) -> None:
        self._accounts = accounts
        self._conversations = conversations
        self._clock = clock
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
        self._send(chat, text, None if purchase else self._back_to_quote(order.payer_id, lang))
        if purchase is not None and purchase.invoice_number is not None:
            self.send_invoice(chat, purchase.invoice_number)
        if purchase is not None and order.purpose is Purpose.CONNECT and purchase.applied_now:
            self.connected_for_customer(purchase.subscription)

    def _back_to_quote(self, payer_id: int, lang: str) -> list[list[dict[str, Any]]] | None:
        """A top-up made from a quote (the Payer's detour to fund it) leads back to it."""
        state = self._conversations.get(payer_id, self._clock.now()) or {}
        draft = state.get("draft")
        if not isinstance(draft, dict) or draft.get("currency") is None:
            return None
        back = encode("cq", draft.get("nonce"))
        return [[{"text": t(lang, "btn_back_to_quote"), "callback_data": back}]]

    def refunded(self, record: RefundRecord) -> None:
        """A refund, chargeback or its reversal moved money on the Payer's wallet (SPEC §9)."""
        order, movement = record.order, record.movement
        if order is None or movement is None:
            return
        entry = movement.entry
        lang = self._language(order.payer_id)
        key = {
            EntryKind.REFUND: "refund_debited",
            EntryKind.CHARGEBACK: "chargeback_debited",
        }.get(entry.kind, "refund_reversed")
        if key == "refund_debited" and order.details.get("stars"):
            key = "refund_debited_stars"  # the Stars go back, not money to a card
        self._send(
            order.chat_id or order.payer_id,
            t(
                lang,
                key,
                amount=format_minor(abs(entry.amount), order.currency),
                order=order.id,
                balance=format_minor(entry.balance_after, order.currency),
                stars=order.details.get("stars", ""),
            ),
        )

    # --- what support or someone else did to the Payer's money or subscription (SPEC §9) --

    def connected_for_customer(self, sub: Subscription) -> None:
        """The Customer learns that someone connected a subscription for them."""
        if sub.customer_id == sub.payer_id:
            return
        lang = self._language(sub.customer_id)
        payer = person_label(self._accounts, sub.payer_id, sub.customer_id, lang)
        self._send(
            sub.customer_id, t(lang, "connected_for_you", **self._about(sub, lang), payer=payer)
        )

    def expiry_moved(self, sub: Subscription, old_expiry: datetime, by: int) -> None:
        """A Customer's change of options moved the expiry: the Payer pays for it, so is told."""
        if by == sub.payer_id or old_expiry == sub.expires_at:
            return
        lang = self._language(sub.payer_id)
        who = person_label(self._accounts, by, sub.payer_id, lang)
        text = t(
            lang,
            "expiry_moved_by_customer",
            **self._about(sub, lang),
            who=who,
            old=date_text(old_expiry, lang),
        )
        self._send(sub.payer_id, text)

    def adjusted(self, user_id: int, entry: LedgerEntry) -> None:
        lang = self._language(user_id)
        key = "adjusted_credit" if entry.amount > 0 else "adjusted_debit"
        text = t(
            lang,
            key,
            amount=format_minor(abs(entry.amount), entry.currency),
            reason=entry.reason,
            balance=format_minor(entry.balance_after, entry.currency),
        )
        self._send(user_id, text)

    def credit_limit_changed(self, user_id: int, currency: Currency, limit: int) -> None:
        lang = self._language(user_id)
        key = "credit_limit_set" if limit > 0 else "credit_limit_removed"
        self._send(user_id, t(lang, key, limit=format_minor(limit, currency)))

    def terminated(self, sub: Subscription, credit: int) -> None:
        lang = self._language(sub.payer_id)
        text = t(
            lang,
            "terminated_with_credit" if credit > 0 else "terminated",
            **self._about(sub, lang),
            credit=format_minor(credit, sub.currency),
        )
        self._send(sub.payer_id, text)
        self._tell_customer(sub, "terminated_customer")

    def payment_failed(self, order: Order, reason: str) -> None:
        lang = self._language(order.payer_id)
        key = "payment_failed_purchase" if order.purpose is not Purpose.TOP_UP else "payment_failed"
        # The provider's own words (English) are for logs; the Payer reads the catalog's.
        logger.info("payment failed", extra={"order": order.id, "reason": reason[:300]})
        self._send(order.chat_id or order.payer_id, t(lang, key, order=order.id))

    # --- the renewal sweep (SPEC §5.4): the Payer, and the Customer when it is someone else

    def reminder(self, sub: Subscription, facts: ReminderFacts) -> None:
        lang = self._language(sub.payer_id)
        values = self._about(sub, lang)
        total = format_minor(facts.total, sub.currency)
        keyboard = None
        attempt = renewal.next_attempt_at(sub)
        if attempt is not None and facts.source is Source.NOTHING:
            text = t(
                lang,
                "remind_auto_unfunded",
                **values,
                total=total,
                attempt=date_text(attempt, lang),
            )
            keyboard = [[{"text": t(lang, "btn_top_up"), "callback_data": encode("bt")}]]
        elif attempt is not None:
            text = t(
                lang,
                "remind_auto",
                **values,
                total=total,
                source=t(lang, f"source_{facts.source.value}"),
                attempt=date_text(attempt, lang),
            )
        else:
            # Off, or on but no attempt is left before expiry: only the Payer can save it.
            key = "remind_auto_failed" if sub.auto_renew else "remind_manual"
            text = t(lang, key, **values, total=total, period=plural(lang, "months_n", sub.months))
            renew = encode("sr", sub.id, period_token(sub))
            keyboard = [[{"text": t(lang, "btn_renew"), "callback_data": renew}]]
        self._send(sub.payer_id, text, keyboard)
        self._tell_customer(sub, "remind_customer")

    def renewed(self, sub: Subscription, purchase: Purchase, paid_by: PaymentMethod | None) -> None:
        lang = self._language(sub.payer_id)
        total = format_minor(purchase.quote.total, purchase.quote.currency)
        how = (
            t(lang, "paid_from_balance")
            if paid_by is None
            else t(lang, "paid_with_method", method=method_name(lang, paid_by.value))
        )
        text = t(lang, "renewed_auto", **self._about(sub, lang), total=total, paid_by=how)
        self._send(sub.payer_id, text)
        if purchase.invoice_number is not None:
            self.send_invoice(sub.payer_id, purchase.invoice_number)

    def renewal_failed(
        self,
        sub: Subscription,
        failure: Failure,
        total: int,
        pay_url: str | None,
        refusal: BillingError | None = None,
    ) -> None:
        lang = self._language(sub.payer_id)
        reason = error_text(lang, refusal) if refusal else t(lang, "renewal_not_applied")
        text = t(
            lang,
            f"renewal_failed_{failure.value}",
            **self._about(sub, lang),
            total=format_minor(total, sub.currency),
            reason=reason,
        )
        keyboard: list[list[dict[str, Any]]] = []
        if pay_url is not None:
            keyboard.append([{"text": t(lang, "btn_pay_page"), "url": pay_url}])
        keyboard.append(
            [
                {"text": t(lang, "btn_top_up"), "callback_data": encode("bt")},
                {
                    "text": t(lang, "btn_pay"),
                    "callback_data": encode("rp", sub.id, period_token(sub)),
                },
            ]
        )
        self._send(sub.payer_id, text, keyboard)

    def expired(self, sub: Subscription) -> None:
        lang = self._language(sub.payer_id)
        self._send(sub.payer_id, t(lang, "expired_payer", **self._about(sub, lang)))
        self._tell_customer(sub, "expired_customer")

    def _tell_customer(self, sub: Subscription, key: str) -> None:
        if sub.customer_id == sub.payer_id:
            return
        lang = self._language(sub.customer_id)
        payer = person_label(self._accounts, sub.payer_id, sub.customer_id, lang)
        self._send(sub.customer_id, t(lang, key, **self._about(sub, lang), payer=payer))

    def _about(self, sub: Subscription, lang: str) -> dict[str, str]:
        product = self._catalog.product(sub.product)
        return {
            "product": product.titles.get(lang) or product.titles["en"],
            "for_customer": for_label(
                self._accounts, sub.customer_id, sub.payer_id, lang, sub.customer_name
            ),
            "expiry": date_text(sub.expires_at, lang),
        }

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

    def _send(
        self, chat_id: int, text: str, keyboard: list[list[dict[str, Any]]] | None = None
    ) -> None:
        params: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if keyboard:
            params["reply_markup"] = {"inline_keyboard": keyboard}
        try:
            self._telegram().call("sendMessage", params)
        except TelegramError as error:
            logger.warning("notice not delivered", extra={"code": error.error_code})
