"""Failures of a payment provider call, shared by every provider client.

Two kinds, because the caller acts on them differently:

- `ProviderUnavailable`: the provider could not be reached or failed on its side (network
  error, timeout, HTTP 5xx, 429, a success answer that is not what the API documents). The
  same call may succeed later; every call the clients make is safe to repeat (idempotency
  keys where the provider has them).
- `ProviderRejected`: the provider understood the call and refused it (HTTP 4xx). Repeating
  it unchanged fails again. `name` is the provider's error name ("UNPROCESSABLE_ENTITY",
  "AMOUNT_INVALID", ...), `issue` the first detail's issue where the provider gives details
  (PayPal's "ORDER_NOT_APPROVED"), `debug_id` what the provider's support asks for.

Neither is a `billing.errors.BillingError`: they are infrastructure failures, not answers to
show a user. Messages never contain credentials or access tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class ProviderError(Exception):
    """A provider call failed; see the subclasses."""

    code = "provider_error"
    retryable = False

    def __init__(self, provider: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.status = status


class ProviderUnavailable(ProviderError):
    """Network error, timeout, 5xx, 429 or a malformed answer: try again later."""

    code = "provider_unavailable"
    retryable = True


class ProviderRejected(ProviderError):
    """The provider refused the call (4xx); repeating it unchanged fails again."""

    code = "provider_rejected"

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int,
        name: str,
        debug_id: str | None = None,
        details: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        issues = [str(d["issue"]) for d in details if isinstance(d.get("issue"), str)]
        where = f" [{', '.join(issues)}]" if issues else ""
        debug = f" (debug_id {debug_id})" if debug_id else ""
        super().__init__(provider, f"{status} {name}{where}: {message}{debug}", status=status)
        self.status: int = status
        self.name = name
        self.reason = message
        self.debug_id = debug_id
        self.details = tuple(dict(d) for d in details)
        self.issues = tuple(issues)

    @property
    def issue(self) -> str | None:
        """The first detail's issue ("ORDER_ALREADY_CAPTURED"), if the provider gave one."""
        return self.issues[0] if self.issues else None


class ProviderMisconfigured(ProviderUnavailable):
    """Our side of the set-up is wrong: the provider refuses our credentials (PayPal's OAuth
    endpoint answers 401 invalid_client, or 401 to a token it has just issued) or our app
    lacks a permission (403). Nothing changes until an operator fixes the credentials or the
    app, so callers should alert; it is still a `ProviderUnavailable` so that a webhook is
    answered 503 and the provider redelivers once the fix is in."""

    code = "provider_misconfigured"

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int | None = None,
        name: str | None = None,
        debug_id: str | None = None,
    ) -> None:
        debug = f" (debug_id {debug_id})" if debug_id else ""
        super().__init__(provider, f"{message}{debug}", status=status)
        self.name = name
        self.debug_id = debug_id
