"""Detours: a quote or a payment sends the Payer to fix what it needs (billing country, VAT
id, name, address, a shared phone, a top-up) and brings them back to it.

The conversation keeps the pending draft ("draft") and payment ("pay") through the detour;
"resume" names where to return when the detour was started from the quote or the payment
screen, so answering the last question shows that screen again with the same draft. A detour
the Payer takes on their own (/billing in the middle of a connect) returns nowhere by itself
but the billing screen offers a button back.
"""

from __future__ import annotations

from typing import Any

from billing.bot.callbacks import encode
from billing.bot.calls import Screen, button
from billing.bot.deps import BotDeps
from billing.bot.turn import Turn
from billing.orders.model import Purpose

QUOTE, PAYMENT = "quote", "pay"
RESUME = "resume"


def pending(state: dict[str, Any]) -> str | None:
    """What the Payer left to take a detour: a payment being chosen, else a draft."""
    pay = state.get("pay")
    if isinstance(pay, dict) and pay.get("purpose") != Purpose.TOP_UP.value:
        return PAYMENT
    if isinstance(state.get("draft"), dict):
        return QUOTE
    if isinstance(pay, dict):
        return PAYMENT
    return None


def back_row(turn: Turn, state: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """A row with the way back to what is pending, for screens of a detour."""
    target = pending(state)
    if target is None:
        return []
    key = "btn_back_to_payment" if target == PAYMENT else "btn_back_to_quote"
    return [[button(turn.text(key), encode("br"))]]


def ask(
    turn: Turn,
    deps: BotDeps,
    fields: list[str],
    *,
    resume: str | None,
    intro: str | None = None,
) -> None:
    """Ask the billing questions `fields` one after another, then return to `resume`."""
    from billing.bot import drafts  # drafts starts detours, so it is imported late

    state = drafts.load(turn, deps)
    state["ask"] = {"field": fields[0], "then": fields[1:]}
    if resume is not None:
        state[RESUME] = resume
    drafts.save(turn, deps, state)
    text = turn.text(f"ask_{fields[0]}")
    if intro is not None:
        text = f"{intro}\n\n{text}"
    turn.show(Screen(text, [[button(turn.text("btn_cancel"), encode("bb"))]]))


def next_question(turn: Turn, deps: BotDeps, state: dict[str, Any]) -> bool:
    """After an answer: the next question of the detour, if one is left."""
    asked = state.get("ask")
    rest = asked.get("then") if isinstance(asked, dict) else None
    if not isinstance(rest, list) or not rest:
        return False
    ask(turn, deps, [str(field) for field in rest], resume=None)
    return True


def finish(turn: Turn, deps: BotDeps, state: dict[str, Any], *, cancelled: bool = False) -> bool:
    """The detour is over: back where it started (False when it started nowhere). The state
    is saved either way, without the open question."""
    from billing.bot import drafts

    state.pop("ask", None)
    target = state.pop(RESUME, None)
    drafts.save(turn, deps, state)
    if target not in (QUOTE, PAYMENT):
        return False
    return show(turn, deps, state, str(target), cancelled=cancelled)


def show(turn: Turn, deps: BotDeps, state: dict[str, Any], target: str, *, cancelled: bool) -> bool:
    from billing.bot import drafts, payments

    pay, draft = state.get("pay"), state.get("draft")
    if target == PAYMENT and isinstance(pay, dict):
        if not payments.price_changed(turn, deps, pay):
            turn.show(payments.methods_screen(turn, deps, pay))
        return True
    if isinstance(draft, dict):
        if cancelled:
            turn.show(drafts.draft_screen(turn, deps, draft))
        else:
            drafts.show_quote(turn, deps, draft)
        return True
    return False


def on_back(turn: Turn, deps: BotDeps) -> None:
    """The «back to the price / payment» button of a detour's screen."""
    from billing.bot import drafts

    state = drafts.load(turn, deps)
    target = pending(state)
    state.pop("ask", None)
    state.pop(RESUME, None)
    drafts.save(turn, deps, state)
    if target is None or not show(turn, deps, state, target, cancelled=False):
        turn.answer(turn.text("stale"), alert=True)
