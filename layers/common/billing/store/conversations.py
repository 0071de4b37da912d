"""What the bot is waiting for from a user (an option value, an address), one per user.

Stored next to the account (sk = "conversation") with a DynamoDB TTL. TTL deletion is lazy
(items can outlive their expiry by days), so reads compare the expiry with the clock too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from billing.store import reads
from billing.store.models import ConversationModel

CONVERSATION = "conversation"
DEFAULT_TTL = timedelta(hours=24)


def _pk(user_id: int) -> str:
    return f"user#{user_id}"


class ConversationRepository:
    def get(self, user_id: int, now: datetime) -> dict[str, Any] | None:
        """The state put last, or None when there is none or it has expired. Read once per
        operation (store/reads.py)."""
        model = reads.get(ConversationModel, _pk(user_id), CONVERSATION)
        if model is None or model.expires_at <= now:
            return None
        state = model.state
        return dict(state) if isinstance(state, dict) else None

    def put(
        self,
        user_id: int,
        state: dict[str, Any],
        now: datetime,
        ttl: timedelta = DEFAULT_TTL,
    ) -> None:
        """Replace the state; it lapses `ttl` after `now` (the user walked away)."""
        if ttl <= timedelta(0):
            raise ValueError(f"a conversation needs a positive time to live, got {ttl}")
        model = ConversationModel(_pk(user_id), CONVERSATION, state=state, expires_at=now + ttl)
        with reads.writing():
            model.save()
        reads.wrote(model)

    def clear(self, user_id: int) -> None:
        """Forget the state; clearing one that is not there is fine."""
        model = ConversationModel(_pk(user_id), CONVERSATION)
        with reads.writing():
            model.delete()
        reads.stored(reads.key_of(model), None)
