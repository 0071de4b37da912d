"""The audit trail of support actions, kept in the Accounts table next to the account.

Items: pk = "audit#<target user id>", sk = "<ISO time>#<admin id>#<action>" (a "#<n>"
suffix when the same admin does the same thing to the same user within one microsecond),
with admin_id, action and details (JSON). Written once, never updated; read newest first.

The model is bound to wherever `AccountModel` is bound (`billing.store.connection.bind`),
read at call time, so nothing else needs to know this item type exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from billing.store.codec import iso, parse_iso
from billing.store.models import AccountModel

_CONDITION_FAILED = "ConditionalCheckFailedException"
MAX_SAME_MOMENT = 50


class AuditModel(Model):
    class Meta:
        table_name = "unbound"
        region = "eu-central-1"
        host: str | None = None

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    admin_id = NumberAttribute()
    action = UnicodeAttribute()
    details = JSONAttribute()
    created_at = UnicodeAttribute()


def _bind() -> None:
    """Follow AccountModel's binding; drop the cached client when it moved."""
    source = AccountModel.Meta
    target = AuditModel.Meta
    wanted = (source.table_name, source.region, getattr(source, "host", None))
    current = (target.table_name, target.region, getattr(target, "host", None))
    if wanted != current:
        target.table_name, target.region, target.host = wanted
        AuditModel._connection = None


def _pk(user_id: int) -> str:
    return f"audit#{user_id}"


@dataclass(frozen=True)
class AuditEntry:
    target_user_id: int
    admin_id: int
    action: str
    details: dict[str, Any]
    at: datetime


def _entry(target_user_id: int, model: AuditModel) -> AuditEntry:
    details = model.details
    return AuditEntry(
        target_user_id=target_user_id,
        admin_id=int(model.admin_id),
        action=model.action,
        details=dict(details) if isinstance(details, dict) else {},
        at=parse_iso(model.created_at),
    )


class AuditRepository:
    def record(
        self,
        admin_id: int,
        target_user_id: int,
        action: str,
        details: Mapping[str, Any],
        now: datetime,
    ) -> AuditEntry:
        """Append one entry; never overwrites an earlier one."""
        if "#" in action:
            raise ValueError(f"an audit action may not contain '#': {action!r}")
        _bind()
        base = f"{iso(now)}#{admin_id}#{action}"
        for n in range(1, MAX_SAME_MOMENT + 1):
            model = AuditModel(
                _pk(target_user_id),
                base if n == 1 else f"{base}#{n}",
                admin_id=admin_id,
                action=action,
                details=dict(details),
                created_at=iso(now),
            )
            try:
                model.save(condition=AuditModel.sk.does_not_exist())
            except PutError as error:
                if error.cause_response_code != _CONDITION_FAILED:
                    raise
                continue
            return _entry(target_user_id, model)
        raise RuntimeError(f"too many audit entries for {base}")

    def for_user(self, target_user_id: int, limit: int = 20) -> list[AuditEntry]:
        """The newest `limit` entries about this user, newest first."""
        _bind()
        query = AuditModel.query(
            _pk(target_user_id), scan_index_forward=False, limit=limit, consistent_read=True
        )
        return [_entry(target_user_id, model) for model in query]
