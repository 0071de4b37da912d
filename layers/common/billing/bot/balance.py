"""/balance: each wallet, its credit limit, the last entries, top-up, and the invoices."""

from __future__ import annotations

from billing.bot.callbacks import encode
from billing.bot.calls import Call, Screen, button
from billing.bot.deps import BotDeps
from billing.bot.texts import date_text
from billing.bot.turn import Turn
from billing.bot.views import entry_reason
from billing.domain.money import format_minor
from billing.orders.invoices import document_from_json

ENTRIES_SHOWN = 5
INVOICES_SHOWN = 5


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
                    reason=entry_reason(deps, entry, turn.lang),
                )
            )
    keyboard = [[button(turn.text("btn_top_up"), encode("bt"))]]
    invoices = deps.orders.invoices_of(turn.user_id, INVOICES_SHOWN)
    if invoices:
        lines += ["", turn.text("invoices_title")]
    for invoice in invoices:
        label = turn.text(
            "btn_invoice",
            number=invoice.number,
            amount=format_minor(invoice.total, invoice.currency),
        )
        keyboard.append([button(label, encode("iv", invoice.number))])
    return Screen("\n".join(lines), keyboard)


def on_invoice(turn: Turn, deps: BotDeps, number: str | None) -> None:
    """Send an invoice again; only its Payer may have it."""
    record = deps.orders.invoice(number or "")
    if record is None or record.payer_id != turn.user_id:
        turn.answer(turn.text("stale"), alert=True)
        return
    call = invoice_call(deps, turn.chat_id, record.number)
    if call is not None:
        turn.calls.append(call)


def invoice_call(deps: BotDeps, chat_id: int, number: str | None) -> Call | None:
    """The invoice as a PDF document to send (SPEC §8)."""
    from billing.documents.render import render_invoice

    record = deps.orders.invoice(number or "")
    if record is None:
        return None
    content = render_invoice(document_from_json(record.document))
    return Call(
        "sendDocument",
        {"chat_id": chat_id, "caption": record.number},
        files={"document": (f"{record.number}.pdf", content, "application/pdf")},
    )
