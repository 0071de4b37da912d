"""localstripe (a stateful fake Stripe API) as a child process, for tests and the local stack.

    peer = LocalStripe()
    base = peer.start()            # "http://127.0.0.1:<port>", answering
    gateway = StripeGateway(peer.api_key, base)
    pm = peer.create_card_payment_method("4242424242424242")
    peer.register_webhook("http://127.0.0.1:9000/payments/stripe", "whsec_local")
    peer.stop()

What localstripe does and does not do (1.15.10):

- It ignores `Idempotency-Key`: the same key twice creates two objects.
- 4242 4242 4242 4242 succeeds; cards report `country` "FR" and brand "visa".
- 4000 0000 0000 0002 is declined when *attached* to a customer (402 card_declined);
  4000 0000 0000 0341 attaches and is declined when *charged*;
  4000 0025 0000 3155 attaches and a confirmed intent stays `requires_action` (HTTP 200, where
  Stripe answers 402 authentication_required for off_session=true).
- A card error names the charge, not the payment intent.
- Webhooks: events are signed like Stripe's ("t=...,v1=..."), sent about one second after
  the change, to every registered endpoint, once (no retries). `t` is the event's creation
  time. It has no Checkout Sessions, and sends no charge.refunded / charge.dispute.created:
  build those with `billing.providers.stripe_signature.sign_webhook`.
- It rejects parameters it does not know (400 "Unexpected ...").
- State: `--from-scratch` skips loading /tmp/localstripe.pickle, so runs are independent;
  localstripe still rewrites that file on every change (a fixed path, shared by every
  instance on the machine; nothing of ours reads it).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import httpx

DEFAULT_API_KEY = "sk_test_localstripe"  # localstripe accepts any key that starts with sk_
START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1


class LocalStripeError(Exception):
    """localstripe answered a helper's request with an error (e.g. 402 card_declined)."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        error = body.get("error")
        details: Mapping[str, Any] = error if isinstance(error, Mapping) else {}
        self.status = status
        self.body = dict(body)
        code, message = details.get("code"), details.get("message")
        self.code: str | None = code if isinstance(code, str) else None
        super().__init__(f"localstripe {status} {self.code or ''}: {message or body}")


class LocalStripe:
    """One localstripe process; `start()` it, use `base_url`, `stop()` it (atexit does too)."""

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, host: str = "127.0.0.1") -> None:
        self.api_key = api_key
        self._host = host
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, port: int | None = None) -> str:
        """Start localstripe (empty) and wait until it answers; returns its base url."""
        if self._process is not None:
            raise RuntimeError("LocalStripe is already started")
        self._port = port or _free_port(self._host)
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="localstripe-", suffix=".log", delete=False
        )
        self._process = subprocess.Popen(
            [*_command(), "--port", str(self._port), "--from-scratch"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent(),  # noqa: PLW1509 - only sets a signal, no locks
        )
        atexit.register(self.stop)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self.base_url

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("LocalStripe.start() was not called")
        return f"http://{self._host}:{self._port}"

    @property
    def log_path(self) -> Path | None:
        """Where localstripe's own output goes (its access log); None before start()."""
        return Path(self._log.name) if self._log is not None else None

    def stop(self) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after a few seconds); safe to repeat."""
        process, self._process = self._process, None
        if process is not None:
            atexit.unregister(self.stop)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=STOP_TIMEOUT_SECONDS)
        log, self._log = self._log, None
        if log is not None:
            log.close()
            Path(log.name).unlink(missing_ok=True)

    def __enter__(self) -> LocalStripe:
        if self._process is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                raise RuntimeError(f"localstripe exited while starting:\n{self._log_tail()}")
            try:
                self._request("GET", "/v1/customers?limit=1", timeout=1.0)
                return
            except LocalStripeError:
                return  # it answers, if not to our liking: the caller will hear about that
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"localstripe did not answer on {self.base_url} within "
                        f"{START_TIMEOUT_SECONDS:.0f} s:\n{self._log_tail()}"
                    ) from None
                time.sleep(0.05)

    def _log_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-4000:]

    # -- configuration -------------------------------------------------------------------

    def register_webhook(self, url: str, secret: str, events: list[str] | None = None) -> None:
        """Have localstripe POST signed events to `url` (all types, or only `events`).

        Registering the same url again replaces its secret and event list.
        """
        payload: dict[str, Any] = {"url": url, "secret": secret}
        if events is not None:
            payload["events"] = list(events)
        webhook_id = hashlib.sha256(url.encode()).hexdigest()[:16]
        self._request("POST", f"/_config/webhooks/{webhook_id}", json_body=payload)

    def unregister_webhook(self, url: str) -> None:
        """Stop sending events to `url` (localstripe cannot delete an endpoint: it filters all)."""
        self.register_webhook(url, "unregistered", events=[])

    def flush(self) -> None:
        """Forget every object (customers, intents, ...); registered webhooks stay."""
        self._request("DELETE", "/_config/data")

    # -- helpers: what Stripe.js or Checkout would do on the Payer's side ----------------

    def create_card_payment_method(
        self, number: str, exp_month: int = 12, exp_year: int = 2034, cvc: str = "123"
    ) -> str:
        """A card PaymentMethod from a raw test number (Stripe itself takes these only from
        Stripe.js; localstripe takes them from the secret key); returns its pm_ id."""
        method = self._request(
            "POST",
            "/v1/payment_methods",
            form={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": str(exp_month),
                "card[exp_year]": str(exp_year),
                "card[cvc]": cvc,
            },
        )
        return str(method["id"])

    def attach(self, payment_method: str, customer: str) -> None:
        """Attach a card to a customer; LocalStripeError(402, card_declined) for 4000...0002."""
        self._request(
            "POST", f"/v1/payment_methods/{payment_method}/attach", form={"customer": customer}
        )

    def create_customer(self, **metadata: str) -> str:
        meta = {f"metadata[{key}]": value for key, value in metadata.items()}
        return str(self._request("POST", "/v1/customers", form=meta)["id"])

    def get(self, path: str) -> dict[str, Any]:
        """Any object as localstripe holds it, e.g. get("/v1/payment_intents/pi_...")."""
        return self._request("GET", path)

    # -- HTTP ------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        form: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        response = httpx.request(
            method,
            self.base_url + path,
            headers={"Authorization": f"Bearer {self.api_key}"},
            data=dict(form) if form is not None else None,
            json=dict(json_body) if json_body is not None else None,
            timeout=timeout,
        )
        body = _json_object(response.content)
        if response.is_error:
            raise LocalStripeError(response.status_code, body)
        return body


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {"raw": raw.decode(errors="replace")}
    return value if isinstance(value, dict) else {"value": value}


def _command() -> list[str]:
    """The venv's `localstripe` script, next to the running interpreter."""
    script = Path(sys.executable).parent / "localstripe"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "localstripe"]


def _free_port(host: str) -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, the child gets SIGTERM when its parent dies, even by SIGKILL.

    (The kernel ties this to the thread that started the child: start LocalStripe from a
    thread that outlives it, e.g. the main thread.)
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork
    except (OSError, AttributeError):
        return None

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))

    return set_parent_death_signal
