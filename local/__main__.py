"""`python -m local` (`make run`): the local stack on http://127.0.0.1:${PORT:-8080}/.

PORT=0 picks a free port. Prints the URLs, then `ready: <url>`, and serves until SIGINT
or SIGTERM, when it stops the server, the payment peers (localstripe is a child process)
and moto, and exits 0. Handler logs (Powertools JSON) go to stdout as in Lambda; the local
stack's own lines go to stderr. MODE=polling also reads updates from the configured Bot API
with getUpdates (a real bot token, no AWS needed). SWEEP_EVERY (seconds, default 60) sets
the renewal schedule.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType

from local.peers import PaymentPeers
from local.server import LAMBDA_ROUTES, SECRET_HEADER, LocalServer
from local.stack import LocalStack


def _port() -> int:
    raw = os.environ.get("PORT", "").strip() or "8080"
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise SystemExit(f"PORT must be a port number (0 for any free port), not {raw!r}")
    return port


def _sweep_every() -> float:
    raw = os.environ.get("SWEEP_EVERY", "").strip() or "60"
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0
    if seconds <= 0:
        raise SystemExit(f"SWEEP_EVERY must be a positive number of seconds, not {raw!r}")
    return seconds


def _start_polling(stack: LocalStack, stop: threading.Event) -> None:
    from billing.runtime import runtime
    from local.polling import Poller

    poller = Poller(stack, runtime().telegram())
    threading.Thread(target=poller.run, args=(stop,), name="polling", daemon=True).start()


def _print_urls(stack: LocalStack, peers: PaymentPeers, base: str) -> None:
    print(f"sip-billing local stack: {base}")
    print(f"  bot simulator: {base}")
    for method, path in LAMBDA_ROUTES:
        print(f"  {method} {base.rstrip('/')}{path}")
    print(f"  webhook secret header: {SECRET_HEADER}: {stack.webhook_secret}")
    print(f"  moto (DynamoDB, SSM, SQS): {stack.moto_endpoint}")
    print(f"  Bot API for the bot's calls: {stack.telegram_api_base}")
    print(f"  Stripe API: {peers.stripe_api_base}")
    if peers.localstripe_base:
        print(f"  localstripe (child process): {peers.localstripe_base}")
    print(f"  PayPal API: {peers.paypal_api_base}")
    print(f"  Crypto Pay API: {peers.cryptopay_api_base}")
    print(f"  clock: {base}_local/clock, sweep: POST {base}_local/sweep")


def main() -> int:
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s"
    )
    logging.getLogger("local").setLevel(logging.INFO)
    port = _port()
    mode = (os.environ.get("MODE") or "webhook").strip().lower()
    if mode not in ("webhook", "polling"):
        raise SystemExit(f"MODE must be webhook or polling, not {mode!r}")
    if mode == "polling" and not os.environ.get("TELEGRAM_BOT_TOKEN"):
        raise SystemExit("MODE=polling needs TELEGRAM_BOT_TOKEN (a bot token from @BotFather)")
    if mode == "polling" and not os.environ.get("TELEGRAM_API_BASE"):
        os.environ["TELEGRAM_API_BASE"] = "https://api.telegram.org"

    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    stack = LocalStack()
    stack.start()
    try:
        try:
            server = LocalServer(stack, port)
        except OSError as error:
            print(f"cannot listen on 127.0.0.1:{port}: {error}", file=sys.stderr)
            return 1
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="http", daemon=True
        )
        thread.start()
        base = server.url
        peers = stack.connect_peers(base.rstrip("/"))
        stack.start_ticker(_sweep_every())
        stack.start_event_delivery()
        if mode == "polling":
            _start_polling(stack, stop)
        _print_urls(stack, peers, base)
        print(f"ready: {base}", flush=True)
        # A timeout, not a bare wait(): the signal may land on another thread, and then
        # only the main thread's next bytecode runs the handler; a bare wait never gets there.
        while not stop.wait(0.2):
            pass
        print("shutting down", file=sys.stderr, flush=True)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    status = main()
    # Everything is stopped; what is left is tearing down the heap moto and boto built
    # (a million objects, seconds of deallocation). Flush and leave without it.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
