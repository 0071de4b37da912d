"""Shared pieces of screens: names, amounts, options, quotes, history lines."""

from __future__ import annotations

from decimal import Decimal

from billing.bot.deps import BotDeps
from billing.bot.texts import date_text, method_name, t
from billing.domain.catalog import OptionValue, Product, show_value
from billing.domain.money import format_minor
from billing.domain.pricing import Quote
from billing.domain.subscription import ChangeKind, HistoryRecord, Subscription
from billing.domain.tax import NOT_SUBJECT, REVERSE_CHARGE
from billing.i18n import plural
from billing.ledger.model import LedgerEntry
from billing.store.accounts import AccountsRepository


def title(product: Product, lang: str) -> str:
    return product.titles.get(lang) or product.titles["en"]


def person(deps: BotDeps, user_id: int, viewer: int, lang: str, known: str | None = None) -> str:
    """Someone as the viewer knows them: "you", their name, or the name Telegram gave when
    the viewer picked them (`known`, kept on the subscription, or in this conversation):
    they may never have started the bot."""
    if user_id == viewer:
        return t(lang, "you")
    return known_name(deps, user_id, viewer, known) or t(lang, "another_user")


def known_name(deps: BotDeps, user_id: int, viewer: int, known: str | None) -> str | None:
    name = first_name(deps.accounts, user_id) or known
    if name is None:
        state = deps.conversations.get(viewer, deps.clock.now()) or {}
        names = state.get("names")
        picked = names.get(str(user_id)) if isinstance(names, dict) else None
        name = picked if isinstance(picked, str) and picked else None
    return name


def for_person(
    deps: BotDeps, user_id: int, viewer: int, lang: str, known: str | None = None
) -> str:
    """ "for you" / "for Anna" as one phrase: Russian puts the name after «для пользователя»,
    so it never needs declining ("для вас", "для пользователя Анна")."""
    if user_id == viewer:
        return t(lang, "for_you")
    return _for_name(lang, known_name(deps, user_id, viewer, known))


def for_label(
    accounts: AccountsRepository, user_id: int, viewer: int, lang: str, known: str | None = None
) -> str:
    if user_id == viewer:
        return t(lang, "for_you")
    return _for_name(lang, first_name(accounts, user_id) or known)


def _for_name(lang: str, name: str | None) -> str:
    return t(lang, "for_user", name=name) if name else t(lang, "for_another_user")


def person_label(
    accounts: AccountsRepository, user_id: int, viewer: int, lang: str, known: str | None = None
) -> str:
    """ "you" to the viewer, else the user's first name: people are named, never numbered."""
    if user_id == viewer:
        return t(lang, "you")
    return first_name(accounts, user_id) or known or t(lang, "another_user")


def first_name(accounts: AccountsRepository, user_id: int) -> str | None:
    account = accounts.get(user_id)
    return account.first_name if account is not None and account.first_name else None


def entry_reason(deps: BotDeps, entry: LedgerEntry, lang: str) -> str:
    """A ledger entry's reason in the reader's language (its catalog wording); support's own
    words and entries written before wordings existed are shown as stored."""
    if not entry.reason_key:
        return entry.reason
    shown: dict[str, str] = {}
    try:
        for name, value in entry.reason_facts:
            if name == "product" and value in deps.catalog.products:
                shown[name] = title(deps.catalog.product(value), lang)
            elif name == "months" and value.isdigit():
                shown[name] = plural(lang, "months_n", int(value))
            elif name == "method":
                shown[name] = method_name(lang, value)
            else:
                shown[name] = value
        return t(lang, f"ledger_{entry.reason_key}", **shown)
    except (KeyError, IndexError):
        return entry.reason  # a wording this code no longer knows: the English original


def value_text(value: OptionValue, lang: str) -> str:
    """An option's value as the reader reads it ("вкл" / "выкл"); buttons carry the
    canonical show_value, which the catalog parses."""
    if isinstance(value, bool):
        return t(lang, "on" if value else "off")
    return show_value(value)


def option_title(product: Product, key: str, lang: str) -> str:
    spec = product.option(key)
    return spec.titles.get(lang) or spec.titles.get("en") or key


def options_text(product: Product, options: dict[str, OptionValue], lang: str) -> str:
    return "\n".join(
        f"• {option_title(product, key, lang)}: {value_text(value, lang)}"
        for key, value in options.items()
    )


def percent(value: Decimal) -> str:
    return format(value.normalize(), "f")


def quote_text(deps: BotDeps, quote: Quote, for_customer: str, lang: str) -> str:
    product = deps.catalog.product(quote.product)
    titles = {
        line.id: (line.titles.get(lang) or line.titles.get("en") or line.id)
        for line in product.lines
    }
    lines = "\n".join(
        t(
            lang,
            "quote_line",
            option=titles.get(line.option, line.option),
            quantity=line.quantity,
            unit=format_minor(line.unit_price, quote.currency),
            months=quote.months,
            amount=format_minor(line.amount, quote.currency),
        )
        for line in quote.lines
    )
    if quote.note == REVERSE_CHARGE:
        vat_line = t(lang, "vat_reverse_charge")
    elif quote.note == NOT_SUBJECT:
        vat_line = t(lang, "vat_not_subject")
    else:
        vat_line = t(
            lang,
            "vat_line",
            rate=percent(quote.vat_rate),
            vat=format_minor(quote.vat, quote.currency),
        )
    sums = []
    if quote.discount:
        # Without a discount the subtotal is the net: one line, not "Discount 0%: -0.00".
        sums.append(t(lang, "quote_subtotal", amount=format_minor(quote.subtotal, quote.currency)))
        sums.append(
            t(
                lang,
                "quote_discount",
                percent=percent(quote.discount_percent),
                amount=format_minor(quote.discount, quote.currency),
            )
        )
    sums.append(t(lang, "quote_net", amount=format_minor(quote.net, quote.currency)))
    sums.append(vat_line)
    return t(
        lang,
        "quote",
        product=title(product, lang),
        for_customer=for_customer,
        period=plural(lang, "months_n", quote.months),
        currency=quote.currency.value,
        lines=lines,
        sums="\n".join(sums),
        total=format_minor(quote.total, quote.currency),
    )


def history_line(deps: BotDeps, sub: Subscription, record: HistoryRecord, lang: str) -> str:
    """One line of the subscription's history, a sentence for every kind of change."""
    at = date_text(record.at, lang)
    old = date_text(record.old_expiry, lang) if record.old_expiry else "—"
    new = date_text(record.new_expiry, lang) if record.new_expiry else "—"
    if record.kind is ChangeKind.CHANGE:
        what = _changed_what(deps, sub, record, lang)
        if record.old_expiry == record.new_expiry:
            return t(lang, "history_change_kept", at=at, what=what)
        return t(lang, "history_change", at=at, old=old, new=new, what=what)
    switched = {
        ChangeKind.AUTO_RENEW: "on" if record.details.get("on") else "off",
        ChangeKind.CUSTOMER_MAY_CHANGE: "yes" if record.details.get("allowed") else "no",
    }
    state = t(lang, switched[record.kind]) if record.kind in switched else ""
    return t(lang, f"history_{record.kind.value}", at=at, old=old, new=new, state=state)


def _changed_what(deps: BotDeps, sub: Subscription, record: HistoryRecord, lang: str) -> str:
    product = deps.catalog.product(sub.product)
    changed = record.details.get("changed", {})
    return ", ".join(
        t(
            lang,
            "changed_what",
            option=option_title(product, key, lang),
            old="—" if pair[0] is None else value_text(pair[0], lang),
            new="—" if pair[1] is None else value_text(pair[1], lang),
        )
        for key, pair in changed.items()
    )
