"""The AWS side of the local stack: moto in place of DynamoDB, SSM and SQS, and the real
handlers invoked the way Lambda would.

`LocalStack().start()` starts a moto server in this process, points the environment (which
`billing.config` reads) at it, creates the tables and the renewal queue as template.yaml
declares them, stores the secrets as SSM SecureString parameters, registers the command
menu with the built-in fake Bot API and imports the handlers.
moto keeps its state in the process, so every run starts empty.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from billing.clock import ShiftedClock, SystemClock
from local.entitlement_sink import LOCAL_BUS, EventSink, create_bus
from local.entitlement_stream import EntitlementStream
from local.events import REGION, FakeContext, http_api_event, scheduled_event
from local.fake_bot_api import FakeBotApi
from local.moto_server import MotoServer
from local.peers import PaymentPeers, start_payment_peers
from local.queue_driver import drain
from local.template_tables import (
    DEFAULT_TEMPLATE,
    LOCAL_TABLE_NAMES,
    create_tables,
    load_template,
)

log = logging.getLogger("local.stack")

ROOT = Path(__file__).resolve().parent.parent
# Lambda's task root and /opt/python; the venv's .pth adds them too.
IMPORT_PATHS = (ROOT, ROOT / "layers" / "common")

DEFAULT_BOT_TOKEN = "000000:local-bot-token"  # noqa: S105 - a local placeholder
DEFAULT_WEBHOOK_SECRET = "local-webhook-secret"  # noqa: S105 - a local placeholder
# Stands in for AWS IAM on the entitlements routes (header X-Local-Key): SigV4 cannot be
# verified without AWS.
DEFAULT_ENTITLEMENTS_KEY = "local-entitlements-key"
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name

# Never real credentials: whatever the shell holds, nothing may reach an AWS account.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
_DROPPED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")

_TABLE_ENV = {
    "AccountsTable": "ACCOUNTS_TABLE",
    "SubscriptionsTable": "SUBSCRIPTIONS_TABLE",
    "BalancesTable": "BALANCES_TABLE",
    "OrdersTable": "ORDERS_TABLE",
    "IdempotencyTable": "IDEMPOTENCY_TABLE",
    "EntitlementsTable": "ENTITLEMENTS_TABLE",
}

RENEWAL_QUEUE = "RenewalQueue"
RENEWAL_DLQ = "RenewalDeadLetterQueue"


@dataclass(frozen=True)
class Function:
    module: str
    # The deployed name is "<stack>-<LogicalId>-<suffix>"; this is close enough for logs.
    name: str
    timeout_seconds: float


# Keys of `invoke`. Timeouts as in template.yaml (Globals 15 s, the sweep 60 s).
FUNCTIONS: Mapping[str, Function] = {
    "telegram_webhook": Function(
        "functions.telegram_webhook.app", "sip-billing-TelegramWebhookFunction", 15
    ),
    "payment_webhook": Function(
        "functions.payment_webhook.app", "sip-billing-PaymentWebhookFunction", 15
    ),
    "renewal_cron": Function("functions.renewal_cron.app", "sip-billing-RenewalCronFunction", 60),
    "reconcile": Function("functions.reconcile.app", "sip-billing-ReconcileFunction", 300),
    "entitlements_api": Function(
        "functions.entitlements_api.app", "sip-billing-EntitlementsApiFunction", 10
    ),
    "entitlement_events": Function(
        "functions.entitlement_events.app", "sip-billing-EntitlementEventsFunction", 30
    ),
}

Handler = Callable[[dict[str, Any], Any], Any]


class LocalStack:
    """Start with `start()`, stop with `stop()` (which restores the environment)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        # Where the user's overrides (TELEGRAM_BOT_TOKEN, POWERTOOLS_LOG_LEVEL, ...) come from.
        self._environ = dict(os.environ if environ is None else environ)
        self._moto: MotoServer | None = None
        self._sqs: Any = None
        # The bot's outgoing calls go to a fake Bot API that enforces api.json, unless
        # TELEGRAM_API_BASE points somewhere else (then that server is used instead).
        self.fake_telegram: FakeBotApi | None = None
        self.telegram_api_base = self._environ.get("TELEGRAM_API_BASE") or ""
        self._saved_env: dict[str, str | None] = {}
        self._handlers: dict[str, Handler] = {}
        # One lock per function: a Lambda execution environment handles one event at a
        # time, and module-level state in the handlers (the Powertools logger's keys, the
        # cached runtime) assumes it. Different functions still run concurrently.
        self._locks = {name: threading.Lock() for name in FUNCTIONS}
        self.webhook_secret = self._environ.get("TELEGRAM_WEBHOOK_SECRET") or (
            DEFAULT_WEBHOOK_SECRET
        )
        self.bot_token = self._environ.get("TELEGRAM_BOT_TOKEN") or DEFAULT_BOT_TOKEN
        self.entitlements_key = (
            self._environ.get("LOCAL_ENTITLEMENTS_KEY") or DEFAULT_ENTITLEMENTS_KEY
        )
        self.renewal_queue_url = ""
        self.dead_letter_queue_url = ""
        # Real time, moved forward on request (/_local/clock) to watch the sweep at work.
        self.clock = ShiftedClock()
        self.payment_peers: PaymentPeers | None = None
        self._ticker: threading.Thread | None = None
        self._ticking = threading.Event()
        # The entitlements stream, read as Lambda's event source mapping does, and the
        # telephony side's end of the bus (local/entitlement_sink.py).
        self.entitlement_stream: EntitlementStream | None = None
        self.event_sink: EventSink | None = None
        self._streaming: threading.Thread | None = None
        # What runs on a timer (name -> seconds), as the deployed schedules; smoke checks it.
        self.schedules: dict[str, float] = {}

    # ------------------------------------------------------------------ lifecycle

    @property
    def moto_endpoint(self) -> str:
        if self._moto is None:
            raise RuntimeError("LocalStack.start() was not called")
        return self._moto.endpoint

    @property
    def running(self) -> bool:
        return self._moto is not None

    def start(self) -> LocalStack:
        if self._moto is not None:
            raise RuntimeError("LocalStack is already running")
        for path in IMPORT_PATHS:
            if str(path) not in sys.path:
                sys.path.append(str(path))
        self._moto = MotoServer()
        endpoint = self._moto.start()
        try:
            if not self.telegram_api_base:
                self.fake_telegram = FakeBotApi(token=self.bot_token, require_https_webhook=False)
                self.telegram_api_base = self.fake_telegram.serve()
                self._register_menu()
            self._set_env(self._base_env(endpoint))
            import boto3

            session = boto3.session.Session(region_name=REGION)
            create_tables(session.client("dynamodb"))
            self._sqs = session.client("sqs")
            self.renewal_queue_url, self.dead_letter_queue_url = create_renewal_queues(self._sqs)
            self._set_env({"RENEWAL_QUEUE_URL": self.renewal_queue_url})
            sink_queue = create_bus(REGION, endpoint, LOCAL_BUS)
            self.event_sink = EventSink(REGION, endpoint, sink_queue)
            self._set_env({"ENTITLEMENTS_BUS_NAME": LOCAL_BUS})
            self.entitlement_stream = EntitlementStream(
                endpoint,
                REGION,
                LOCAL_TABLE_NAMES["EntitlementsTable"],
                lambda event: self.invoke("entitlement_events", event),
            )
            self._put_secrets(session.client("ssm"))
            # Only now: the handlers' modules read the environment when imported
            # (Powertools) and the runtime caches settings on first use.
            from billing.runtime import use_clock

            use_clock(self.clock)  # also rebuilds the runtime from this environment
            for key, function in FUNCTIONS.items():
                module = importlib.import_module(function.module)
                self._handlers[key] = module.lambda_handler
        except BaseException:
            self.stop()
            raise
        return self

    def connect_peers(self, api_base: str) -> PaymentPeers:
        """Start the payment providers' peers that are not configured elsewhere, with their
        webhooks pointed at `api_base` (this stack's HTTP address), and give the handlers
        their addresses and secrets."""
        from billing.config import Settings
        from billing.runtime import use_clock

        peers = start_payment_peers(self._environ, api_base)
        self.payment_peers = peers
        self._set_env({**peers.environment(), "PAYMENT_RETURN_URL": api_base})
        settings = Settings.from_env()
        import boto3

        ssm = boto3.session.Session(region_name=REGION).client("ssm")
        for field_name, value in peers.secrets().items():
            ssm.put_parameter(
                Name=getattr(settings, field_name),
                Value=value,
                Type="SecureString",
                Overwrite=True,
            )
        use_clock(self.clock)  # rebuild the runtime: new settings, no cached secrets
        return peers

    def start_ticker(self, every_seconds: float = 60.0) -> None:
        """Run the renewal sweep every `every_seconds`, as the EventBridge schedule does."""
        self.schedules = {
            "renewal-sweep": every_seconds,
            "reconcile": every_seconds,
            "entitlement-stream": 1.0,
        }

        def tick() -> None:
            while not self._ticking.wait(every_seconds):
                for job in (self.run_sweep, self.run_reconcile):
                    try:
                        job()
                    except Exception:  # the next tick tries again, as the schedule would
                        log.exception("scheduled %s failed", job.__name__)

        self._ticking.clear()
        self._ticker = threading.Thread(target=tick, name="sweep-schedule", daemon=True)
        self._ticker.start()

    def start_event_delivery(self, every_seconds: float = 1.0) -> None:
        """Deliver the entitlements stream to its function every `every_seconds`, as the
        event source mapping polls it (about once a second)."""

        def deliver() -> None:
            while not self._ticking.wait(every_seconds):
                try:
                    self.deliver_entitlement_events()
                except Exception:  # the next poll tries again, as the mapping would
                    log.exception("entitlement event delivery failed")

        self._ticking.clear()
        self._streaming = threading.Thread(target=deliver, name="entitlement-stream", daemon=True)
        self._streaming.start()

    def deliver_entitlement_events(self) -> list[dict[str, Any]]:
        """The stream's new records through the function to the bus, and what reached the
        sink since the last call."""
        if self.entitlement_stream is None or self.event_sink is None:
            raise RuntimeError("LocalStack.start() was not called")
        self.entitlement_stream.drain()
        return self.event_sink.receive()

    def stop(self) -> None:
        self._ticking.set()
        if self._ticker is not None:
            self._ticker.join(timeout=70)
            self._ticker = None
        if self._streaming is not None:
            self._streaming.join(timeout=35)
            self._streaming = None
        self.entitlement_stream = None
        self.event_sink = None
        if self.payment_peers is not None:
            self.payment_peers.stop()
            self.payment_peers = None
        if self.fake_telegram is not None:
            self.fake_telegram.stop()
            self.fake_telegram = None
            self.telegram_api_base = ""
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        self._handlers.clear()
        if "billing.runtime" in sys.modules:
            sys.modules["billing.runtime"].use_clock(SystemClock())

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ invocation

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Call `function` (a key of FUNCTIONS) with `event`, as Lambda would; returns what
        the handler returns (a Lambda proxy response for the webhooks) or raises."""
        handler = self._handlers.get(function)
        if handler is None:
            if function not in FUNCTIONS:
                raise KeyError(f"unknown function {function!r}")
            raise RuntimeError("LocalStack.start() was not called")
        spec = FUNCTIONS[function]
        with self._locks[function]:
            context = FakeContext(spec.name, timeout_seconds=spec.timeout_seconds)
            return handler(event, context)

    def deliver_update(
        self,
        update: Mapping[str, Any],
        perform: Callable[[str, dict[str, Any]], Any] | None = None,
    ) -> dict[str, Any]:
        """Hand one Telegram update to POST /telegram as Telegram does (with the secret
        header), then perform the method call the webhook answered with, as Telegram does:
        with `perform(method, params)` (polling a real Bot API) or on the built-in fake.
        Returns the HTTP status and the reply."""
        event = http_api_event(
            "POST",
            "/telegram",
            headers={
                "content-type": "application/json",
                TELEGRAM_SECRET_HEADER: self.webhook_secret,
            },
            body=json.dumps(update).encode(),
        )
        response = self.invoke("telegram_webhook", event)
        status = int(response.get("statusCode", 500))
        try:
            reply = json.loads(response.get("body") or "{}")
        except ValueError:
            reply = {}
        if status == 200 and isinstance(reply, dict) and reply.get("method"):
            if perform is not None:
                params = {key: value for key, value in reply.items() if key != "method"}
                perform(str(reply["method"]), params)
            elif self.fake_telegram is not None:
                self.fake_telegram.apply_webhook_reply(reply)
        return {"status": status, "reply": reply}

    def run_sweep(self, now: datetime | None = None) -> dict[str, Any]:
        """One scheduled renewal sweep, at `now` or at the runtime clock's time, then the
        queue drained into the function as Lambda's SQS event source would."""
        if now is None:
            from billing.runtime import runtime

            now = runtime().clock.now()
        found = self.invoke("renewal_cron", scheduled_event(now))
        drained = drain(
            self._sqs, self.renewal_queue_url, lambda event: self.invoke("renewal_cron", event)
        )
        return {**found, "worked": drained.delivered - drained.failed, "failed": drained.failed}

    def run_reconcile(self) -> dict[str, Any]:
        """One scheduled reconciliation (its own schedule in AWS; here on the sweep's tick)."""
        from billing.runtime import runtime

        now = runtime().clock.now()
        result: dict[str, Any] = self.invoke("reconcile", scheduled_event(now))
        return result

    # ------------------------------------------------------------------ set-up

    def _register_menu(self) -> None:
        """The command menu, registered with the built-in fake as `make set-webhook` does
        with Telegram (the same list and calls), so the simulator shows it. Another Bot API
        server (TELEGRAM_API_BASE, perhaps a real bot) is left as it is."""
        from billing.bot.commands import register_menu
        from billing.telegram.client import BotApi

        with BotApi(self.telegram_api_base, self.bot_token) as api:
            register_menu(api)

    def _base_env(self, endpoint: str) -> dict[str, str | None]:
        env: dict[str, str | None] = {
            **FAKE_CREDENTIALS,
            **dict.fromkeys(_DROPPED),
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
            "TELEGRAM_API_BASE": self.telegram_api_base,
            "POWERTOOLS_SERVICE_NAME": "sip-billing",
            "POWERTOOLS_METRICS_NAMESPACE": "SipBilling",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
            "POWERTOOLS_LOG_LEVEL": self._environ.get("POWERTOOLS_LOG_LEVEL") or "INFO",
        }
        for logical_id, variable in _TABLE_ENV.items():
            env[variable] = LOCAL_TABLE_NAMES[logical_id]
        return env

    def _set_env(self, values: Mapping[str, str | None]) -> None:
        for name, value in values.items():
            if name not in self._saved_env:
                self._saved_env[name] = os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _put_secrets(self, ssm: Any) -> None:
        from billing.config import Settings

        settings = Settings.from_env()
        values = {
            settings.bot_token_param: self.bot_token,
            settings.webhook_secret_param: self.webhook_secret,
            # Placeholders: connect_peers() replaces them with the started peers' secrets.
            settings.stripe_secret_key_param: "sk_test_local_placeholder",
            settings.stripe_webhook_secret_param: "whsec_local_placeholder",
            settings.paypal_credentials_param: (
                '{"client_id": "local", "client_secret": "local", "webhook_id": "local"}'
            ),
            settings.cryptopay_token_param: "local-cryptopay-token",
            settings.payment_provider_tokens_param: (
                '{"EUR": "284685063:TEST:local-eur", "USD": "284685063:TEST:local-usd",'
                ' "RUB": "381764678:TEST:local-rub"}'
            ),
        }
        for name, value in values.items():
            ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def create_renewal_queues(sqs: Any) -> tuple[str, str]:
    """The renewal queue and its dead-letter queue, with template.yaml's settings; returns
    their URLs (queue, dead-letter queue)."""
    template = load_template(DEFAULT_TEMPLATE)
    resources: dict[str, Any] = template.get("Resources", {})
    parameters: dict[str, Any] = template.get("Parameters", {})

    def attributes(logical_id: str) -> dict[str, str]:
        properties: dict[str, Any] = resources[logical_id].get("Properties", {})
        return {
            name: str(value).lower() if isinstance(value, bool) else str(value)
            for name, value in properties.items()
            if isinstance(value, bool | int | str)
        }

    dead_letter_queue_url = sqs.create_queue(
        QueueName=RENEWAL_DLQ, Attributes=attributes(RENEWAL_DLQ)
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    redrive = resources[RENEWAL_QUEUE]["Properties"].get("RedrivePolicy", {})
    max_receive = redrive.get("maxReceiveCount", 5)
    if isinstance(max_receive, dict) and "Ref" in max_receive:
        max_receive = parameters[max_receive["Ref"]].get("Default", 5)
    queue_attributes = attributes(RENEWAL_QUEUE)
    queue_attributes["RedrivePolicy"] = json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": int(max_receive)}
    )
    renewal_queue_url = sqs.create_queue(QueueName=RENEWAL_QUEUE, Attributes=queue_attributes)[
        "QueueUrl"
    ]
    return renewal_queue_url, dead_letter_queue_url
