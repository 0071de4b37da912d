"""Account use cases: the Payer's billing profile (`/billing`, SPEC §6, §7)."""
