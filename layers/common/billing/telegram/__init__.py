"""Telegram Bot API: a small synchronous client (`client.BotApi`) and typed models of the
incoming updates the bot acts on (`models.parse_update`).

The calls the bot makes are checked against the Bot API contract
(contracts/telegram-bot-api/api.json) by the fake Bot API in local/, in tests and the local
stack; nothing here reads that file.
"""
