"""Registers the deployed webhook with Telegram: setWebhook (with the secret token and the
update kinds the bot handles) and setMyCommands in English (default) and Russian.

    make set-webhook [STACK=sip-billing] [REGION=eu-central-1]

The webhook URL comes from the stack's TelegramWebhookUrl output (or --webhook-url); the
bot token and the webhook secret come from SSM Parameter Store, by the names the stack
was deployed with (or --token-param / --secret-param). Nothing secret is printed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import boto3

from billing.bot.commands import ALLOWED_UPDATES, register_menu
from billing.config import Settings
from billing.i18n import LANGUAGES
from billing.telegram.client import BotApi
from billing.telegram.errors import TelegramError


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    params = {p["ParameterKey"]: p["ParameterValue"] for p in described.get("Parameters", [])}
    return {**params, **outputs}


# Telegram opens at most this many connections to the webhook at once (its default, said
# out loud): template.yaml reserves as many executions for TelegramWebhookFunction.
MAX_CONNECTIONS = 40


def register(api: BotApi, webhook_url: str, secret: str) -> None:
    api.call(
        "setWebhook",
        {
            "url": webhook_url,
            "secret_token": secret,
            "allowed_updates": ALLOWED_UPDATES,
            "max_connections": MAX_CONNECTIONS,
        },
    )
    register_menu(api)  # English as the default, then each other language


def main(argv: list[str] | None = None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="sip-billing")
    parser.add_argument("--region", default=defaults.region)
    parser.add_argument("--endpoint-url", help="AWS endpoint (tests, the local stack)")
    parser.add_argument("--webhook-url", help="skip the stack lookup and use this URL")
    parser.add_argument("--token-param", help="SSM name of the bot token")
    parser.add_argument("--secret-param", help="SSM name of the webhook secret")
    parser.add_argument("--telegram-api-base", default=defaults.telegram_api_base)
    args = parser.parse_args(argv)

    aws = {"region_name": args.region, "endpoint_url": args.endpoint_url}
    found: dict[str, str] = {}
    if not (args.webhook_url and args.token_param and args.secret_param):
        found = stack_outputs(boto3.client("cloudformation", **aws), args.stack)
    url = args.webhook_url or found["TelegramWebhookUrl"]
    token_param = args.token_param or found.get("BotTokenParameter", defaults.bot_token_param)
    secret_param = args.secret_param or found.get(
        "WebhookSecretParameter", defaults.webhook_secret_param
    )
    ssm = boto3.client("ssm", **aws)

    def read(name: str) -> str:
        return str(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])

    api = BotApi(args.telegram_api_base, read(token_param))
    try:
        register(api, url, read(secret_param))
    except TelegramError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        api.close()
    print(f"webhook set to {url}; commands registered in {', '.join(LANGUAGES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
