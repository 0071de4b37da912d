"""Paying by a method (SPEC §4, §7): top-ups, and the missing part of a purchase.

The payment being prepared lives in the conversation state under "pay" with a nonce, so a
button of an older payment screen is stale. Choosing a method opens an order (after every
check that can refuse it: currencies, limits, billing profile, country verification) and
starts it: a link to the provider's page, a Telegram invoice, or a payment-order PDF.
Telegram's pre-checkout and successful_payment are answered here too.
"""

from __future__ import annotations

import secrets
from typing import Any

from billing.bot import detours, drafts
from billing.bot.callbacks import encode
from billing.bot.calls import Call, Screen, button
from billing.bot.deps import BotDeps
from billing.bot.subscriptions import renew_screen, renewal_quote
from billing.bot.turn import Turn
from billing.bot.views import title
from billing.domain import profile as billing_profile
from billing.domain.money import Currency, format_minor, parse_amount
from billing.domain.profile import PaymentMethod
from billing.errors import (
    BillingError,
    CountryContradiction,
    CountryNotVerified,
    InvalidAmount,
    ProfileIncomplete,
)
from billing.i18n import plural
from billing.orders.checkout import PaymentDocument, PaymentLink, TelegramInvoice
from billing.orders.model import MAXIMUM, Purpose, amount_to_pay, maximum_for, minimum_for
from billing.orders.service import Outcome
from billing.providers.errors import ProviderError
from billing.telegram.models import PreCheckoutQuery, SuccessfulPayment

# Callback codes of the methods (callback data is short); "ss" and "ys" save the card.
SAVING = frozenset({"ss", "ys"})
METHOD_CODES: dict[str, tuple[PaymentMethod, bool]] = {
    "tg": (PaymentMethod.TELEGRAM_CARD, False),
    "sc": (PaymentMethod.STRIPE_CARD, False),
    "ss": (PaymentMethod.STRIPE_CARD, True),
    "yk": (PaymentMethod.PARTNER_CARD, False),
    "ys": (PaymentMethod.PARTNER_CARD, True),
    "pp": (PaymentMethod.PAYPAL, False),
    "cr": (PaymentMethod.CRYPTO, False),
    "st": (PaymentMethod.STARS, False),
    "bk": (PaymentMethod.BANK_TRANSFER, False),
}
TOP_UP_PRESETS = {  # in major units
    Currency.EUR: (10, 25, 50, 100),
    Currency.USD: (10, 25, 50, 100),
    Currency.RUB: (1000, 2500, 5000, 10000),
}


# --- preparing a payment ----------------------------------------------------------------------


def _prepare(turn: Turn, deps: BotDeps, pay: dict[str, Any]) -> None:
    """Remember the payment and show the methods that take its currency."""
    state = drafts.load(turn, deps)
    pay["nonce"] = secrets.token_hex(4)
    state["pay"] = pay
    state.pop("ask", None)
    drafts.save(turn, deps, state)
    turn.show(methods_screen(turn, deps, pay))


def methods_screen(
    turn: Turn, deps: BotDeps, pay: dict[str, Any], refusal: BillingError | None = None
) -> Screen:
    """The methods that take the payment's currency; after a refusal, its reason on top
    (and the way to fix it), so the Payer can fix it or pick another method."""
    currency = Currency(pay["currency"])
    amount = pay.get("amount") or amount_to_pay(pay["missing"], PaymentMethod.CRYPTO, currency)
    keyboard, above_maximum, above_stars = _method_buttons(turn, deps, pay, amount, currency)
    if above_maximum and pay["purpose"] != Purpose.TOP_UP.value:
        # SPEC §4: what works above a method's maximum, bank transfer or top-ups in parts.
        keyboard.append([button(turn.text("btn_top_up"), encode("bt"))])
    keyboard.append([button(turn.text("btn_cancel"), encode("px"))])
    if pay["purpose"] == Purpose.TOP_UP.value:
        text = turn.text("pay_choose_method_top_up", amount=format_minor(amount, currency))
    else:
        text = turn.text(
            "pay_choose_method", what=pay["title"], amount=format_minor(amount, currency)
        )
    if above_maximum:
        text += "\n\n" + turn.text(
            "pay_above_maximum", maximum=format_minor(MAXIMUM[currency], currency)
        )
    elif above_stars:
        text += "\n\n" + turn.text("pay_above_stars", stars=deps.checkout.stars_maximum)
    if refusal is not None:
        text = f"⚠ {turn.error(refusal)}\n\n{text}"
        # The way to fix it, coming back here after (billing.bot.detours).
        if isinstance(refusal, CountryNotVerified) and not isinstance(
            refusal, CountryContradiction
        ):
            # Sharing the same phone again cannot settle a contradiction: support decides.
            share = button(turn.text("btn_share_phone"), encode("sp", detours.PAYMENT))
            keyboard.insert(0, [share])
        elif isinstance(refusal, ProfileIncomplete):
            fix = encode("bd", ",".join(refusal.missing))
            keyboard.insert(0, [button(turn.text("btn_fix_billing"), fix)])
    return Screen(text, keyboard)


def _method_buttons(
    turn: Turn, deps: BotDeps, pay: dict[str, Any], amount: int, currency: Currency
) -> tuple[list[list[dict[str, Any]]], bool, bool]:
    """A button per method that can take this payment, and whether any was left out for
    its maximum per payment, or for the Stars one invoice may ask."""
    preferred = deps.profiles.profile(turn.user_id).payment_method
    keyboard = []
    above_maximum = above_stars = False
    for code, (method, _save) in METHOD_CODES.items():
        if not method.supports(currency):
            continue
        maximum = maximum_for(method, currency)
        if maximum is not None and amount > maximum:
            above_maximum = True  # offering it would only end in a refusal
            continue
        if method is PaymentMethod.STARS and not deps.checkout.stars_payable(amount, currency):
            above_stars = True
            continue
        label = _method_label(turn, deps, code, amount, currency)
        if method is preferred and code not in SAVING:
            label = "★ " + label
        keyboard.append([button(label, encode("pk", pay["nonce"], code))])
    return keyboard, above_maximum, above_stars


def _method_label(turn: Turn, deps: BotDeps, code: str, amount: int, currency: Currency) -> str:
    if METHOD_CODES[code][0] is PaymentMethod.STARS:
        # SPEC §7: the Stars are shown before paying, on the button itself.
        return turn.text("method_st", stars=deps.checkout.stars_for(amount, currency))
    return turn.text(f"method_{code}")


def current_total(turn: Turn, deps: BotDeps, pay: dict[str, Any]) -> int | None:
    """Today's price of the purchase a payment was prepared for (None for a top-up, or when
    it cannot be priced now)."""
    details = pay["details"]
    try:
        tax = billing_profile.tax_profile(deps.profiles.profile(turn.user_id))
        if pay["purpose"] == Purpose.CONNECT.value:
            return deps.subscriptions.quote_connect(
                product=details["product"],
                options=details["options"],
                months=details["months"],
                currency=Currency(pay["currency"]),
                tax=tax,
            ).total
        if pay["purpose"] == Purpose.RENEW.value:
            sub_id = str(details["subscription_id"])
            return deps.subscriptions.quote_renew(sub_id, by=turn.user_id, tax=tax).total
    except BillingError:
        return None
    return None


def price_changed(turn: Turn, deps: BotDeps, pay: dict[str, Any]) -> bool:
    """Whether the purchase no longer costs what the payment was prepared for (billing
    details changed on a detour: VAT); if so the new price is shown to confirm again, and
    no order is opened for the old one, which the purchase would refuse."""
    if pay["purpose"] == Purpose.TOP_UP.value or current_total(turn, deps, pay) == pay["total"]:
        return False
    state = drafts.load(turn, deps)
    state.pop("pay", None)
    drafts.save(turn, deps, state)
    notice = turn.text("pay_price_changed")
    draft = state.get("draft")
    if pay["purpose"] == Purpose.CONNECT.value and isinstance(draft, dict):
        drafts.show_quote(turn, deps, draft, notice)
        return True
    try:
        sub_id = str(pay["details"]["subscription_id"])
        tax = billing_profile.tax_profile(deps.profiles.profile(turn.user_id))
        sub = deps.subscriptions.get(sub_id, viewer=turn.user_id)
        quote = deps.subscriptions.quote_renew(sub_id, by=turn.user_id, tax=tax)
    except (BillingError, KeyError):
        turn.answer(turn.text("stale"), alert=True)
        return True
    turn.show(renew_screen(turn, deps, sub, quote, notice))
    return True


def on_pay_connect(turn: Turn, deps: BotDeps, nonce: str | None) -> None:
    """The quote's "pay by a method" button: the missing part of a connect."""
    draft = drafts.current_draft(turn, deps, nonce)
    if draft is None or draft["kind"] != drafts.CONNECT or draft["currency"] is None:
        return
    quote = drafts.connect_quote(turn, deps, draft)
    if quote is None:
        return
    currency = quote.currency
    missing = deps.ledger.wallet(turn.user_id, currency).missing_for(quote.total)
    if missing == 0:
        turn.answer(turn.text("pay_covered_now"), alert=True)
        return
    product = deps.catalog.product(draft["product"])
    label = f"{title(product, turn.lang)}, {plural(turn.lang, 'months_n', draft['months'])}"
    _prepare(
        turn,
        deps,
        {
            "purpose": Purpose.CONNECT.value,
            "currency": currency.value,
            "missing": missing,
            "total": quote.total,
            "title": label,
            "details": {
                "request_id": f"{turn.user_id}:{draft['nonce']}",
                "customer_id": draft["customer"],
                "customer_name": drafts.picked_name(turn, deps, draft["customer"]),
                "product": draft["product"],
                "options": draft["options"],
                "months": draft["months"],
            },
        },
    )


def on_pay_renew(turn: Turn, deps: BotDeps, sub_id: str | None, token: str | None) -> None:
    found = renewal_quote(turn, deps, sub_id, token)
    if found is None:
        return
    sub, quote = found
    missing = deps.ledger.wallet(turn.user_id, quote.currency).missing_for(quote.total)
    if missing == 0:
        turn.answer(turn.text("pay_covered_now"), alert=True)
        return
    product = deps.catalog.product(sub.product)
    _prepare(
        turn,
        deps,
        {
            "purpose": Purpose.RENEW.value,
            "currency": quote.currency.value,
            "missing": missing,
            "total": quote.total,
            "title": f"{title(product, turn.lang)}, {plural(turn.lang, 'months_n', sub.months)}",
            "details": {"subscription_id": sub.id, "period_key": sub.period_key()},
        },
    )


def on_top_up(turn: Turn, deps: BotDeps) -> None:
    keyboard = [[button(c.value, encode("tc", c.value)) for c in Currency]]
    turn.show(Screen(turn.text("top_up_currency"), keyboard))


def on_top_up_currency(turn: Turn, deps: BotDeps, code: str | None) -> None:
    try:
        currency = Currency.parse(code or "")
    except BillingError:
        turn.answer(turn.text("stale_top_up"), alert=True)
        return
    presets = TOP_UP_PRESETS[currency]
    row = [
        button(format_minor(major * 100, currency), encode("ta", currency.value, major * 100))
        for major in presets
    ]
    keyboard = [row[:2], row[2:], [button(turn.text("btn_other_amount"), encode("tx", code))]]
    keyboard.append([button(turn.text("btn_back"), encode("bt"))])
    turn.show(Screen(turn.text("top_up_amount", currency=currency.value), keyboard))


def on_top_up_amount(turn: Turn, deps: BotDeps, code: str | None, amount: str | None) -> None:
    try:
        currency = Currency.parse(code or "")
    except BillingError:
        turn.answer(turn.text("stale_top_up"), alert=True)
        return
    if (
        amount is None
        or not amount.isdigit()
        or int(amount) not in {major * 100 for major in TOP_UP_PRESETS[currency]}
    ):
        turn.answer(turn.text("stale_top_up"), alert=True)
        return
    _prepare_top_up(turn, deps, currency, int(amount))


def _prepare_top_up(turn: Turn, deps: BotDeps, currency: Currency, amount: int) -> None:
    _prepare(
        turn,
        deps,
        {
            "purpose": Purpose.TOP_UP.value,
            "currency": currency.value,
            "amount": amount,
            "title": turn.text("top_up_title", amount=format_minor(amount, currency)),
            "details": {},
        },
    )


def _limits(currency: Currency) -> tuple[str, str]:
    return (
        format_minor(minimum_for(PaymentMethod.CRYPTO, currency), currency),
        format_minor(MAXIMUM[currency], currency),
    )


def on_ask_amount(turn: Turn, deps: BotDeps, code: str | None) -> None:
    try:
        currency = Currency.parse(code or "")
    except BillingError:
        turn.answer(turn.text("stale_top_up"), alert=True)
        return
    state = drafts.load(turn, deps)
    state["ask"] = {"amount": currency.value}
    drafts.save(turn, deps, state)
    low, high = _limits(currency)
    keyboard = [[button(turn.text("btn_cancel"), encode("px"))]]
    turn.show(
        Screen(turn.text("ask_amount", currency=currency.value, low=low, high=high), keyboard)
    )


def on_amount_text(turn: Turn, deps: BotDeps, currency_code: str, text: str) -> None:
    currency = Currency(currency_code)
    low, high = _limits(currency)
    try:
        amount = parse_amount(text, currency)
    except InvalidAmount:
        amount = 0
    if not (minimum_for(PaymentMethod.CRYPTO, currency) <= amount <= MAXIMUM[currency]):
        turn.send(Screen(turn.text("bad_amount", low=low, high=high)))
        return
    turn.message_id = None  # a typed answer: the method list is a new message
    _prepare_top_up(turn, deps, currency, amount)


def on_cancel(turn: Turn, deps: BotDeps) -> None:
    state = drafts.load(turn, deps)
    state.pop("pay", None)
    state.pop("ask", None)
    state.pop(detours.RESUME, None)
    drafts.save(turn, deps, state)
    turn.show(Screen(turn.text("cancelled")))


# --- choosing the method: the order ------------------------------------------------------------


def on_method(turn: Turn, deps: BotDeps, nonce: str | None, code: str | None) -> None:
    pay = drafts.load(turn, deps).get("pay")
    current = isinstance(pay, dict) and nonce is not None and pay.get("nonce") == nonce
    if not current or code not in METHOD_CODES:
        turn.answer(turn.text("stale"), alert=True)
        return
    assert isinstance(pay, dict)
    if price_changed(turn, deps, pay):
        return
    method, save_card = METHOD_CODES[code]
    currency = Currency(pay["currency"])
    purpose = Purpose(pay["purpose"])
    if purpose is Purpose.TOP_UP:
        amount = int(pay["amount"])
    else:
        missing = deps.ledger.wallet(turn.user_id, currency).missing_for(int(pay["total"]))
        if missing == 0:
            turn.answer(turn.text("pay_covered_now"), alert=True)
            return
        amount = amount_to_pay(missing, method, currency)
    try:
        order = deps.payments.open(
            payer_id=turn.user_id,
            purpose=purpose,
            amount=amount,
            currency=currency,
            method=method,
            chat_id=turn.chat_id,
            details={**pay["details"], "total": pay.get("total", amount)},
        )
        started = deps.checkout.start(order, title=pay["title"], save_card=save_card)
    except (CountryNotVerified, ProfileIncomplete) as refused:
        turn.show(methods_screen(turn, deps, pay, refused))
        return
    except BillingError as refused:
        turn.answer(turn.error(refused), alert=True)
        return
    except ProviderError:
        turn.answer(turn.text("pay_provider_down"), alert=True)
        return
    shown = format_minor(order.amount, order.currency)
    if isinstance(started, PaymentLink):
        link = {"text": turn.text("btn_open_payment", amount=shown), "url": started.url}
        turn.show(Screen(turn.text("pay_link", order=order.id, amount=shown), [[link]]))
    elif isinstance(started, TelegramInvoice) and order.method is PaymentMethod.STARS:
        stars = started.params["prices"][0]["amount"]
        turn.show(
            Screen(turn.text("pay_stars_invoice_sent", order=order.id, amount=shown, stars=stars))
        )
        turn.calls.append(Call("sendInvoice", {"chat_id": turn.chat_id, **started.params}))
    elif isinstance(started, TelegramInvoice):
        turn.show(Screen(turn.text("pay_invoice_sent", order=order.id, amount=shown)))
        turn.calls.append(Call("sendInvoice", {"chat_id": turn.chat_id, **started.params}))
    elif isinstance(started, PaymentDocument):
        turn.show(Screen(turn.text("pay_bank_sent", order=order.id, amount=shown)))
        turn.calls.append(
            Call(
                "sendDocument",
                {"chat_id": turn.chat_id, "caption": order.id},
                files={"document": (started.filename, started.content, "application/pdf")},
            )
        )


# --- Telegram card payments ---------------------------------------------------------------------


def pre_checkout(deps: BotDeps, query: PreCheckoutQuery, lang: str) -> Call:
    """`ok` only while the order waits for exactly this amount (SPEC §7); answered at once,
    in the webhook reply, well within Telegram's 10 seconds."""
    order = deps.payments.is_payable(
        query.invoice_payload, amount=query.total_amount, currency=query.currency
    )
    if order is not None and order.payer_id == query.from_.id:
        return Call("answerPreCheckoutQuery", {"pre_checkout_query_id": query.id, "ok": True})
    from billing.bot.texts import t

    return Call(
        "answerPreCheckoutQuery",
        {
            "pre_checkout_query_id": query.id,
            "ok": False,
            "error_message": t(lang, "pre_checkout_refused"),
        },
    )


def successful_payment(turn: Turn, deps: BotDeps, payment: SuccessfulPayment) -> None:
    """Telegram took the money: apply the order once (keyed on the order, the charge id
    kept as its provider reference) and tell the Payer. Stars pay the order's amount in
    its own currency when they are exactly the Stars its invoice asked."""
    if payment.currency == "XTR":
        settlement = deps.payments.settle_stars(
            payment.invoice_payload,
            stars=payment.total_amount,
            charge_id=payment.telegram_payment_charge_id,
        )
    else:
        settlement = deps.payments.settle(
            payment.invoice_payload,
            amount=payment.total_amount,
            currency=payment.currency,
            provider="telegram",
            provider_ref=payment.telegram_payment_charge_id,
        )
    if settlement.outcome in (Outcome.APPLIED, Outcome.TOPPED_UP):
        deps.notices.settled(settlement)
    elif settlement.outcome in (Outcome.MISMATCH, Outcome.UNKNOWN):
        deps.notices.alert(
            f"telegram: {settlement.reason} (order {payment.invoice_payload},"
            f" charge {payment.telegram_payment_charge_id})"
        )
