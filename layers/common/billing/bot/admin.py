"""Support actions in the bot (SPEC §9), for the ids in ADMIN_IDS only.

/admin [user id] opens a user's screen: account, billing profile, wallets, subscriptions
and the last support actions, with buttons to set a credit limit, adjust a balance, verify
the country and terminate a subscription with credit. /admin inbox (or the Inbox button)
lists the open alerts, newest first, each with a "Resolved" button. Anyone else gets exactly what an
unknown command or a stale button gets, so the feature reveals nothing.

Every action re-checks the rights and re-reads its target; every change is written to the
audit trail (money movements are in the ledger too, under a cause named in the details).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from billing.bot import admin_orders
from billing.bot.callbacks import Pressed, encode
from billing.bot.calls import Screen, button, send_message
from billing.bot.deps import BotDeps
from billing.bot.texts import date_text, t
from billing.bot.turn import Turn
from billing.bot.views import person, title
from billing.domain.money import Currency, format_minor, parse_amount
from billing.domain.profile import PaymentMethod, verification_for
from billing.domain.subscription import Subscription, remaining_value
from billing.errors import BillingError, InvalidAmount, InvalidState, NotFound
from billing.ledger.service import Movement
from billing.orders.model import Order
from billing.store.audit import AuditEntry, AuditRepository
from billing.store.codec import iso, parse_iso
from billing.store.orders import Alert

AUDIT_SHOWN = 5
# Binds from AccountModel's table at call time, so one instance serves the process.
_audit = AuditRepository()


def is_admin(turn: Turn, deps: BotDeps) -> bool:
    return turn.user_id in deps.admin_ids


def _stale(turn: Turn) -> None:
    # Word for word what any unknown button gets.
    turn.answer(turn.text("stale"), alert=True)


def _user_id(text: str | None) -> int | None:
    value = (text or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 15:
        return None
    number = int(value)
    return number if number > 0 else None


# --- the user screen ----------------------------------------------------------------------


def user_screen(turn: Turn, deps: BotDeps, user_id: int) -> Screen:
    lang = turn.lang
    unset = t(lang, "not_set")
    lines = [t(lang, "admin_user_title", id=user_id), ""]
    account = deps.accounts.get(user_id)
    if account is None:
        lines.append(t(lang, "admin_no_account"))
    else:
        profile = account.profile
        method = profile.payment_method or PaymentMethod.STRIPE_CARD
        lines.append(
            t(
                lang,
                "admin_account",
                name=account.first_name or unset,
                username=f"@{account.username}" if account.username else unset,
                language=account.language or unset,
                since=date_text(account.created_at, lang),
            )
        )
        lines.append(
            t(
                lang,
                "admin_profile",
                country=profile.country or unset,
                vat_id=profile.vat_id or unset,
                phone=profile.phone_country or unset,
                verification=t(lang, f"verification_{verification_for(profile, method).value}"),
                by_support=t(lang, "admin_by_support") if profile.verified_by_support else "",
            )
        )
    lines += ["", t(lang, "admin_wallets")]
    wallets = deps.ledger.wallets(user_id)
    for wallet in wallets:
        lines.append(
            t(
                lang,
                "admin_wallet",
                currency=wallet.currency.value,
                balance=format_minor(wallet.balance, wallet.currency),
                limit=format_minor(wallet.credit_limit, wallet.currency),
            )
        )
    if not wallets:
        lines.append(t(lang, "admin_none"))
    lines += ["", t(lang, "admin_subs")]
    subs = deps.subscriptions.visible_to(user_id)
    for sub in subs:
        lines.append(
            t(
                lang,
                "admin_sub",
                id=sub.id,
                product=title(deps.catalog.product(sub.product), lang),
                role=_role(lang, sub, user_id),
                expiry=date_text(sub.expires_at, lang),
                status=t(lang, f"status_{sub.status.value}"),
            )
        )
    if not subs:
        lines.append(t(lang, "admin_none"))
    lines += ["", t(lang, "admin_audit")]
    entries = _audit.for_user(user_id, AUDIT_SHOWN)
    for entry in entries:
        lines.append(
            t(
                lang,
                "admin_audit_line",
                at=date_text(entry.at, lang),
                sentence=audit_sentence(deps, entry, viewer=turn.user_id, lang=lang),
            )
        )
    if not entries:
        lines.append(t(lang, "admin_none"))
    keyboard = [
        [
            button(t(lang, "admin_btn_limit"), encode("al", user_id)),
            button(t(lang, "admin_btn_adjust"), encode("aa", user_id)),
        ],
    ]
    if account is not None:
        keyboard.append([button(t(lang, "admin_btn_verify"), encode("av", user_id))])
    for sub in subs:
        if sub.is_active:
            label = t(
                lang,
                "admin_btn_terminate",
                product=title(deps.catalog.product(sub.product), lang),
            )
            keyboard.append([button(label, encode("at", sub.id))])
    return Screen("\n".join(lines), keyboard)


def _role(lang: str, sub: Subscription, user_id: int) -> str:
    if sub.payer_id == user_id == sub.customer_id:
        return t(lang, "admin_role_both")
    if sub.payer_id == user_id:
        return t(lang, "admin_role_payer", id=sub.customer_id)
    return t(lang, "admin_role_customer", id=sub.payer_id)


def _back(turn: Turn, user_id: int) -> list[list[dict[str, Any]]]:
    return [[button(t(turn.lang, "admin_btn_back"), encode("au", user_id))]]


# --- entry points: the command and the answers to its questions ----------------------------


def admin_command(turn: Turn, deps: BotDeps, argument: str) -> None:
    """/admin asks for a user id; /admin <id> shows that user."""
    if not is_admin(turn, deps):
        turn.send(Screen(turn.text("unknown_command")))
        return
    if not argument.strip():
        deps.conversations.put(turn.user_id, {"ask": {"admin": "lookup"}}, deps.clock.now())
        inbox = [[button(t(turn.lang, "admin_btn_inbox"), encode("ai"))]]
        turn.send(Screen(t(turn.lang, "admin_ask_lookup"), inbox))
        return
    deps.conversations.clear(turn.user_id)
    if argument.strip().lower() == "inbox":
        turn.send(inbox_screen(turn, deps))
        return
    words = argument.split(maxsplit=2)
    if words[0].lower() == "reply":
        _reply(turn, deps, words[1:])
        return
    user_id = _user_id(argument)
    if user_id is None:  # an order number or a provider's payment id
        turn.send(admin_orders.lookup_text(turn, deps, argument))
        return
    turn.send(user_screen(turn, deps, user_id))


SUPPORT_MESSAGE_LIMIT = 1_000  # what a Payer's /paysupport question may carry


def to_support(turn: Turn, deps: BotDeps, text: str) -> None:
    """/paysupport <question>: into support's inbox (and to the admins at once); support
    answers with /admin reply <user id> <text>, which the Payer gets in this chat."""
    question = text[:SUPPORT_MESSAGE_LIMIT]
    deps.payments.alert("question from a payer", None, {"payer": turn.user_id, "text": question})
    deps.notices.alert(f"question from payer {turn.user_id}: {question}")
    turn.send(Screen(turn.text("paysupport_sent")))


def _reply(turn: Turn, deps: BotDeps, words: list[str]) -> None:
    """/admin reply <user id> <text>: the text goes to that user's chat, audited."""
    user_id = _user_id(words[0]) if words else None
    if user_id is None or len(words) < 2 or not words[1].strip():
        turn.send(Screen(t(turn.lang, "admin_reply_usage")))
        return
    account = deps.accounts.get(user_id)
    if account is None:
        turn.send(Screen(t(turn.lang, "admin_no_account", id=user_id)))
        return
    lang = account.language if account.language in ("en", "ru") else "en"
    answer = t(lang, "support_reply", text=words[1].strip()[:3_500])
    turn.calls.append(send_message(user_id, Screen(answer)))
    _audit.record(
        turn.user_id, user_id, "reply", {"text": words[1].strip()[:200]}, deps.clock.now()
    )
    turn.send(Screen(t(turn.lang, "admin_reply_sent", id=user_id)))


def on_admin_text(
    turn: Turn, deps: BotDeps, state: dict[str, Any], text: str, *, message_id: int
) -> bool:
    """Handle an answer to an admin question; False when the state is not one of ours (or
    the writer is no longer an admin), so the router answers as it would anyway.

    `message_id` is the answer's Telegram message id: it names the ledger cause of an
    adjustment, so the same message delivered again cannot move money twice."""
    ask = state.get("ask")
    if not isinstance(ask, dict) or "admin" not in ask or not is_admin(turn, deps):
        return False
    kind = ask.get("admin")
    target = ask.get("user")
    if admin_orders.on_text(turn, deps, ask, text):
        return True
    if kind == "lookup":
        user_id = _user_id(text)
        order = admin_orders.find_order(deps, text) if user_id is None else None
        if user_id is None and order is None:
            # The question stays open: the next message is another try.
            turn.send(admin_orders.lookup_text(turn, deps, text))
            return True
        deps.conversations.clear(turn.user_id)
        if order is not None:
            turn.send(admin_orders.order_screen(turn, deps, order))
        elif user_id is not None:
            turn.send(user_screen(turn, deps, user_id))
    elif kind == "limit" and isinstance(target, int) and not isinstance(target, bool):
        _set_limit(turn, deps, target, text)
    elif kind == "adjust" and isinstance(target, int) and not isinstance(target, bool):
        _adjust(turn, deps, target, text, message_id)
    else:  # a question this version does not know: drop it
        deps.conversations.clear(turn.user_id)
        turn.send(Screen(turn.text("nothing_asked")))
    return True


class _BadInput(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


BadMoney = _BadInput


def parse_money_text(text: str, lang: str) -> tuple[Currency, int]:
    """ "EUR 150.00" typed by support -> (currency, minor units)."""
    parts = text.split()
    if len(parts) != 2:
        raise _BadInput(t(lang, "admin_amount_format"))
    return parse_money(parts[0], parts[1], lang)


def parse_money(first: str, second: str, lang: str) -> tuple[Currency, int]:
    """ "EUR 50.00", "50 EUR", "usd -10,5" -> (currency, minor units). Never a float."""
    for code, amount in ((first, second), (second, first)):
        # The word is the currency, the other part the amount (two words are neither).
        if code.isascii() and code.isalpha() and not amount.isalpha():
            try:
                currency = Currency.parse(code)
                return currency, parse_amount(amount, currency, signed=True)
            except BillingError as error:
                raise _BadInput(error.message) from error
    raise _BadInput(t(lang, "admin_amount_format"))


def _retry(turn: Turn, user_id: int, error: str, example: str) -> None:
    # The question stays open: the next message is another try.
    turn.send(
        Screen(t(turn.lang, "admin_bad_amount", error=error, example=example), _back(turn, user_id))
    )


def _set_limit(turn: Turn, deps: BotDeps, user_id: int, text: str) -> None:
    parts = text.split()
    try:
        if len(parts) != 2:
            raise _BadInput(t(turn.lang, "admin_amount_format"))
        currency, limit = parse_money(parts[0], parts[1], turn.lang)
        if limit < 0:
            raise _BadInput(t(turn.lang, "admin_negative_limit"))
        previous = deps.ledger.wallet(user_id, currency).credit_limit
        wallet = deps.ledger.set_credit_limit(user_id, currency, limit)
    except _BadInput as error:
        _retry(turn, user_id, error.message, "EUR 50.00")
        return
    except InvalidAmount as error:
        _retry(turn, user_id, error.message, "EUR 50.00")
        return
    _audit.record(
        turn.user_id,
        user_id,
        "credit_limit",
        {"currency": currency.value, "limit": limit, "previous": previous},
        deps.clock.now(),
    )
    deps.conversations.clear(turn.user_id)
    if wallet.credit_limit != previous:
        deps.notices.credit_limit_changed(user_id, currency, wallet.credit_limit)
    done = t(
        turn.lang,
        "admin_limit_set",
        id=user_id,
        currency=currency.value,
        limit=format_minor(wallet.credit_limit, currency),
    )
    turn.send(Screen(done, _back(turn, user_id)))


def _adjust(turn: Turn, deps: BotDeps, user_id: int, text: str, message_id: int) -> None:
    parts = text.split(maxsplit=2)
    cause = f"admin-adjust:{turn.user_id}:{message_id}"
    try:
        if len(parts) < 2:
            raise _BadInput(t(turn.lang, "admin_amount_format"))
        currency, amount = parse_money(parts[0], parts[1], turn.lang)
        reason = parts[2].strip() if len(parts) == 3 else ""
        if amount == 0:
            raise _BadInput(t(turn.lang, "admin_zero_adjust"))
        if not reason:
            raise _BadInput(t(turn.lang, "admin_no_reason"))
        movement: Movement = deps.ledger.adjust(
            user_id, currency, amount, cause=cause, reason=reason
        )
    except _BadInput as error:
        _retry(turn, user_id, error.message, "EUR -10.00 goodwill")
        return
    except InvalidAmount as error:
        _retry(turn, user_id, error.message, "EUR -10.00 goodwill")
        return
    deps.conversations.clear(turn.user_id)
    if not movement.applied_now:
        turn.send(Screen(t(turn.lang, "admin_already_applied"), _back(turn, user_id)))
        return
    _audit.record(
        turn.user_id,
        user_id,
        "adjust",
        {"currency": currency.value, "amount": amount, "reason": reason, "cause": cause},
        deps.clock.now(),
    )
    entry = movement.entry
    deps.notices.adjusted(user_id, entry)
    done = t(
        turn.lang,
        "admin_adjusted",
        id=user_id,
        amount=("+" if amount > 0 else "") + format_minor(amount, currency),
        reason=reason,
        balance=format_minor(entry.balance_after, currency),
    )
    turn.send(Screen(done, _back(turn, user_id)))


# --- buttons ----------------------------------------------------------------------------------


def _target(turn: Turn, deps: BotDeps, pressed: Pressed) -> int | None:
    """The user a button names, if the presser is an admin; otherwise a stale answer."""
    user_id = _user_id(pressed.arg(0))
    if not is_admin(turn, deps) or user_id is None:
        _stale(turn)
        return None
    return user_id


def on_user(turn: Turn, deps: BotDeps, pressed: Pressed) -> None:
    user_id = _target(turn, deps, pressed)
    if user_id is None:
        return
    state = deps.conversations.get(turn.user_id, deps.clock.now()) or {}
    ask = state.get("ask")
    if isinstance(ask, dict) and "admin" in ask:
        deps.conversations.clear(turn.user_id)  # "back" abandons the open question
    turn.show(user_screen(turn, deps, user_id))


def _ask(turn: Turn, deps: BotDeps, pressed: Pressed, kind: str, key: str) -> None:
    user_id = _target(turn, deps, pressed)
    if user_id is None:
        return
    state = {"ask": {"admin": kind, "user": user_id}}
    deps.conversations.put(turn.user_id, state, deps.clock.now())
    turn.show(Screen(t(turn.lang, key, id=user_id), _back(turn, user_id)))


def on_ask_limit(turn: Turn, deps: BotDeps, pressed: Pressed) -> None:
    _ask(turn, deps, pressed, "limit", "admin_ask_limit")


def on_ask_adjust(turn: Turn, deps: BotDeps, pressed: Pressed) -> None:
    _ask(turn, deps, pressed, "adjust", "admin_ask_adjust")


def on_verify(turn: Turn, deps: BotDeps, pressed: Pressed) -> None:
    user_id = _target(turn, deps, pressed)
    if user_id is None:
        return
    account = deps.accounts.get(user_id)
    if account is None:
        _stale(turn)
        return
    if account.profile.country is None:
        turn.answer(t(turn.lang, "admin_no_country"), alert=True)
        return
    try:
        profile = deps.profiles.verify_country_by_support(user_id, turn.user_id, deps.admin_ids)
    except NotFound:
        _stale(turn)
        return
    except BillingError as error:
        turn.answer(error.message, alert=True)
        return
    if not account.profile.verified_by_support:
        _audit.record(
            turn.user_id,
            user_id,
            "verify_country",
            {"country": profile.country},
            deps.clock.now(),
        )
    turn.answer(t(turn.lang, "admin_verified"))
    turn.show(user_screen(turn, deps, user_id))


def _subscription(turn: Turn, deps: BotDeps, pressed: Pressed) -> Subscription | None:
    if not is_admin(turn, deps):
        _stale(turn)
        return None
    try:
        return deps.subscriptions.get(pressed.arg(0) or "", viewer=turn.user_id)
    except NotFound:
        _stale(turn)
        return None


def on_ask_terminate(turn: Turn, deps: BotDeps, pressed: Pressed) -> None:
    sub = _subscription(turn, deps, pressed)
    if sub is None:
        return
    if not sub.is_active:
        turn.answer(t(turn.lang, "admin_not_active"), alert=True)
        return
    credit = format_minor(remaining_value(sub, deps.clock.now()), sub.currency)
    product = title(deps.catalog.product(sub.product), turn.lang)
    text = t(
        turn.lang,
        "admin_terminate_confirm",
        product=product,
        id=sub.id,
        customer=person(deps, sub.customer_id, turn.user_id, turn.lang, sub.customer_name),
        payer=person(deps, sub.payer_id, turn.user_id, turn.lang),
        credit=credit,
    )
    keyboard = [
        [button(t(turn.lang, "admin_btn_terminate_now", credit=credit), encode("aT", sub.id))],
        *_back(turn, sub.payer_id),
    ]
    turn.show(Screen(text, keyboard))


def on_terminate(turn: Turn, deps: BotDeps, pressed: Pressed) -> None:
    sub = _subscription(turn, deps, pressed)
    if sub is None:
        return
    try:
        ended, movement = deps.subscriptions.terminate_with_credit(sub.id, admin_id=turn.user_id)
    except InvalidState:
        turn.answer(t(turn.lang, "admin_not_active"), alert=True)
        return
    except BillingError as error:
        turn.answer(error.message, alert=True)
        return
    credit = movement.entry.amount if movement is not None else 0
    details: dict[str, Any] = {
        "subscription": ended.id,
        "product": ended.product,
        "credit": credit,
        "currency": ended.currency.value,
    }
    if movement is not None:
        details["cause"] = movement.entry.cause
    if movement is None or movement.applied_now:
        for user_id in dict.fromkeys((ended.payer_id, ended.customer_id)):
            _audit.record(turn.user_id, user_id, "terminate", details, deps.clock.now())
        deps.notices.terminated(ended, credit)
    text = t(
        turn.lang,
        "admin_terminated",
        product=title(deps.catalog.product(ended.product), turn.lang),
        id=ended.id,
        credit=format_minor(credit, ended.currency),
        payer=ended.payer_id,
    )
    turn.show(Screen(text, _back(turn, ended.payer_id)))


# --- /help for admins ------------------------------------------------------------------------


def help_text(turn: Turn, deps: BotDeps) -> str:
    """What /help says: the commands, and for an admin the support ones too (anyone else
    sees no trace of them)."""
    text = t(turn.lang, "help")
    return text + t(turn.lang, "admin_help") if is_admin(turn, deps) else text


# --- support actions as sentences ------------------------------------------------------------


def _who(deps: BotDeps, admin_id: int, viewer: int, lang: str) -> str:
    if admin_id == viewer:
        return t(lang, "admin_you")
    account = deps.accounts.get(admin_id)
    if account is not None and account.first_name:
        return t(lang, "admin_who", name=account.first_name, id=admin_id)
    return t(lang, "admin_who_id", id=admin_id)


def _money(details: dict[str, Any], key: str) -> str | None:
    """An amount the entry recorded in minor units, formatted; None when unreadable."""
    amount, code = details.get(key), details.get("currency")
    if isinstance(amount, bool) or not isinstance(amount, int) or not isinstance(code, str):
        return None
    try:
        return format_minor(amount, Currency.parse(code))
    except BillingError:
        return None


def _text(details: dict[str, Any], key: str) -> str | None:
    value = details.get(key)
    return value[:200] if isinstance(value, str) and value else None


def _audit_values(deps: BotDeps, entry: AuditEntry, lang: str) -> dict[str, str | None]:
    """The parts of an entry's sentence; a None among them means it cannot be told."""
    details = entry.details
    values: dict[str, str | None] = {"unknown": None}
    match entry.action:
        case "credit_limit":
            values = {
                "currency": _text(details, "currency"),
                "limit": _money(details, "limit"),
                "previous": _money(details, "previous") or "—",
            }
        case "adjust":
            amount = _money(details, "amount")
            positive = isinstance(details.get("amount"), int) and details["amount"] > 0
            values = {
                "amount": f"+{amount}" if amount and positive else amount,
                "reason": _text(details, "reason"),
            }
        case "verify_country":
            values = {"country": _text(details, "country")}
        case "bank_transfer_paid" | "refund":
            values = {"order": _text(details, "order"), "amount": _money(details, "amount")}
        case "terminate":
            product = _text(details, "product")
            if product is not None and product in deps.catalog.products:
                product = title(deps.catalog.product(product), lang)
            values = {
                "product": product,
                "subscription": _text(details, "subscription"),
                "credit": _money(details, "credit"),
            }
        case "resolve_alert":
            values = {"reason": _text(details, "reason")}
        case "reply":
            values = {"text": _text(details, "text")}
    return values


def audit_sentence(deps: BotDeps, entry: AuditEntry, *, viewer: int, lang: str) -> str:
    """One support action as a sentence: who did what, amounts formatted (SPEC §9)."""
    who = _who(deps, entry.admin_id, viewer, lang)
    values = _audit_values(deps, entry, lang)
    if all(value is not None for value in values.values()):
        return t(lang, f"audit_{entry.action}", who=who, **values)
    # An action this version does not know, or an entry missing a part: its name only.
    return t(lang, "audit_other", action=entry.action, who=who)


# --- support's inbox: open alerts, newest first (SPEC §9) ------------------------------------

INBOX_PAGE = 10
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_SUFFIX = 8  # the alert id's random part: 8 hex digits


def alert_token(alert_id: str) -> str | None:
    """A short stand-in for an alert id in callback data ("<ISO time>#<8 hex>" has colons
    and is long): the time in microseconds in base 36, then the random part."""
    moment, _, suffix = alert_id.partition("#")
    try:
        micros = (parse_iso(moment) - _EPOCH) // timedelta(microseconds=1)
    except ValueError:
        return None
    if micros < 0 or len(suffix) != _SUFFIX or not all(c in _BASE36[:16] for c in suffix):
        return None
    digits = ""
    while True:
        micros, rest = divmod(micros, 36)
        digits = _BASE36[rest] + digits
        if micros == 0:
            return digits + suffix


def alert_id_of(token: str | None) -> str | None:
    """The alert id a token stands for; None for anything no token looks like (forged)."""
    if not token or not 1 + _SUFFIX <= len(token) <= 13 + _SUFFIX:
        return None
    digits, suffix = token[:-_SUFFIX], token[-_SUFFIX:]
    if not all(c in _BASE36 for c in digits) or not all(c in _BASE36[:16] for c in suffix):
        return None
    try:
        moment = _EPOCH + timedelta(microseconds=int(digits, 36))
    except OverflowError:
        return None
    return f"{iso(moment)}#{suffix}"


def _alert_order(deps: BotDeps, alert: Alert) -> Order | None:
    order_id, ref = _text(alert.details, "order"), _text(alert.details, "ref")
    order = deps.payments.order(order_id) if order_id else None
    if order is None and ref:
        order = deps.payments.order_of_provider(ref)
    return order


def _named_payer(alert: Alert) -> int | None:
    payer = alert.details.get("payer")
    return payer if isinstance(payer, int) and not isinstance(payer, bool) else None


def alert_payer(deps: BotDeps, alert: Alert) -> int | None:
    """The Payer an alert concerns: named in it, else the Payer of its order."""
    payer = _named_payer(alert)
    if payer is None:
        order = _alert_order(deps, alert)
        payer = order.payer_id if order is not None else None
    return payer


def _payer_label(deps: BotDeps, payer_id: int | None, lang: str) -> str:
    if payer_id is None:
        return t(lang, "inbox_payer_unknown")
    account = deps.accounts.get(payer_id)
    if account is not None and account.first_name:
        return t(lang, "admin_who", name=account.first_name, id=payer_id)
    return t(lang, "admin_who_id", id=payer_id)


def _inbox_entry(deps: BotDeps, n: int, alert: Alert, lang: str) -> str:
    order = _alert_order(deps, alert)
    order_id = _text(alert.details, "order")
    amount = _money(alert.details, "amount")
    if amount is None and order is not None:
        amount = format_minor(order.amount, order.currency)
    parts = [t(lang, "inbox_order", id=order_id)] if order_id else []
    payer = _named_payer(alert)
    if payer is None and order is not None:
        payer = order.payer_id
    parts.append(t(lang, "inbox_payer", payer=_payer_label(deps, payer, lang)))
    if amount is not None:
        parts.append(t(lang, "inbox_amount", amount=amount))
    at = date_text(alert.created_at, lang)
    head = t(lang, "inbox_line", n=n, at=at, what=alert.reason[:200])
    return f"{head}\n    {' · '.join(parts)}"


def inbox_screen(
    turn: Turn, deps: BotDeps, before: str | None = None, *, resolved: str | None = None
) -> Screen:
    """One page of open alerts, newest first (older than `before`, the alert that ended
    the page before). `resolved` is left out even if the index has not caught up yet."""
    lang = turn.lang
    # One more than a page tells whether there is an older one; one more again stands in
    # for the alert just resolved, should the index still hold it.
    found = deps.orders.open_alerts(INBOX_PAGE + 2, before=before)
    still_open = [alert for alert in found if alert.id != resolved]
    alerts, more = still_open[:INBOX_PAGE], len(still_open) > INBOX_PAGE
    head = t(lang, "inbox_title") + (t(lang, "inbox_older") if before else "")
    if not alerts:
        return Screen(f"{head}\n\n{t(lang, 'inbox_empty')}", _inbox_nav(lang, before, None))
    page = alert_token(before) if before else None
    entries: list[str] = []
    buttons: list[dict[str, Any]] = []
    for n, alert in enumerate(alerts, start=1):
        entries.append(_inbox_entry(deps, n, alert, lang))
        token = alert_token(alert.id)
        if token is not None:
            label = t(lang, "inbox_btn_resolved", n=n)
            buttons.append(button(label, encode("ax", token, page or "-")))
    keyboard = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    keyboard += _inbox_nav(lang, before, alerts[-1].id if more else None)
    text = "\n\n".join([head, *entries])
    return Screen(text[:4096], keyboard)


def _inbox_nav(lang: str, before: str | None, older: str | None) -> list[list[dict[str, Any]]]:
    row: list[dict[str, Any]] = []
    if before is not None:
        row.append(button(t(lang, "inbox_btn_newest"), encode("ai")))
    token = alert_token(older) if older else None
    if token is not None:
        row.append(button(t(lang, "inbox_btn_older"), encode("ai", token)))
    return [row] if row else []


def on_inbox(turn: Turn, deps: BotDeps, pressed: Pressed) -> None:
    if not is_admin(turn, deps):
        _stale(turn)
        return
    state = deps.conversations.get(turn.user_id, deps.clock.now()) or {}
    ask = state.get("ask")
    if isinstance(ask, dict) and "admin" in ask:
        deps.conversations.clear(turn.user_id)  # the inbox abandons the lookup question
    turn.show(inbox_screen(turn, deps, alert_id_of(pressed.arg(0))))


def on_resolve(turn: Turn, deps: BotDeps, pressed: Pressed) -> None:
    """Resolved: re-checked here (an admin, an alert still open); the page stays."""
    if not is_admin(turn, deps):
        _stale(turn)
        return
    page = alert_id_of(pressed.arg(1))
    alert_id = alert_id_of(pressed.arg(0)) if len(pressed.args) <= 2 else None
    now = deps.clock.now()
    resolved = deps.orders.resolve(alert_id, by_admin=turn.user_id, now=now) if alert_id else None
    if resolved is None:
        turn.answer(t(turn.lang, "inbox_gone"), alert=True)
        turn.show(inbox_screen(turn, deps, page))
        return
    payer = alert_payer(deps, resolved)
    if payer is not None:
        details = {"alert": resolved.id, "reason": resolved.reason[:300]}
        _audit.record(turn.user_id, payer, "resolve_alert", details, now)
    turn.answer(t(turn.lang, "inbox_resolved"))
    turn.show(inbox_screen(turn, deps, page, resolved=resolved.id))


ADMIN_ACTIONS: dict[str, Callable[[Turn, BotDeps, Pressed], None]] = {
    "ai": on_inbox,
    "ax": on_resolve,
    "au": on_user,
    "al": on_ask_limit,
    "aa": on_ask_adjust,
    "av": on_verify,
    "at": on_ask_terminate,
    "aT": on_terminate,
    **admin_orders.ORDER_ACTIONS,
}
