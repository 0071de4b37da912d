"""Billing backend of a Telegram-to-SIP telephony service (shared Lambda layer)."""
