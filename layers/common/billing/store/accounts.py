"""Accounts: one item per Telegram user (sk = "profile")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import PutError

from billing.store.codec import iso, parse_iso
from billing.store.models import AccountModel

PROFILE = "profile"


def _pk(user_id: int) -> str:
    return f"user#{user_id}"


@dataclass(frozen=True)
class Account:
    user_id: int
    created_at: datetime
    language: str | None
    first_name: str | None
    username: str | None
    start_parameter: str | None


def _account(model: AccountModel) -> Account:
    return Account(
        user_id=int(model.user_id),
        created_at=parse_iso(model.created_at),
        language=model.language,
        first_name=model.first_name,
        username=model.username,
        start_parameter=model.start_parameter,
    )


class AccountsRepository:
    def get(self, user_id: int) -> Account | None:
        try:
            model = AccountModel.get(_pk(user_id), PROFILE, consistent_read=True)
        except AccountModel.DoesNotExist:
            return None
        return _account(model)

    def ensure(
        self,
        user_id: int,
        *,
        now: datetime,
        language: str | None,
        first_name: str | None,
        username: str | None,
        start_parameter: str | None,
    ) -> tuple[Account, bool]:
        """The user's account, created on first contact (every account starts on Free).

        Returns (account, created). A deep-link parameter is kept from the first /start.
        """
        model = AccountModel(
            _pk(user_id),
            PROFILE,
            user_id=user_id,
            created_at=iso(now),
            language=language,
            first_name=first_name,
            username=username,
            start_parameter=start_parameter,
        )
        try:
            model.save(condition=AccountModel.pk.does_not_exist())
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            existing = self.get(user_id)
            if existing is None:  # pragma: no cover - deleted between the two calls
                raise
            return existing, False
        return _account(model), True
