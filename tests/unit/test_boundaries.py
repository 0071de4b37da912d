"""Architecture rules that code review alone would let slip.

- Only billing/config.py reads the environment.
- The pure domain imports no AWS, HTTP or payment SDK, nor the layers above it.
- Heavy SDKs (stripe, fpdf) are imported only inside the functions that need them.
- Each handler, up to its first DynamoDB request, imports only the packages listed here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "common" / "billing"
APP_FILES = sorted([*PACKAGE.rglob("*.py"), *(ROOT / "functions").rglob("*.py")])
DOMAIN_FILES = sorted((PACKAGE / "domain").rglob("*.py"))
FORBIDDEN_IN_DOMAIN = {"boto3", "botocore", "pynamodb", "httpx", "stripe", "fpdf", "requests"}
UPPER_LAYERS = {"billing.store", "billing.ledger", "billing.subscriptions", "billing.runtime"}
LAZY_ONLY = {"stripe", "fpdf"}


def imported_modules(tree: ast.AST) -> list[tuple[str, ast.stmt]]:
    found: list[tuple[str, ast.stmt]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node))
    return found


def reads_environment(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "environb"}:
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(a.name in {"environ", "getenv", "environb"} for a in node.names)
        ):
            return True
    return False


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_rules_see_the_code() -> None:
    assert len(APP_FILES) > 20 and len(DOMAIN_FILES) >= 6


@pytest.mark.parametrize("path", APP_FILES, ids=rel)
def test_only_config_reads_the_environment(path: Path) -> None:
    if path == PACKAGE / "config.py":
        return
    assert not reads_environment(ast.parse(path.read_text())), f"{rel(path)} reads os.environ"


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=rel)
def test_domain_is_pure(path: Path) -> None:
    for module, _ in imported_modules(ast.parse(path.read_text())):
        top = module.split(".")[0]
        assert top not in FORBIDDEN_IN_DOMAIN, f"{rel(path)} imports {module}"
        assert not any(module.startswith(layer) for layer in UPPER_LAYERS), (
            f"{rel(path)} imports {module}, a layer above the domain"
        )


@pytest.mark.parametrize("path", APP_FILES, ids=rel)
def test_heavy_sdks_are_imported_lazily(path: Path) -> None:
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    for module, node in imported_modules(tree):
        if module.split(".")[0] in LAZY_ONLY:
            assert id(node) not in top_level, f"{rel(path)} imports {module} at module level"


def test_the_checker_catches_an_environment_read() -> None:
    assert reads_environment(ast.parse("import os\nx = os.environ['A']"))
    assert reads_environment(ast.parse("from os import getenv"))
    assert not reads_environment(ast.parse("import os\nos.path.join('a')"))


# What each handler has imported when its first invocation's first DynamoDB request is about
# to leave (benchmarks/first_request.py): its cold start. The bot's texts, the payment SDKs,
# httpx, phonenumbers, python-stdnum and fpdf load later, on the paths that use them; boto3
# never (billing/aws.py). tests/artifact checks the same on the built artifact.
AT_FIRST_REQUEST = {
    "telegram": {"app", "billing", "aws_lambda_powertools", "pynamodb", "botocore", "msgspec"},
    "payment": {"app", "billing", "aws_lambda_powertools", "pynamodb", "botocore", "msgspec"},
    "renewal": {"app", "billing", "aws_lambda_powertools", "pynamodb", "botocore", "msgspec"},
    "sweep": {"app", "billing", "aws_lambda_powertools", "pynamodb", "botocore", "msgspec"},
    "reconcile": {"app", "billing", "aws_lambda_powertools", "pynamodb", "botocore", "msgspec"},
    # The read API reads raw with botocore: no pynamodb (billing/store/entitlements.py).
    "entitlements": {"app", "billing", "aws_lambda_powertools", "botocore", "msgspec"},
    # Its first request is PutEvents: it never reads the store.
    "entitlement_events": {"app", "billing", "aws_lambda_powertools", "botocore", "msgspec"},
}
# Come with botocore (or Powertools) whoever imports it.
WITH_BOTOCORE = frozenset(
    {"dateutil", "jmespath", "urllib3", "six", "typing_extensions", "certifi"}
)
# Every top-level package the layer or the runtime could give a handler.
DEPLOYABLE = frozenset(
    {
        *{"app", "billing", "aws_lambda_powertools", "pynamodb", "msgspec", "httpx", "httpcore"},
        *{"h11", "anyio", "idna", "certifi", "stdnum", "phonenumbers", "stripe", "fpdf"},
        *{"fontTools", "defusedxml", "boto3", "botocore", "s3transfer", "pydantic", "PIL"},
        *{"pydantic_core", "requests"},
        *WITH_BOTOCORE,
    }
)


def first_request_imports(case: str, env: dict[str, str]) -> set[str]:
    from benchmarks.cold_start import probe

    report = probe(case, env)
    first = ("AWSEvents.PutEvents",) if case == "entitlement_events" else ("DynamoDB_20120810.",)
    assert report["reached"].startswith(first), report["reached"]
    return set(report["modules"]) & DEPLOYABLE - WITH_BOTOCORE


@pytest.mark.parametrize("case", sorted(AT_FIRST_REQUEST))
def test_each_handler_imports_only_what_its_first_request_needs(case: str) -> None:
    from benchmarks.cold_start import source_env

    assert first_request_imports(case, source_env(case)) == AT_FIRST_REQUEST[case]
