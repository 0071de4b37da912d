"""/balance: each wallet, its credit limit, the last entries, and top-up."""

from __future__ import annotations

from billing.bot.callbacks import encode
from billing.bot.calls import Screen, button
from billing.bot.deps import BotDeps
from billing.bot.texts import date_text
from billing.bot.turn import Turn
from billing.domain.money import format_minor

ENTRIES_SHOWN = 5


def balance_screen(turn: Turn, deps: BotDeps) -> Screen:
    wallets = deps.ledger.wallets(turn.user_id)
    lines = [turn.text("balance_title"), ""]
    if not wallets:
        lines.append(turn.text("balance_empty"))
    for wallet in wallets:
        line = turn.text(
            "balance_wallet",
            currency=wallet.currency.value,
            balance=format_minor(wallet.balance, wallet.currency),
        )
        if wallet.credit_limit:
            line += turn.text(
                "balance_limit", limit=format_minor(wallet.credit_limit, wallet.currency)
            )
        lines.append(line)
        for entry in deps.ledger.last_entries(turn.user_id, wallet.currency, ENTRIES_SHOWN):
            sign = "+" if entry.amount > 0 else ""
            lines.append(
                turn.text(
                    "balance_entry",
                    at=date_text(entry.created_at, turn.lang),
                    amount=sign + format_minor(entry.amount, entry.currency),
                    reason=entry.reason,
                )
            )
    keyboard = [[button(turn.text("btn_top_up"), encode("bt"))]]
    return Screen("\n".join(lines), keyboard)


def on_top_up(turn: Turn, deps: BotDeps) -> None:
    # The payment methods arrive with the payments issue; until then say who can help,
    # rather than offering a button that leads nowhere.
    turn.answer(turn.text("top_up_soon"), alert=True)
