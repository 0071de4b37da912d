"""Connect and change: a draft of options, period and currency, kept in the conversation
until the Payer confirms the quote.

Each draft has a nonce carried by its buttons; a button from an older draft (or another
user's) finds a different nonce and changes nothing.

A connect for another user is only for a user picked in this conversation (shared with the
request-users keyboard or by a forwarded message): the picks are kept in the conversation
state, and a button naming anyone else answers "out of date" and reveals nothing of them
(SPEC §10), not even whether they hold a subscription.
"""

from __future__ import annotations

import secrets
from typing import Any

from billing.bot import detours
from billing.bot.balance import invoice_call
from billing.bot.callbacks import encode
from billing.bot.calls import Screen, button
from billing.bot.deps import BotDeps
from billing.bot.subscriptions import list_screen
from billing.bot.texts import date_text, pay_from_balance_text
from billing.bot.turn import Turn
from billing.bot.views import for_person, option_title, quote_text, title, value_text
from billing.domain import profile as billing_profile
from billing.domain import subscription as rules
from billing.domain.catalog import OptionSpec, OptionValue, Product, show_value
from billing.domain.money import Currency, format_minor
from billing.domain.pricing import Quote
from billing.errors import BillingError, NotAllowed
from billing.i18n import plural
from billing.subscriptions.service import QuoteChanged

CONNECT, CHANGE = "connect", "change"
PICKED = "picked"  # the users picked in this conversation, newest last
NAMES = "names"  # the first names Telegram gave with the picks, by user id
MAX_PICKS = 5


# --- the draft in the conversation state ----------------------------------------------


def load(turn: Turn, deps: BotDeps) -> dict[str, Any]:
    return deps.conversations.get(turn.user_id, deps.clock.now()) or {}


def save(turn: Turn, deps: BotDeps, state: dict[str, Any]) -> None:
    """Replace the draft state; the users picked in this conversation stay picked."""
    earlier = load(turn, deps)
    kept = dict(state)
    if picks(earlier):
        kept[PICKED] = picks(earlier)
        kept[NAMES] = picked_names(earlier)
    deps.conversations.put(turn.user_id, kept, deps.clock.now())


def picks(state: dict[str, Any]) -> list[int]:
    value = state.get(PICKED)
    if not isinstance(value, list):
        return []
    return [user_id for user_id in value if isinstance(user_id, int)]


def picked_names(state: dict[str, Any]) -> dict[str, str]:
    value = state.get(NAMES)
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def picked_name(turn: Turn, deps: BotDeps, user_id: int) -> str | None:
    """The name Telegram gave with the pick of `user_id` in this conversation, if any."""
    return picked_names(load(turn, deps)).get(str(user_id))


def remember_pick(turn: Turn, deps: BotDeps, user_id: int, name: str | None) -> None:
    """The user shared or forwarded from `user_id`: they may be connected for now, and are
    called by the name Telegram gave. Picking starts a new step, so an open question or
    draft is left behind."""
    state = load(turn, deps)
    earlier = [p for p in picks(state) if p != user_id][-(MAX_PICKS - 1) :]
    kept = [*earlier, user_id]
    names = {k: v for k, v in picked_names(state).items() if int(k) in kept}
    if name:
        names[str(user_id)] = name[:64]
    deps.conversations.put(turn.user_id, {PICKED: kept, NAMES: names}, deps.clock.now())


def current_draft(turn: Turn, deps: BotDeps, nonce: str | None) -> dict[str, Any] | None:
    draft = load(turn, deps).get("draft")
    if not isinstance(draft, dict) or nonce is None or draft.get("nonce") != nonce:
        turn.answer(turn.text("stale"), alert=True)
        return None
    return draft


def applicable(product: Product, options: dict[str, OptionValue]) -> dict[str, OptionValue]:
    """Drops options whose condition no longer holds (recording_duration once recording is
    off), so the draft always normalizes."""
    kept = dict(options)
    for spec in product.options:
        if spec.requires is not None:
            other, value = spec.requires
            if kept.get(other) != value:
                kept.pop(spec.key, None)
    return kept


def visible_options(product: Product, options: dict[str, OptionValue]) -> list[OptionSpec]:
    return [
        spec
        for spec in product.options
        if spec.requires is None or options.get(spec.requires[0]) == spec.requires[1]
    ]


# --- starting -----------------------------------------------------------------------------


def start_connect(turn: Turn, deps: BotDeps, product_key: str | None, customer: int) -> None:
    products = {p.key for p in deps.catalog.sellable()}
    picked = customer == turn.user_id or customer in picks(load(turn, deps))
    if product_key not in products or not picked:
        # Nothing about a user not picked here is read, let alone shown.
        turn.answer(turn.text("stale"), alert=True)
        return
    product = deps.catalog.product(product_key)
    held = deps.subscriptions.visible_to(customer)
    if any(s.is_active and s.product == product.key and s.customer_id == customer for s in held):
        who = for_person(deps, customer, turn.user_id, turn.lang)
        text = turn.text("already_active", for_customer=who, product=title(product, turn.lang))
        if turn.callback_id:
            turn.answer(text, alert=True)
        else:
            turn.send(Screen(text))
        return
    options = deps.catalog.normalize_options(product.key, {})
    draft = {
        "kind": CONNECT,
        "nonce": secrets.token_hex(4),
        "product": product.key,
        "options": options,
        "months": min(deps.catalog.periods),
        "currency": None,
        "customer": customer,
    }
    save(turn, deps, {"draft": draft})
    turn.show(draft_screen(turn, deps, draft))


def start_change(turn: Turn, deps: BotDeps, sub_id: str | None) -> None:
    try:
        sub = deps.subscriptions.get(sub_id or "", viewer=turn.user_id)
    except BillingError:
        turn.answer(turn.text("not_yours"), alert=True)
        return
    if not rules.can_change_options(sub, turn.user_id):
        turn.answer(turn.text("payer_only"), alert=True)
        return
    draft = {
        "kind": CHANGE,
        "nonce": secrets.token_hex(4),
        "product": sub.product,
        "options": dict(sub.options),
        "subscription": sub.id,
        "version": sub.version,
        "customer": sub.customer_id,
    }
    save(turn, deps, {"draft": draft})
    turn.show(draft_screen(turn, deps, draft))


# --- the draft screen -----------------------------------------------------------------------


def draft_screen(turn: Turn, deps: BotDeps, draft: dict[str, Any]) -> Screen:
    product = deps.catalog.product(draft["product"])
    nonce = draft["nonce"]
    options: dict[str, OptionValue] = draft["options"]
    keyboard = [
        [
            button(
                f"{option_title(product, spec.key, turn.lang)}: "
                f"{value_text(options[spec.key], turn.lang)}",
                encode("co", nonce, spec.key),
            )
        ]
        for spec in visible_options(product, options)
        if spec.key in options
    ]
    if draft["kind"] == CONNECT:
        text = turn.text(
            "draft_connect",
            product=title(product, turn.lang),
            for_customer=for_person(deps, draft["customer"], turn.user_id, turn.lang),
            currency_hint=turn.text("currency_hint"),
        )
        keyboard.append(
            [
                button(
                    ("✓ " if draft["months"] == months else "")
                    + plural(turn.lang, "months_n", months),
                    encode("cm", nonce, months),
                )
                for months in sorted(deps.catalog.periods)
            ]
        )
        keyboard.append(
            [
                button(
                    ("✓ " if draft["currency"] == c.value else "") + c.value,
                    encode("cc", nonce, c.value),
                )
                for c in Currency
            ]
        )
    else:
        text = turn.text("draft_change", product=title(product, turn.lang))
    keyboard.append([button(turn.text("btn_quote"), encode("cq", nonce))])
    keyboard.append([button(turn.text("btn_cancel"), encode("cx", nonce))])
    return Screen(text, keyboard)


# --- editing the draft --------------------------------------------------------------------


def on_option(turn: Turn, deps: BotDeps, nonce: str | None, key: str | None) -> None:
    draft = current_draft(turn, deps, nonce)
    if draft is None:
        return
    product = deps.catalog.product(draft["product"])
    spec = next((s for s in visible_options(product, draft["options"]) if s.key == key), None)
    if spec is None:
        turn.answer(turn.text("stale"), alert=True)
        return
    name = option_title(product, spec.key, turn.lang)
    if spec.kind == "int":
        save(turn, deps, {"draft": draft, "ask": {"option": spec.key}})
        turn.show(
            Screen(
                turn.text("ask_option_int", option=name, min=spec.min, max=spec.max),
                [[button(turn.text("btn_cancel"), encode("ca", nonce))]],
            )
        )
        return
    values: list[OptionValue] = [True, False] if spec.kind == "bool" else list(spec.choices)
    keyboard = [
        [
            button(value_text(value, turn.lang), encode("cv", nonce, spec.key, show_value(value)))
            for value in values
        ],
        [button(turn.text("btn_cancel"), encode("ca", nonce))],
    ]
    allowed = ", ".join(value_text(v, turn.lang) for v in values)
    turn.show(Screen(turn.text("ask_option_choice", option=name, allowed=allowed), keyboard))


def set_option(turn: Turn, deps: BotDeps, draft: dict[str, Any], key: str, raw: object) -> bool:
    """Validates through the catalog; on a bad value tells why and keeps the draft."""
    product = deps.catalog.product(draft["product"])
    if key not in {spec.key for spec in visible_options(product, draft["options"])}:
        turn.answer(turn.text("stale"), alert=True)  # a forged or outdated option button
        return False
    try:
        value = product.option(key).parse(raw)
        candidate = applicable(product, {**draft["options"], key: value})
        # A newly applicable option (recording_duration after recording on) takes its default.
        draft["options"] = deps.catalog.normalize_options(product.key, candidate)
    except BillingError:
        # Said with the option's own title and limits, not the catalog's internal names.
        spec = product.option(key)
        name = option_title(product, key, turn.lang)
        if spec.kind == "int":
            text = turn.text("bad_option_int", option=name, min=spec.min, max=spec.max)
        else:
            text = turn.text("bad_option_choice", option=name)
        if turn.callback_id:
            turn.answer(text, alert=True)
        else:
            turn.send(
                Screen(text, [[button(turn.text("btn_cancel"), encode("ca", draft["nonce"]))]])
            )
        return False
    return True


def on_option_value(
    turn: Turn, deps: BotDeps, nonce: str | None, key: str | None, raw: str | None
) -> None:
    draft = current_draft(turn, deps, nonce)
    if draft is None or key is None or raw is None:
        return
    if set_option(turn, deps, draft, key, raw):
        save(turn, deps, {"draft": draft})
        turn.show(draft_screen(turn, deps, draft))


def on_option_text(turn: Turn, deps: BotDeps, state: dict[str, Any], text: str) -> None:
    """The answer to "send the new value": checked, and asked again when it doesn't fit."""
    draft, key = state["draft"], state["ask"]["option"]
    if not set_option(turn, deps, draft, key, text.strip()):
        return
    save(turn, deps, {"draft": draft})
    turn.send(draft_screen(turn, deps, draft))


def on_back_to_draft(turn: Turn, deps: BotDeps, nonce: str | None) -> None:
    draft = current_draft(turn, deps, nonce)
    if draft is not None:
        save(turn, deps, {"draft": draft})
        turn.show(draft_screen(turn, deps, draft))


def on_months(turn: Turn, deps: BotDeps, nonce: str | None, months: str | None) -> None:
    valid = {str(m): m for m in deps.catalog.periods}
    _set_choice(turn, deps, nonce, "months", valid.get(months or ""))


def on_currency(turn: Turn, deps: BotDeps, nonce: str | None, code: str | None) -> None:
    valid = {c.value: c.value for c in Currency}
    _set_choice(turn, deps, nonce, "currency", valid.get(code or ""))


def _set_choice(
    turn: Turn, deps: BotDeps, nonce: str | None, field: str, value: object | None
) -> None:
    """Period or currency from a button; a value not offered is treated as a stale button."""
    draft = current_draft(turn, deps, nonce)
    if draft is None:
        return
    if value is None:
        turn.answer(turn.text("stale"), alert=True)
        return
    draft[field] = value
    save(turn, deps, {"draft": draft})
    turn.show(draft_screen(turn, deps, draft))


def on_cancel(turn: Turn, deps: BotDeps, nonce: str | None) -> None:
    deps.conversations.clear(turn.user_id)
    turn.answer(turn.text("cancelled"))
    turn.show(list_screen(turn, deps))


# --- quote and confirmation ------------------------------------------------------------------


def on_quote(turn: Turn, deps: BotDeps, nonce: str | None) -> None:
    draft = current_draft(turn, deps, nonce)
    if draft is not None:
        show_quote(turn, deps, draft)


def show_quote(turn: Turn, deps: BotDeps, draft: dict[str, Any], notice: str | None = None) -> None:
    """The price of the draft with the ways to pay it; also where a detour comes back to
    (with `notice` on top when the price changed on the way)."""
    if draft["kind"] == CHANGE:
        _change_plan(turn, deps, draft)
        return
    if draft["currency"] is None:
        if turn.callback_id:
            turn.answer(turn.text("ask_currency"), alert=True)
        else:
            turn.show(draft_screen(turn, deps, draft))
        return
    quote = connect_quote(turn, deps, draft)
    if quote is None:
        return
    nonce = draft["nonce"]
    currency = quote.currency
    customer = for_person(deps, draft["customer"], turn.user_id, turn.lang)
    text = quote_text(deps, quote, customer, turn.lang)
    if notice is not None:
        text = f"⚠ {notice}\n\n{text}"
    wallet = deps.ledger.wallet(turn.user_id, currency)
    balance = format_minor(wallet.balance, currency)
    keyboard = []
    if wallet.can_pay(quote.total):
        text += "\n\n" + pay_from_balance_text(
            turn.lang,
            currency,
            balance=wallet.balance,
            credit_limit=wallet.credit_limit,
            total=quote.total,
        )
        pay = turn.text("btn_pay_balance", amount=format_minor(quote.total, currency))
        keyboard.append([button(pay, encode("cy", nonce, quote.total))])
    else:
        missing = format_minor(wallet.missing_for(quote.total), currency)
        text += "\n\n" + turn.text(
            "quote_balance_short", currency=currency.value, balance=balance, missing=missing
        )
        keyboard.append([button(turn.text("btn_pay_other", missing=missing), encode("cp", nonce))])
        keyboard.append([button(turn.text("btn_top_up"), encode("bt"))])
    # VAT depends on the billing details: changing them comes back to this price.
    keyboard.append([button(turn.text("btn_billing_details"), encode("bq"))])
    keyboard.append([button(turn.text("btn_back"), encode("cb", nonce))])
    turn.show(Screen(text, keyboard))


def connect_quote(turn: Turn, deps: BotDeps, draft: dict[str, Any]) -> Quote | None:
    """Today's quote for a connect draft with its currency chosen, for the Payer's tax
    profile; None when there is no country yet, and the Payer is asked for it."""
    try:
        tax = billing_profile.tax_profile(deps.profiles.profile(turn.user_id))
    except BillingError:
        # The price depends on the country: ask it here and come back to this quote.
        turn.answer()
        detours.ask(turn, deps, ["country"], resume=detours.QUOTE, intro=turn.text("need_country"))
        return None
    return deps.subscriptions.quote_connect(
        product=draft["product"],
        options=draft["options"],
        months=draft["months"],
        currency=Currency(draft["currency"]),
        tax=tax,
    )


def on_confirm(turn: Turn, deps: BotDeps, nonce: str | None, total: str | None) -> None:
    draft = current_draft(turn, deps, nonce)
    if draft is None or draft["kind"] != CONNECT or draft["currency"] is None:
        return
    if total is None or not total.isdigit():
        turn.answer(turn.text("stale"), alert=True)
        return
    try:
        profile = deps.profiles.profile(turn.user_id)
        purchase = deps.subscriptions.connect(
            request_id=f"{turn.user_id}:{draft['nonce']}",
            payer_id=turn.user_id,
            customer_id=draft["customer"],
            product=draft["product"],
            options=draft["options"],
            months=draft["months"],
            currency=Currency(draft["currency"]),
            tax=billing_profile.tax_profile(profile),
            has_saved_card=billing_profile.card_for(profile, Currency(draft["currency"]))
            is not None,
            # The total on the button: any other price today charges nothing.
            expected_total=int(total),
            customer_name=picked_name(turn, deps, draft["customer"]),
        )
    except QuoteChanged:
        # The price changed since the quote was shown (catalog, VAT): show it again.
        turn.answer(turn.text("stale"), alert=True)
        return
    except BillingError as error:  # funds, the slot taken meanwhile, a changed profile
        turn.answer(turn.error(error), alert=True)
        return
    sub = purchase.subscription
    # Named before the conversation (and the name Telegram gave with the pick) is cleared.
    customer = for_person(deps, sub.customer_id, turn.user_id, turn.lang, sub.customer_name)
    deps.conversations.clear(turn.user_id)
    product = deps.catalog.product(sub.product)
    if not purchase.applied_now:
        # The same confirmation delivered or pressed again: connected before, nothing now.
        text = turn.text(
            "connected_already",
            product=title(product, turn.lang),
            for_customer=customer,
            expiry=date_text(sub.expires_at, turn.lang),
        )
        turn.show(Screen(text, [[button(turn.text("btn_subscriptions"), encode("sv", sub.id))]]))
        return
    deps.notices.connected_for_customer(sub)
    text = turn.text(
        "connected",
        product=title(product, turn.lang),
        for_customer=customer,
        expiry=date_text(sub.expires_at, turn.lang),
        total=format_minor(purchase.quote.total, purchase.quote.currency),
        auto=turn.text("on" if sub.auto_renew else "off"),
    )
    turn.show(Screen(text, [[button(turn.text("btn_subscriptions"), encode("sv", sub.id))]]))
    invoice = invoice_call(deps, turn.chat_id, purchase.invoice_number)
    if invoice is not None:
        turn.calls.append(invoice)


def _change_plan(turn: Turn, deps: BotDeps, draft: dict[str, Any]) -> None:
    try:
        sub, _, plan = deps.subscriptions.plan_change(
            draft["subscription"], by=turn.user_id, new_options=draft["options"]
        )
    except NotAllowed:
        turn.answer(turn.text("payer_only"), alert=True)
        return
    except BillingError as error:
        turn.answer(turn.error(error), alert=True)
        return
    key = "change_plan_expand" if plan.expands else "change_plan_reduce"
    text = turn.text(
        key,
        new_price=format_minor(plan.new_monthly, sub.currency),
        old_price=format_minor(plan.old_monthly, sub.currency),
        old=date_text(plan.old_expiry, turn.lang),
        new=date_text(plan.new_expiry, turn.lang),
    )
    keyboard = [
        [button(turn.text("btn_confirm_change"), encode("xy", draft["nonce"]))],
        [button(turn.text("btn_back"), encode("cb", draft["nonce"]))],
    ]
    turn.show(Screen(text, keyboard))


def on_confirm_change(turn: Turn, deps: BotDeps, nonce: str | None) -> None:
    draft = current_draft(turn, deps, nonce)
    if draft is None or draft["kind"] != CHANGE:
        return
    current = deps.subscriptions.get(draft["subscription"], viewer=turn.user_id)
    if current.version != draft["version"]:
        # Something else changed the subscription after this draft was made.
        turn.answer(turn.text("stale"), alert=True)
        return
    try:
        changed, _ = deps.subscriptions.change(
            draft["subscription"], by=turn.user_id, new_options=draft["options"]
        )
    except NotAllowed:
        turn.answer(turn.text("payer_only"), alert=True)
        return
    except BillingError as error:
        turn.answer(turn.error(error), alert=True)
        return
    deps.conversations.clear(turn.user_id)
    deps.notices.expiry_moved(changed, current.expires_at, by=turn.user_id)
    product = deps.catalog.product(changed.product)
    text = turn.text(
        "changed",
        product=title(product, turn.lang),
        expiry=date_text(changed.expires_at, turn.lang),
    )
    turn.show(Screen(text, [[button(turn.text("btn_back"), encode("sv", changed.id))]]))
