"""Act on something once: a claim per key in the Idempotency table.

Telegram redelivers an update until the webhook answers 200, and Lambda may run the same
event twice; the handler claims `update_id` first and skips an update already claimed.
Claims expire by TTL (`expiration`); like all DynamoDB TTLs deletion is lazy, so an expired
claim still in the table is treated as absent and can be claimed again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import PutError

from billing.store.codec import epoch
from billing.store.models import IdempotencyRecordModel

DEFAULT_TTL = timedelta(days=2)
CLAIMED = "CLAIMED"
# The table also holds Powertools idempotency records ("<function>#<hash>"); a prefix of
# our own keeps the two apart.
_PREFIX = "dedupe#"


class UpdateDeduplicator:
    def claim(self, key: str, now: datetime, ttl: timedelta = DEFAULT_TTL) -> bool:
        """True when this call is the first to claim `key` (or the old claim expired);
        False when it was already claimed and the work must not be done again."""
        if not key:
            raise ValueError("a dedupe key must not be empty")
        if ttl <= timedelta(0):
            raise ValueError(f"a claim needs a positive time to live, got {ttl}")
        record = IdempotencyRecordModel(_PREFIX + key, expiration=epoch(now + ttl), status=CLAIMED)
        try:
            record.save(
                condition=IdempotencyRecordModel.id.does_not_exist()
                | (IdempotencyRecordModel.expiration <= epoch(now))
            )
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def release(self, key: str) -> None:
        """Undo a claim after a transient failure, so the redelivered update is handled."""
        IdempotencyRecordModel(_PREFIX + key).delete()
