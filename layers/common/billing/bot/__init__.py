"""The Telegram bot: routing, screens, keyboards and texts (English and Russian).

The bot turns an update into Bot API calls; it never calls Telegram itself. The webhook
gate returns the first call in the webhook response and sends the rest with the client.
"""
