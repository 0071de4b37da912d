"""The artifact `sam build` makes, checked as deployed (on its x86_64 twin, benchmarks/artifact.py):

- bytecode for every module, no copy of what the Lambda runtime provides, no Pillow;
- every billing module imports and every lazily loaded path works with what the layer ships
  (tests/artifact/exercise.py, run in a fresh interpreter that sees only the twin);
- each handler's first invocation, up to its first DynamoDB request, imports only the
  top-level packages listed here (benchmarks/first_request.py on the built functions).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from benchmarks import artifact
from benchmarks.build_size import LAMBDA_RUNTIME_PACKAGES, layer_site, top_levels
from tests.unit.test_boundaries import AT_FIRST_REQUEST, first_request_imports

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def twin() -> None:
    artifact.ensure_twin()


def test_the_layer_ships_no_runtime_package_nor_pillow(twin: None) -> None:
    shipped = top_levels(layer_site())
    assert not shipped & LAMBDA_RUNTIME_PACKAGES
    assert not shipped & {"PIL", "requests", "pydantic", "pydantic_core"}
    assert {"billing", "pynamodb", "stripe", "fpdf", "msgspec"} <= shipped


def test_every_module_in_the_build_has_its_bytecode(twin: None) -> None:
    roots = [artifact.BUILD / artifact.LAYER]
    roots += [artifact.BUILD / function for function in artifact.FUNCTIONS.values()]
    sources = [path for root in roots for path in root.rglob("*.py")]
    assert len(sources) > 1000
    tag = sys.implementation.cache_tag  # cpython-313: what the python3.13 runtime reads
    missing = [
        str(path)
        for path in sources
        if not (path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc").is_file()
    ]
    assert missing == []


_ANSWERS: dict[str, dict[str, Any]] = {
    "/v1/customers": {"id": "cus_1", "object": "customer", "metadata": {}},
    "/v1/events": {
        "object": "list",
        "url": "/v1/events",
        "has_more": False,
        "data": [
            {
                "id": "evt_1",
                "object": "event",
                "type": "payment_intent.succeeded",
                "created": 1,
                "data": {"object": {"id": "pi_1", "object": "payment_intent"}},
            }
        ],
    },
    "/v1/payment_intents/pi_1": {
        "id": "pi_1",
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 100,
        "currency": "eur",
        "customer": "cus_1",
        "payment_method": "pm_1",
        "metadata": {"order_id": "o1"},
    },
    "/v1/refunds": {"id": "re_1", "object": "refund", "amount": 100, "status": "succeeded"},
}


class _CannedStripe(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        body = json.dumps(_ANSWERS[self.path.split("?")[0]]).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def canned_stripe() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CannedStripe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_every_path_works_with_what_the_layer_ships(twin: None, canned_stripe: str) -> None:
    done = subprocess.run(
        [sys.executable, "-S", str(HERE / "exercise.py"), canned_stripe],
        env=artifact.environment(None),
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.startswith("ok:"), done.stdout


@pytest.mark.parametrize("case", sorted(AT_FIRST_REQUEST))
def test_each_handler_imports_only_what_its_first_request_needs(twin: None, case: str) -> None:
    from benchmarks.cold_start import twin_env

    assert first_request_imports(case, twin_env(case)) == AT_FIRST_REQUEST[case]
