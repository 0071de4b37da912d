"""The wallet ledger (SPEC §4): per Payer per currency, every change an immutable entry."""
