"""An HTTP endpoint on loopback that hands each POST to the payment webhook handler as an
API Gateway HTTP API event: what API Gateway does for a provider in production."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from functions.payment_webhook import app as payment_app
from tests.integration.http_events import call, http_event


class WebhookReceiver:
    def __init__(self) -> None:
        self.answers: list[tuple[str, int]] = []  # (path, status) per delivery
        self._done = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                response = call(payment_app.lambda_handler, http_event(self.path, body, headers))
                status = int(response["statusCode"])
                self.send_response(status)
                self.end_headers()
                self.wfile.write(str(response.get("body", "")).encode())
                with receiver._done:
                    receiver.answers.append((self.path, status))
                    receiver._done.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[tuple[str, int]]:
        """Blocks until `count` deliveries were answered (or the timeout passed)."""
        with self._done:
            self._done.wait_for(lambda: len(self.answers) >= count, timeout=timeout)
            return list(self.answers)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
