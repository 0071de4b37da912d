"""/subscriptions: the list, one subscription, a product, renewal and auto-renewal."""

from __future__ import annotations

from collections.abc import Callable

from billing.bot.balance import invoice_call
from billing.bot.callbacks import encode
from billing.bot.calls import Screen, button
from billing.bot.deps import BotDeps
from billing.bot.texts import date_text, pay_from_balance_text
from billing.bot.turn import Turn
from billing.bot.views import for_person, history_line, options_text, person, quote_text, title
from billing.domain import profile as billing_profile
from billing.domain import subscription as rules
from billing.domain.catalog import LimitValue
from billing.domain.entitlements import entitlements_of
from billing.domain.money import format_minor
from billing.domain.periods import add_months
from billing.domain.pricing import Quote
from billing.domain.subscription import Status, Subscription
from billing.errors import BillingError, InsufficientFunds, NotAllowed, NotFound
from billing.i18n import plural
from billing.subscriptions.service import QuoteChanged, RenewalInProgress, SlotTaken

HISTORY_SHOWN = 5


def period_token(sub: Subscription) -> str:
    """Names the period a Renew button buys, so a stale button cannot buy the next one."""
    return sub.expires_at.strftime("%Y%m%dT%H%M%SZ")


def entitlements_text(turn: Turn, deps: BotDeps, subs: list[Subscription]) -> list[str]:
    """What the user may use now, in the telephony side's terms: the same function and
    catalog limits the read API and the change events answer with (billing.telephony)."""
    found = entitlements_of(deps.catalog, turn.user_id, subs)
    lines = [turn.text("ent_title")]
    for key, entitlement in found.products.items():
        product = deps.catalog.product(key)
        plan = (
            turn.text("ent_free")
            if entitlement.valid_until is None
            else turn.text("ent_until", expiry=date_text(entitlement.valid_until, turn.lang))
        )
        lines += ["", turn.text("ent_product", product=title(product, turn.lang), plan=plan)]
        limits = []
        for name, value in entitlement.limits.items():
            titles = product.limits[name].titles
            limit = titles.get(turn.lang) or titles["en"]
            limits.append(turn.text("ent_limit", limit=limit, value=_limit_value(turn, value)))
        lines.append(" · ".join(limits))
    return lines


def _limit_value(turn: Turn, value: LimitValue) -> str:
    if value is None:
        return turn.text("ent_no_limit")
    if isinstance(value, bool):
        return turn.text("ent_yes" if value else "ent_no")
    return str(value)


def list_screen(turn: Turn, deps: BotDeps) -> Screen:
    subs = [s for s in deps.subscriptions.visible_to(turn.user_id) if s.is_active]
    lines = [turn.text("subs_title"), ""]
    keyboard = []
    held = {s.product for s in subs if s.customer_id == turn.user_id}
    for sub in subs:
        product = deps.catalog.product(sub.product)
        label = turn.text(
            "subs_item",
            product=title(product, turn.lang),
            for_customer=for_person(
                deps, sub.customer_id, turn.user_id, turn.lang, sub.customer_name
            ),
            expiry=date_text(sub.expires_at, turn.lang),
        )
        lines.append(label)
        keyboard.append([button(label[:60], encode("sv", sub.id))])
    if subs:
        lines.append("")
    lines += entitlements_text(turn, deps, subs)
    available = [p for p in deps.catalog.sellable() if p.key not in held]
    if available:
        lines += ["", turn.text("subs_available")]
        for product in available:
            lines.append(f"• {title(product, turn.lang)}")
            keyboard.append([button(title(product, turn.lang), encode("pd", product.key))])
    keyboard.append([button(turn.text("btn_connect_other"), encode("pu"))])
    return Screen("\n".join(lines), keyboard)


def product_screen(turn: Turn, deps: BotDeps, product_key: str) -> Screen:
    product = deps.catalog.product(product_key)
    text = turn.text(
        "product_view",
        product=title(product, turn.lang),
        description=product.descriptions.get(turn.lang) or product.descriptions["en"],
    )
    return Screen(
        text,
        [
            [button(turn.text("btn_connect"), encode("cn", product.key))],
            [button(turn.text("btn_back"), encode("sl"))],
        ],
    )


def view_screen(turn: Turn, deps: BotDeps, sub: Subscription) -> Screen:
    product = deps.catalog.product(sub.product)
    text = turn.text(
        "sub_view",
        product=title(product, turn.lang),
        customer=person(deps, sub.customer_id, turn.user_id, turn.lang, sub.customer_name),
        payer=person(deps, sub.payer_id, turn.user_id, turn.lang),
        options=options_text(product, sub.options, turn.lang),
        period=plural(turn.lang, "months_n", sub.months),
        currency=sub.currency.value,
        status=turn.text(f"status_{sub.status.value}"),
        expiry=date_text(sub.expires_at, turn.lang),
        auto=turn.text("on" if sub.auto_renew else "off"),
    )
    history = [history_line(deps, sub, r, turn.lang) for r in sub.history[-HISTORY_SHOWN:]]
    text += "\n\n" + turn.text("history_title") + "\n" + "\n".join(history)
    keyboard = []
    if sub.is_active and rules.can_change_options(sub, turn.user_id):
        keyboard.append([button(turn.text("btn_change"), encode("sc", sub.id))])
    if sub.status is not Status.TERMINATED and rules.can_renew(sub, turn.user_id):
        keyboard.append([button(turn.text("btn_renew"), encode("sr", sub.id, period_token(sub)))])
    if sub.is_active and rules.can_toggle_auto_renew(sub, turn.user_id):
        label = turn.text("btn_auto_on" if sub.auto_renew else "btn_auto_off")
        keyboard.append([button(label, encode("sa", sub.id, 0 if sub.auto_renew else 1))])
    if sub.is_active and sub.payer_id == turn.user_id != sub.customer_id:
        label = turn.text(
            "btn_customer_may_change_on"
            if sub.customer_may_change
            else "btn_customer_may_change_off"
        )
        keyboard.append([button(label, encode("sm", sub.id, 0 if sub.customer_may_change else 1))])
    keyboard.append([button(turn.text("btn_back"), encode("sl"))])
    return Screen(text, keyboard)


def visible(turn: Turn, deps: BotDeps, sub_id: str | None) -> Subscription | None:
    """The subscription if this user may see it; otherwise a polite answer and None."""
    try:
        return deps.subscriptions.get(sub_id or "", viewer=turn.user_id)
    except NotFound:
        turn.answer(turn.text("not_yours"), alert=True)
        return None


def on_view(turn: Turn, deps: BotDeps, sub_id: str | None) -> None:
    sub = visible(turn, deps, sub_id)
    if sub is not None:
        turn.show(view_screen(turn, deps, sub))


def on_auto_renew(turn: Turn, deps: BotDeps, sub_id: str | None, on: str | None) -> None:
    _switch(
        turn,
        deps,
        sub_id,
        on,
        lambda sub, value: deps.subscriptions.set_auto_renew(sub.id, by=turn.user_id, on=value),
    )


def on_customer_may_change(
    turn: Turn, deps: BotDeps, sub_id: str | None, allow: str | None
) -> None:
    _switch(
        turn,
        deps,
        sub_id,
        allow,
        lambda sub, value: deps.subscriptions.set_customer_may_change(
            sub.id, by=turn.user_id, allowed=value
        ),
    )


def _switch(
    turn: Turn,
    deps: BotDeps,
    sub_id: str | None,
    flag: str | None,
    apply: Callable[[Subscription, bool], Subscription],
) -> None:
    """An on/off button ("1"/"0") of a subscription, re-checked by the use case."""
    sub = visible(turn, deps, sub_id)
    if sub is None:
        return
    if flag not in ("0", "1"):
        turn.answer(turn.text("stale"), alert=True)
        return
    try:
        updated = apply(sub, flag == "1")
    except NotAllowed:
        turn.answer(turn.text("payer_only"), alert=True)
        return
    except BillingError as error:
        turn.answer(turn.error(error), alert=True)
        return
    turn.show(view_screen(turn, deps, updated))


def _current_period(turn: Turn, sub: Subscription, token: str | None) -> bool:
    if token != period_token(sub):
        turn.answer(turn.text("stale"), alert=True)
        return False
    if not rules.can_renew(sub, turn.user_id):
        turn.answer(turn.text("payer_only"), alert=True)
        return False
    return True


def renewal_quote(
    turn: Turn, deps: BotDeps, sub_id: str | None, token: str | None
) -> tuple[Subscription, Quote] | None:
    """The subscription and today's price of its next period, if the presser is its Payer
    and the button names the current period; otherwise answered and None."""
    sub = visible(turn, deps, sub_id)
    if sub is None or not _current_period(turn, sub, token):
        return None
    try:
        tax = billing_profile.tax_profile(deps.profiles.profile(turn.user_id))
        return sub, deps.subscriptions.quote_renew(sub.id, by=turn.user_id, tax=tax)
    except SlotTaken:
        product = title(deps.catalog.product(sub.product), turn.lang)
        turn.answer(turn.text("renew_slot_taken", product=product), alert=True)
        return None
    except BillingError as error:
        turn.answer(turn.error(error), alert=True)
        return None


def on_renew_quote(turn: Turn, deps: BotDeps, sub_id: str | None, token: str | None) -> None:
    found = renewal_quote(turn, deps, sub_id, token)
    if found is not None:
        sub, quote = found
        turn.show(renew_screen(turn, deps, sub, quote))


def renew_screen(
    turn: Turn, deps: BotDeps, sub: Subscription, quote: Quote, notice: str | None = None
) -> Screen:
    """The quote of the next period and the buttons to pay it; the confirm button carries
    the total shown, so a press takes exactly that amount or nothing (SPEC §3)."""
    token = period_token(sub)
    now = deps.clock.now()
    if now >= sub.expires_at:  # SPEC §5.4: after expiry the new period starts now
        intro = turn.text(
            "renew_quote_intro_expired",
            expiry=date_text(sub.expires_at, turn.lang),
            start=date_text(now, turn.lang),
            new=date_text(add_months(now, sub.months), turn.lang),
        )
    else:
        intro = turn.text(
            "renew_quote_intro",
            expiry=date_text(sub.expires_at, turn.lang),
            new=date_text(add_months(sub.expires_at, sub.months), turn.lang),
        )
    customer = for_person(deps, sub.customer_id, turn.user_id, turn.lang, sub.customer_name)
    text = intro + "\n\n" + quote_text(deps, quote, customer, turn.lang)
    if notice is not None:
        text = f"⚠ {notice}\n\n{text}"
    wallet = deps.ledger.wallet(turn.user_id, quote.currency)
    keyboard = []
    balance = format_minor(wallet.balance, quote.currency)
    if wallet.can_pay(quote.total):
        text += "\n\n" + pay_from_balance_text(
            turn.lang,
            quote.currency,
            balance=wallet.balance,
            credit_limit=wallet.credit_limit,
            total=quote.total,
        )
        pay = turn.text("btn_pay_balance", amount=format_minor(quote.total, quote.currency))
        # The router hands a handler the id and one argument: the total rides with the period.
        keyboard.append([button(pay, encode("sR", sub.id, f"{token}.{quote.total}"))])
    else:
        missing = format_minor(wallet.missing_for(quote.total), quote.currency)
        text += "\n\n" + turn.text(
            "quote_balance_short", currency=quote.currency.value, balance=balance, missing=missing
        )
        pay_other = turn.text("btn_pay_other", missing=missing)
        keyboard.append([button(pay_other, encode("rp", sub.id, token))])
        keyboard.append([button(turn.text("btn_top_up"), encode("bt"))])
    keyboard.append([button(turn.text("btn_back"), encode("sv", sub.id))])
    return Screen(text, keyboard)


def on_renew_confirm(turn: Turn, deps: BotDeps, sub_id: str | None, confirmed: str | None) -> None:
    """Pay the renewal the Payer confirmed: the period and the total its button names."""
    sub = visible(turn, deps, sub_id)
    if sub is None:
        return
    if not rules.can_renew(sub, turn.user_id):
        turn.answer(turn.text("payer_only"), alert=True)
        return
    token, _, total = (confirmed or "").partition(".")
    if not total.isdigit():
        turn.answer(turn.text("stale"), alert=True)
        return
    try:
        tax = billing_profile.tax_profile(deps.profiles.profile(turn.user_id))
        purchase = deps.subscriptions.renew(
            sub.id,
            by=turn.user_id,
            tax=tax,
            period_key=f"{sub.id}@{token}",
            expected_total=int(total),
        )
    except BillingError as refused:
        _renew_refused(turn, deps, sub, refused)
        return
    renewed = purchase.subscription
    product = deps.catalog.product(renewed.product)
    if not purchase.applied_now:
        # An old confirmation pressed again: this period was paid before, nothing now.
        text = turn.text(
            "renewed_already",
            product=title(product, turn.lang),
            expiry=date_text(renewed.expires_at, turn.lang),
        )
        turn.show(Screen(text, [[button(turn.text("btn_back"), encode("sv", renewed.id))]]))
        return
    text = turn.text(
        "renewed",
        product=title(product, turn.lang),
        expiry=date_text(renewed.expires_at, turn.lang),
        total=format_minor(purchase.quote.total, purchase.quote.currency),
    )
    turn.show(Screen(text, [[button(turn.text("btn_back"), encode("sv", renewed.id))]]))
    invoice = invoice_call(deps, turn.chat_id, purchase.invoice_number)
    if invoice is not None:
        turn.calls.append(invoice)


def _renew_refused(turn: Turn, deps: BotDeps, sub: Subscription, refused: BillingError) -> None:
    """Nothing was charged: the new price for a new confirmation, or why not."""
    product = title(deps.catalog.product(sub.product), turn.lang)
    if isinstance(refused, QuoteChanged):
        notice = turn.text("renew_quote_changed")
        turn.show(renew_screen(turn, deps, sub, refused.quote, notice))
    elif isinstance(refused, RenewalInProgress):
        turn.answer(turn.text("renew_in_progress"), alert=True)
    elif isinstance(refused, SlotTaken):
        turn.answer(turn.text("renew_slot_taken", product=product), alert=True)
    elif isinstance(refused, InsufficientFunds):
        turn.answer(turn.error(refused), alert=True)
    elif isinstance(refused, NotAllowed):
        turn.answer(turn.text("payer_only"), alert=True)
    else:
        turn.answer(turn.text("stale"), alert=True)
