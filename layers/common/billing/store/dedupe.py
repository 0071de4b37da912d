"""Work a delivery once it succeeds: a claim per key in the Idempotency table.

Delivery is at least once: Telegram redelivers an update until the webhook answers 2xx,
providers their events likewise, and Lambda may run one event twice. The effects are exactly
once through cause-keyed ledger entries and conditional writes; a claim only saves doing the
work again, so it must never outlive an attempt that failed. The API:

- `claim(key, now, lease) -> bool`: True when this caller is to do the work. The claim is
  then *in progress* for `lease` only: pass the time the invocation has left
  (`billing.deadline.current().lease()`), which no work of it can outlast, so a claim whose
  holder died (Lambda timeout, crash, a release that failed) lapses on its own and the next
  delivery acts. Without `lease`, DEFAULT_LEASE: Lambda's maximum timeout, safe for any
  caller.
- `done(key) -> bool`, after a refused claim: True when the work was completed, False while
  another caller's lease runs.
- `complete(key, now)`: once the work completed; the claim is *done* for DONE_TTL, longer
  than Telegram and the providers redeliver.
- `release(key)`: after any failure, so the redelivery acts at once.

Callers answer a done delivery 2xx and one in progress 5xx: its holder may still fail, and a
2xx would make the sender drop a delivery that then never acts; a retry later finds it done,
or claims it.

Records expire by TTL (`expiration`); DynamoDB deletes them lazily, so an expired record
still in the table is treated as absent and can be claimed again.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist, PutError

from billing.store.codec import epoch
from billing.store.models import IdempotencyRecordModel

DEFAULT_LEASE = timedelta(minutes=15)
DONE_TTL = timedelta(days=2)
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
# The table also holds Powertools idempotency records ("<function>#<hash>"); a prefix of
# our own keeps the two apart.
_PREFIX = "dedupe#"


class UpdateDeduplicator:
    def claim(self, key: str, now: datetime, lease: timedelta = DEFAULT_LEASE) -> bool:
        if not key:
            raise ValueError("a dedupe key must not be empty")
        if lease <= timedelta(0):
            raise ValueError(f"a claim needs a positive lease, got {lease}")
        # Rounded up to a whole second: the lease must not end before the invocation does.
        expiration = math.ceil((now + lease).timestamp())
        record = IdempotencyRecordModel(_PREFIX + key, expiration=expiration, status=IN_PROGRESS)
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

    def done(self, key: str) -> bool:
        try:
            record = IdempotencyRecordModel.get(_PREFIX + key, consistent_read=True)
        except DoesNotExist:
            # Released since the claim was refused: that attempt failed.
            return False
        # A record of the previous version ("CLAIMED" for two days) reads as done, as then.
        return record.status != IN_PROGRESS

    def complete(self, key: str, now: datetime) -> None:
        IdempotencyRecordModel(
            _PREFIX + key, expiration=epoch(now + DONE_TTL), status=COMPLETED
        ).save()

    def release(self, key: str) -> None:
        IdempotencyRecordModel(_PREFIX + key).delete()
