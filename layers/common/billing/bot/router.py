"""Turns one Telegram update into the Bot API calls that answer it.

Commands and button presses are routed by name; free text is taken only while a question
is open. A button's data is only a hint: every action re-reads the object it names and
re-checks that the pressing user may act on it now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billing.bot import admin, balance, billing_screen, detours, drafts, payments, subscriptions
from billing.bot.callbacks import Pressed, decode, encode
from billing.bot.calls import Call, Screen, answer_callback, button
from billing.bot.deps import BotDeps
from billing.bot.texts import LANGUAGES, t
from billing.bot.turn import Turn
from billing.bot.views import person, title
from billing.errors import ConcurrentModification, NotFound
from billing.observability import logger
from billing.telegram.models import CallbackQuery, Message, Update, User

PICK_USER_REQUEST = 1

Action = Callable[[Turn, BotDeps, Pressed], None]


def _private(message: Message | None) -> bool:
    """Whether the update comes from a private chat. A button press without its message
    (an inline message: the bot sends none) has no chat of its own; what it shows goes to
    the presser's private chat."""
    return message is None or message.chat.type == "private"


def _sender_language(user: User) -> str:
    """The sender's Telegram language, with nothing read: used outside private chats."""
    return "ru" if (user.language_code or "").startswith("ru") else "en"


def _product(turn: Turn, deps: BotDeps, key: str | None) -> None:
    if key not in {p.key for p in deps.catalog.sellable()}:
        turn.answer(turn.text("stale"), alert=True)
        return
    turn.show(subscriptions.product_screen(turn, deps, key or ""))


def _connect(turn: Turn, deps: BotDeps, pressed: Pressed) -> None:
    """Connect for oneself, or for a user picked in this conversation: the id in the
    button is only a hint, checked against the picks (drafts.start_connect)."""
    customer = pressed.arg(1)
    if customer is not None and not customer.isdigit():
        turn.answer(turn.text("stale"), alert=True)
        return
    customer_id = int(customer) if customer is not None else turn.user_id
    drafts.start_connect(turn, deps, pressed.arg(0), customer_id)


def _pick_user(turn: Turn) -> None:
    keyboard = {
        "keyboard": [
            [
                {
                    "text": turn.text("btn_pick_user"),
                    "request_users": {
                        "request_id": PICK_USER_REQUEST,
                        "user_is_bot": False,
                        "max_quantity": 1,
                        # The name, to call them by it (they may never have started the bot).
                        "request_name": True,
                    },
                }
            ]
        ],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }
    turn.calls.append(
        Call(
            "sendMessage",
            {"chat_id": turn.chat_id, "text": turn.text("pick_user"), "reply_markup": keyboard},
        )
    )


def _set_language(turn: Turn, deps: BotDeps, lang: str | None) -> None:
    if lang not in LANGUAGES:
        turn.answer(turn.text("stale"), alert=True)
        return
    try:
        deps.accounts.set_language(turn.user_id, lang or "en")
    except NotFound:
        turn.answer(turn.text("start_first"), alert=True)
        return
    turn.lang = lang or "en"
    turn.show(Screen(turn.text("language_set")))


ACTIONS: dict[str, Action] = {
    "sl": lambda turn, deps, p: turn.show(subscriptions.list_screen(turn, deps)),
    "pd": lambda turn, deps, p: _product(turn, deps, p.arg(0)),
    "sv": lambda turn, deps, p: subscriptions.on_view(turn, deps, p.arg(0)),
    "sa": lambda turn, deps, p: subscriptions.on_auto_renew(turn, deps, p.arg(0), p.arg(1)),
    "sr": lambda turn, deps, p: subscriptions.on_renew_quote(turn, deps, p.arg(0), p.arg(1)),
    "sR": lambda turn, deps, p: subscriptions.on_renew_confirm(turn, deps, p.arg(0), p.arg(1)),
    "sc": lambda turn, deps, p: drafts.start_change(turn, deps, p.arg(0)),
    "sm": lambda turn, deps, p: subscriptions.on_customer_may_change(
        turn, deps, p.arg(0), p.arg(1)
    ),
    "cn": _connect,
    "co": lambda turn, deps, p: drafts.on_option(turn, deps, p.arg(0), p.arg(1)),
    "cv": lambda turn, deps, p: drafts.on_option_value(turn, deps, p.arg(0), p.arg(1), p.arg(2)),
    "ca": lambda turn, deps, p: drafts.on_back_to_draft(turn, deps, p.arg(0)),
    "cb": lambda turn, deps, p: drafts.on_back_to_draft(turn, deps, p.arg(0)),
    "cm": lambda turn, deps, p: drafts.on_months(turn, deps, p.arg(0), p.arg(1)),
    "cc": lambda turn, deps, p: drafts.on_currency(turn, deps, p.arg(0), p.arg(1)),
    "cq": lambda turn, deps, p: drafts.on_quote(turn, deps, p.arg(0)),
    "cy": lambda turn, deps, p: drafts.on_confirm(turn, deps, p.arg(0), p.arg(1)),
    "cx": lambda turn, deps, p: drafts.on_cancel(turn, deps, p.arg(0)),
    "xy": lambda turn, deps, p: drafts.on_confirm_change(turn, deps, p.arg(0)),
    "pu": lambda turn, deps, p: _pick_user(turn),
    "bt": lambda turn, deps, p: payments.on_top_up(turn, deps),
    "tc": lambda turn, deps, p: payments.on_top_up_currency(turn, deps, p.arg(0)),
    "ta": lambda turn, deps, p: payments.on_top_up_amount(turn, deps, p.arg(0), p.arg(1)),
    "tx": lambda turn, deps, p: payments.on_ask_amount(turn, deps, p.arg(0)),
    "cp": lambda turn, deps, p: payments.on_pay_connect(turn, deps, p.arg(0)),
    "rp": lambda turn, deps, p: payments.on_pay_renew(turn, deps, p.arg(0), p.arg(1)),
    "pk": lambda turn, deps, p: payments.on_method(turn, deps, p.arg(0), p.arg(1)),
    "px": lambda turn, deps, p: payments.on_cancel(turn, deps),
    "iv": lambda turn, deps, p: balance.on_invoice(turn, deps, p.arg(0)),
    "lg": lambda turn, deps, p: _set_language(turn, deps, p.arg(0)),
    "bf": lambda turn, deps, p: billing_screen.on_ask(turn, deps, p.arg(0)),
    "bb": lambda turn, deps, p: billing_screen.on_back(turn, deps),
    "bv": lambda turn, deps, p: billing_screen.on_clear_vat_id(turn, deps),
    "rc": lambda turn, deps, p: billing_screen.on_remove_card(turn, deps, p.arg(0)),
    "pmc": lambda turn, deps, p: billing_screen.on_choose_method(turn, deps),
    "pm": lambda turn, deps, p: billing_screen.on_method(turn, deps, p.arg(0)),
    "sp": lambda turn, deps, p: billing_screen.on_share_phone(turn, deps, p.arg(0)),
    "bq": lambda turn, deps, p: billing_screen.on_open_from_quote(turn, deps),
    "bc": lambda turn, deps, p: billing_screen.on_country_picked(turn, deps, p.arg(0)),
    "bd": lambda turn, deps, p: billing_screen.on_fix_for_payment(turn, deps, p.arg(0)),
    "br": lambda turn, deps, p: detours.on_back(turn, deps),
    # Support's actions: each re-checks that the presser is a configured admin.
    **admin.ADMIN_ACTIONS,
}


class Bot:
    def __init__(self, deps: BotDeps) -> None:
        self._deps = deps

    @property
    def deps(self) -> BotDeps:
        return self._deps

    def handle(self, update: Update) -> list[Call]:
        """The calls that answer `update`. A race lost beyond the retries
        (ConcurrentModification) escapes from messages and payments, so the webhook answers
        5xx and Telegram delivers the update again: a payment must not be dropped as done."""
        if update.callback_query is not None:
            if not _private(update.callback_query.message):
                return self._invite_pressed(update.callback_query)
            return self._pressed(update.callback_query)
        if update.message is not None:
            if not _private(update.message) and update.message.successful_payment is None:
                return self._invite(update.message)
            return self._message(update.message)
        if update.pre_checkout_query is not None:
            query = update.pre_checkout_query
            return [payments.pre_checkout(self._deps, query, self._language(query.from_))]
        logger.info("update not acted on", extra={"update_id": update.update_id})
        return []

    # --- groups and channels (SPEC §10: private chats only) ---------------------------

    def _invite(self, message: Message) -> list[Call]:
        """A message in a group: a short invitation to a private chat, nothing read or
        written. Only text (commands, replies to the bot) is answered, so service messages
        (members joining, pins) do not make the bot talk into the group."""
        user = message.from_
        if user is None or user.is_bot or message.text is None:
            return []
        text = t(_sender_language(user), "private_only")
        return [Call("sendMessage", {"chat_id": message.chat.id, "text": text})]

    def _invite_pressed(self, query: CallbackQuery) -> list[Call]:
        """A button under a message in a group: answered with the invitation, no action."""
        text = t(_sender_language(query.from_), "private_only")
        return [answer_callback(query.id, text, alert=True)]

    # --- who is talking --------------------------------------------------------------

    def _language(self, user: User) -> str:
        account = self._deps.accounts.get(user.id)
        if account is not None and account.language in LANGUAGES:
            return account.language or "en"
        return _sender_language(user)

    def _turn(self, user: User, chat_id: int, **extra: Any) -> Turn:
        return Turn(user_id=user.id, chat_id=chat_id, lang=self._language(user), **extra)

    # --- button presses ------------------------------------------------------------------

    def _pressed(self, query: CallbackQuery) -> list[Call]:
        message = query.message
        chat_id = message.chat.id if message is not None else query.from_.id
        turn = self._turn(
            query.from_,
            chat_id,
            message_id=message.message_id if message is not None else None,
            callback_id=query.id,
        )
        pressed = decode(query.data)
        action = ACTIONS.get(pressed.action) if pressed else None
        if pressed is None or action is None:
            turn.answer(turn.text("stale"), alert=True)
        else:
            try:
                action(turn, self._deps, pressed)
            except ConcurrentModification:
                turn.answer(turn.text("try_again"), alert=True)
        return turn.finish()

    # --- messages ------------------------------------------------------------------------

    def _message(self, message: Message) -> list[Call]:
        user = message.from_
        if user is None or user.is_bot:
            return []
        # A payment is settled wherever Telegram reports it (money is never dropped); what
        # the bot says about it goes to the payer's private chat (its id is the user's).
        chat_id = message.chat.id if _private(message) else user.id
        turn = self._turn(user, chat_id)
        deps = self._deps
        if message.users_shared is not None:
            shared = message.users_shared
            if shared.request_id == PICK_USER_REQUEST and shared.users:
                picked = shared.users[0]
                self._offer_products_for(turn, picked.user_id, picked.first_name)
            else:
                turn.send(Screen(turn.text("stale")))
        elif message.forward_origin is not None:
            self._forwarded(turn, message.forward_origin)
        elif message.successful_payment is not None:
            payments.successful_payment(turn, deps, message.successful_payment)
        elif message.contact is not None:
            contact = message.contact
            billing_screen.on_contact(turn, deps, contact.phone_number, contact.user_id)
        elif message.text is not None and message.text.startswith("/"):
            self._command(turn, user, message.text)
        elif message.text is not None:
            self._answer(turn, message.text, message.message_id)
        return turn.finish()

    def _answer(self, turn: Turn, text: str, message_id: int) -> None:
        """Free text: taken only as the answer to the question that is open."""
        deps = self._deps
        state = deps.conversations.get(turn.user_id, deps.clock.now()) or {}
        ask = state.get("ask")
        if admin.on_admin_text(turn, deps, state, text, message_id=message_id):
            return
        if isinstance(ask, dict) and ask.get("amount") in ("EUR", "USD", "RUB"):
            payments.on_amount_text(turn, deps, ask["amount"], text)
        elif isinstance(ask, dict) and "option" in ask and "draft" in state:
            drafts.on_option_text(turn, deps, state, text)
        elif isinstance(ask, dict) and ask.get("field") in billing_screen.FIELDS:
            billing_screen.on_answer(turn, deps, ask["field"], text)
        else:
            turn.send(Screen(turn.text("nothing_asked")))

    def _command(self, turn: Turn, user: User, text: str) -> None:
        deps = self._deps
        command, _, argument = text.strip().partition(" ")
        name = command.split("@")[0].lower()
        if name == "/start":
            deps.accounts.ensure(
                user.id,
                now=deps.clock.now(),
                language=turn.lang,
                first_name=user.first_name,
                username=user.username,
                start_parameter=argument.strip()[:64] or None,
            )
            turn.send(Screen(turn.text("welcome")))
        elif name in ("/subscriptions", "/tariff"):
            deps.conversations.clear(user.id)
            turn.send(subscriptions.list_screen(turn, deps))
        elif name in ("/billing", "/paysystem"):
            # A detour of the Payer's own: the open question ends, a pending quote stays
            # (the billing screen offers the way back to it).
            state = drafts.load(turn, deps)
            state.pop("ask", None)
            state.pop(detours.RESUME, None)
            drafts.save(turn, deps, state)
            turn.send(billing_screen.billing_screen(turn, deps))
        elif name == "/balance":
            turn.send(balance.balance_screen(turn, deps))
        elif name == "/help":
            turn.send(Screen(admin.help_text(turn, deps)))
        elif name == "/paysupport" and argument.strip():
            admin.to_support(turn, deps, argument.strip())
        elif name in ("/privacy", "/paysupport"):
            turn.send(Screen(turn.text(name.removeprefix("/"))))
        elif name == "/cancel":
            deps.conversations.clear(user.id)
            turn.send(Screen(turn.text("cancelled")))
        elif name == "/language":
            keyboard = [
                [button("English", encode("lg", "en")), button("Русский", encode("lg", "ru"))]
            ]
            turn.send(Screen(turn.text("choose_language"), keyboard))
        elif name == "/admin":
            admin.admin_command(turn, deps, argument)
        else:
            turn.send(Screen(turn.text("unknown_command")))

    def _forwarded(self, turn: Turn, origin: dict[str, Any]) -> None:
        """A message forwarded from someone picks them as the Customer (SPEC §1)."""
        sender = origin.get("sender_user") if origin.get("type") == "user" else None
        user_id = sender.get("id") if isinstance(sender, dict) else None
        if not isinstance(user_id, int) or (isinstance(sender, dict) and sender.get("is_bot")):
            turn.send(Screen(turn.text("forward_hidden")))
            return
        name = sender.get("first_name") if isinstance(sender, dict) else None
        self._offer_products_for(turn, user_id, name if isinstance(name, str) else None)

    def _offer_products_for(self, turn: Turn, customer: int, name: str | None) -> None:
        """The products to connect for a picked user: those they do not hold yet (a picked
        user's subscriptions may be told to the picker, SPEC §10)."""
        deps = self._deps
        # Remember the pick: only a user picked in this conversation can be connected for.
        drafts.remember_pick(turn, deps, customer, name)
        who = person(deps, customer, turn.user_id, turn.lang)
        # Take the one-time keyboard away, then offer the products for that user.
        turn.calls.append(
            Call(
                "sendMessage",
                {
                    "chat_id": turn.chat_id,
                    "text": turn.text("picked_user", name=who),
                    "reply_markup": {"remove_keyboard": True},
                },
            )
        )
        held = {
            s.product
            for s in deps.subscriptions.visible_to(customer)
            if s.is_active and s.customer_id == customer
        }
        offered = [p for p in deps.catalog.sellable() if p.key not in held]
        lines = [
            turn.text("picked_holds", name=who, product=title(p, turn.lang))
            for p in deps.catalog.sellable()
            if p.key in held
        ]
        keyboard = [[button(title(p, turn.lang), encode("cn", p.key, customer))] for p in offered]
        if offered:
            lines.append(turn.text("picked_offer", name=who))
        keyboard.append([button(turn.text("btn_subscriptions"), encode("sl"))])
        turn.send(Screen("\n".join(lines), keyboard))
