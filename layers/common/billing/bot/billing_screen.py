"""/billing (alias /paysystem): country, name, address, VAT id, payment method, saved card,
and the phone share that confirms the country (SPEC §6)."""

from __future__ import annotations

from typing import Any

from billing.bot import detours, drafts
from billing.bot.callbacks import encode
from billing.bot.calls import Call, Screen, button
from billing.bot.deps import BotDeps
from billing.bot.texts import method_name
from billing.bot.turn import Turn
from billing.domain.countries import country_name, exact_country, match_country
from billing.domain.profile import (
    BillingProfile,
    PaymentMethod,
    Verification,
    saved_cards,
    verification_for,
)
from billing.errors import BillingError, NotFound
from billing.providers.errors import ProviderError

FIELDS = ("country", "name", "address", "vat_id", "receipt_contact")


def billing_screen(turn: Turn, deps: BotDeps) -> Screen:
    """The profile with a button per field; with a way back when a quote or payment waits."""
    profile = deps.profiles.profile(turn.user_id)
    cards = saved_cards(profile)
    method = profile.payment_method
    country = profile.country

    def unset(field: str) -> str:
        # Russian agrees "not set" with each field's gender: «не указана», «не указан», ...
        return turn.text(f"not_set_{field}")

    text = (
        turn.text("billing_title")
        + "\n\n"
        + turn.text(
            "billing_body",
            country=f"{country_name(country, turn.lang)} ({country})"
            if country
            else unset("country"),
            name=profile.name or unset("name"),
            address=profile.address or unset("address"),
            vat_id=profile.vat_id or unset("vat_id"),
            method=method_name(turn.lang, method.value) if method else unset("method"),
            card=", ".join(f"{card.brand} •••• {card.last4}" for card in cards) or unset("card"),
            receipt=profile.receipt_contact or unset("receipt_contact"),
            verification=turn.text(f"verification_{_verification(profile).value}"),
        )
    )
    keyboard = [
        [
            button(turn.text("btn_country"), encode("bf", "country")),
            button(turn.text("btn_name"), encode("bf", "name")),
        ],
        [
            button(turn.text("btn_address"), encode("bf", "address")),
            button(turn.text("btn_vat_id"), encode("bf", "vat_id")),
        ],
        [button(turn.text("btn_receipt_contact"), encode("bf", "receipt_contact"))],
    ]
    if profile.vat_id:
        keyboard.append([button(turn.text("btn_clear_vat_id"), encode("bv"))])
    keyboard.append([button(turn.text("btn_method"), encode("pmc"))])
    for card in cards:
        label = (
            turn.text("btn_remove_card")
            if len(cards) == 1
            else turn.text("btn_remove_card_n", last4=card.last4)
        )
        keyboard.append([button(label, encode("rc", card.provider))])
    keyboard.append([button(turn.text("btn_share_phone"), encode("sp"))])
    keyboard += detours.back_row(turn, drafts.load(turn, deps))
    return Screen(text, keyboard)


def _verification(profile: BillingProfile) -> Verification:
    # Shown for the chosen method, or for card payments when none is chosen yet.
    return verification_for(profile, profile.payment_method or PaymentMethod.STRIPE_CARD)


def on_ask(turn: Turn, deps: BotDeps, field: str | None) -> None:
    if field not in FIELDS:
        turn.answer(turn.text("stale"), alert=True)
        return
    # The draft or payment being prepared stays: the Payer may be on a detour from it.
    state = drafts.load(turn, deps)
    state["ask"] = {"field": field, "screen": True}
    drafts.save(turn, deps, state)
    turn.show(Screen(turn.text(f"ask_{field}"), [[button(turn.text("btn_cancel"), encode("bb"))]]))


def on_open_from_quote(turn: Turn, deps: BotDeps) -> None:
    """The quote's «billing details» button: what is changed here comes back to the quote."""
    state = drafts.load(turn, deps)
    if detours.pending(state) is None:
        turn.answer(turn.text("stale"), alert=True)
        return
    state.pop("ask", None)
    state[detours.RESUME] = detours.pending(state)
    drafts.save(turn, deps, state)
    turn.show(billing_screen(turn, deps))


def on_fix_for_payment(turn: Turn, deps: BotDeps, fields: str | None) -> None:
    """A method refused for missing billing details: ask exactly those, then back to it."""
    wanted = [f for f in (fields or "").split(",") if f in FIELDS]
    if not wanted or detours.pending(drafts.load(turn, deps)) is None:
        turn.answer(turn.text("stale"), alert=True)
        return
    detours.ask(turn, deps, wanted, resume=detours.PAYMENT)


def on_answer(turn: Turn, deps: BotDeps, field: str, text: str) -> None:
    if field == "country":
        code = exact_country(text)
        candidates = [] if code else match_country(text)
        if candidates:
            # Not one country ("Korea", "Гер"): the Payer picks; the question stays open.
            keyboard = [[button(country_name(c, turn.lang), encode("bc", c))] for c in candidates]
            keyboard.append([button(turn.text("btn_cancel"), encode("bb"))])
            turn.send(Screen(turn.text("pick_country"), keyboard))
            return
        # Nothing matched: the profile's own check answers (and takes codes like XK).
        text = code or text
    _save(turn, deps, field, text)


def on_country_picked(turn: Turn, deps: BotDeps, code: str | None) -> None:
    asked = drafts.load(turn, deps).get("ask")
    if not isinstance(asked, dict) or asked.get("field") != "country" or not code:
        turn.answer(turn.text("stale"), alert=True)
        return
    turn.message_id = None  # the answer to a question: what follows is a new message
    _save(turn, deps, "country", code)


def _save(turn: Turn, deps: BotDeps, field: str, text: str) -> None:
    setters = {
        "country": deps.profiles.set_country,
        "name": deps.profiles.set_name,
        "address": deps.profiles.set_address,
        "vat_id": deps.profiles.set_vat_id,
        "receipt_contact": deps.profiles.set_receipt_contact,
    }
    try:
        setters[field](turn.user_id, text)
    except NotFound:
        turn.send(Screen(turn.text("start_first")))
        return
    except BillingError as error:
        # The question stays open: the next message is another try.
        turn.send(
            Screen(
                turn.text("bad_profile_value", error=turn.error(error)),
                [[button(turn.text("btn_cancel"), encode("bb"))]],
            )
        )
        return
    state = drafts.load(turn, deps)
    if detours.next_question(turn, deps, state) or detours.finish(turn, deps, state):
        return
    turn.send(billing_screen(turn, deps))


def on_back(turn: Turn, deps: BotDeps) -> None:
    """Cancel of a billing question (or back from the methods list): a question asked from
    the billing screen goes back to it; one asked by a quote or payment goes back there."""
    state = drafts.load(turn, deps)
    asked = state.get("ask")
    from_screen = not isinstance(asked, dict) or asked.get("screen") or "field" not in asked
    if from_screen:
        state.pop("ask", None)
        drafts.save(turn, deps, state)
    elif detours.finish(turn, deps, state, cancelled=True):
        return
    turn.show(billing_screen(turn, deps))


def on_clear_vat_id(turn: Turn, deps: BotDeps) -> None:
    _change(turn, deps, lambda: deps.profiles.clear_vat_id(turn.user_id))


def on_remove_card(turn: Turn, deps: BotDeps, provider: str | None) -> None:
    # Buttons from before cards for Russia name no provider: they meant the Stripe card.
    if provider not in (None, "stripe", "yookassa"):
        turn.answer(turn.text("stale"), alert=True)
        return
    if provider is None:
        cards = saved_cards(deps.profiles.profile(turn.user_id))
        provider = cards[0].provider if len(cards) == 1 else "stripe"
    chosen = provider
    try:
        _change(turn, deps, lambda: deps.saved_cards.forget(turn.user_id, chosen))
    except ProviderError:
        turn.answer(turn.text("pay_provider_down"), alert=True)


def on_choose_method(turn: Turn, deps: BotDeps) -> None:
    keyboard = [
        [button(_capitalized(method_name(turn.lang, m.value)), encode("pm", m.value))]
        for m in PaymentMethod
    ]
    keyboard.append([button(turn.text("btn_back"), encode("bb"))])
    turn.show(Screen(turn.text("choose_method"), keyboard))


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def on_method(turn: Turn, deps: BotDeps, value: str | None) -> None:
    if value not in {m.value for m in PaymentMethod}:
        turn.answer(turn.text("stale"), alert=True)
        return
    _change(turn, deps, lambda: deps.profiles.set_payment_method(turn.user_id, value or ""))


def _change(turn: Turn, deps: BotDeps, action: Any) -> None:
    try:
        action()
    except NotFound:
        turn.answer(turn.text("start_first"), alert=True)
        return
    except BillingError as error:
        turn.answer(turn.error(error), alert=True)
        return
    turn.show(billing_screen(turn, deps))


def on_share_phone(turn: Turn, deps: BotDeps, origin: str | None) -> None:
    """The request-contact keyboard; shared from a refused payment, it comes back there."""
    if origin == detours.PAYMENT:
        state = drafts.load(turn, deps)
        if detours.pending(state) is not None:
            state[detours.RESUME] = detours.PAYMENT
            drafts.save(turn, deps, state)
    keyboard = {
        "keyboard": [[{"text": turn.text("btn_share_phone"), "request_contact": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }
    turn.calls.append(
        Call(
            "sendMessage",
            {"chat_id": turn.chat_id, "text": turn.text("ask_phone"), "reply_markup": keyboard},
        )
    )


def on_contact(turn: Turn, deps: BotDeps, phone_number: str, contact_user_id: int | None) -> None:
    try:
        profile = deps.profiles.share_phone(
            turn.user_id, phone_number, contact_user_id=contact_user_id
        )
    except NotFound:
        turn.send(Screen(turn.text("start_first")))
        return
    except BillingError as error:
        turn.send(Screen(turn.error(error)))
        return
    turn.calls.append(
        Call(
            "sendMessage",
            {
                "chat_id": turn.chat_id,
                "text": turn.text("phone_saved", country=profile.phone_country or "?"),
                "reply_markup": {"remove_keyboard": True},
            },
        )
    )
    if not detours.finish(turn, deps, drafts.load(turn, deps)):
        turn.send(billing_screen(turn, deps))
