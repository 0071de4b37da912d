"""Billing profile, conversations and update dedupe on DynamoDB (moto server)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest

from billing.accounts.service import ProfileService
from billing.clock import ManualClock
from billing.config import Settings
from billing.domain.profile import (
    BillingProfile,
    PaymentMethod,
    SavedCard,
    Verification,
    verification_for,
)
from billing.domain.tax import OfflineVatIdVerifier
from billing.errors import (
    ConcurrentModification,
    ForeignContact,
    InvalidPhoneNumber,
    InvalidProfileValue,
    InvalidVatId,
    NotAllowed,
    NotFound,
    ProfileIncomplete,
)
from billing.store.accounts import Account, AccountsRepository
from billing.store.conversations import ConversationRepository
from billing.store.dedupe import UpdateDeduplicator
from billing.store.transactions import StaleWrite

PAYER, OTHER, ADMIN = 11, 22, 900
DE_VAT = "DE136695976"
CARD = SavedCard("visa", "4242", 12, 2030, "pm_123", "cus_1")


@pytest.fixture
def accounts(tables: Settings) -> AccountsRepository:
    return AccountsRepository()


@pytest.fixture
def service(accounts: AccountsRepository, clock: ManualClock) -> ProfileService:
    return ProfileService(accounts, clock)


def create(accounts: AccountsRepository, clock: ManualClock, user_id: int = PAYER) -> Account:
    account, _ = accounts.ensure(
        user_id,
        now=clock.now(),
        language="ru",
        first_name="Ivan",
        username=None,
        start_parameter=None,
    )
    return account


def raw_item(settings: Settings, user_id: int) -> dict[str, Any]:
    client = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url)
    item: dict[str, Any] = client.get_item(
        TableName=settings.accounts_table,
        Key={"pk": {"S": f"user#{user_id}"}, "sk": {"S": "profile"}},
        ConsistentRead=True,
    )["Item"]
    return item


# --- the profile -------------------------------------------------------------------------


def test_a_new_account_has_an_empty_profile_in_its_language(
    accounts: AccountsRepository, clock: ManualClock, service: ProfileService
) -> None:
    account = create(accounts, clock)
    assert account.profile == BillingProfile(language="ru")
    assert account.version == 1
    assert service.profile(PAYER) == BillingProfile(language="ru")
    # a user the bot has never met reads as empty, in English
    assert service.profile(OTHER) == BillingProfile()


def test_the_whole_profile_is_stored_and_read_back(
    tables: Settings, accounts: AccountsRepository, clock: ManualClock, service: ProfileService
) -> None:
    create(accounts, clock)
    service.set_country(PAYER, "de")
    service.set_name(PAYER, " Muster GmbH ")
    service.set_address(PAYER, "Unter den Linden 1\nBerlin")
    service.set_vat_id(PAYER, "136695976")
    service.set_payment_method(PAYER, "stripe_card")
    service.share_phone(PAYER, "49 30 123456", contact_user_id=PAYER)
    service.save_card(PAYER, CARD)
    service.flag(PAYER, "card issued in US")
    returned = service.verify_country_by_support(PAYER, ADMIN, tables.admin_ids)

    expected = BillingProfile(
        country="DE",
        name="Muster GmbH",
        address="Unter den Linden 1, Berlin",
        vat_id=DE_VAT,
        payment_method=PaymentMethod.STRIPE_CARD,
        saved_card=CARD,
        phone_country="DE",
        verified_by_support=True,
        flagged_for_support=None,
        language="ru",
    )
    assert returned == expected
    assert service.profile(PAYER) == expected
    account = accounts.get(PAYER)
    assert account is not None and account.version == 10  # one bump per change
    assert account.first_name == "Ivan"  # the rest of the account is untouched

    service.clear_vat_id(PAYER)
    after = service.remove_saved_card(PAYER)
    assert after.vat_id is None and after.saved_card is None and after.country == "DE"


def test_an_item_written_before_the_profile_existed_reads_as_empty(
    tables: Settings, accounts: AccountsRepository, clock: ManualClock, service: ProfileService
) -> None:
    client = boto3.client("dynamodb", endpoint_url=tables.aws_endpoint_url)
    client.put_item(
        TableName=tables.accounts_table,
        Item={
            "pk": {"S": f"user#{PAYER}"},
            "sk": {"S": "profile"},
            "user_id": {"N": str(PAYER)},
            "created_at": {"S": "2025-01-01T00:00:00.000000Z"},
            "version": {"N": "1"},
            "profile": {"S": '{"country": "LT", "saved_card": {"brand": "visa"}}'},
        },
    )
    assert service.profile(PAYER) == BillingProfile(country="LT")
    assert service.set_name(PAYER, "UAB").name == "UAB"


def test_language_is_the_accounts_and_survives_profile_saves(
    accounts: AccountsRepository, clock: ManualClock, service: ProfileService
) -> None:
    create(accounts, clock)
    assert accounts.set_language(PAYER, "en").profile.language == "en"
    assert service.set_country(PAYER, "LT").language == "en"
    account = accounts.get(PAYER)
    assert account is not None and account.language == "en"
    with pytest.raises(InvalidProfileValue):
        accounts.set_language(PAYER, "de")
    with pytest.raises(NotFound):
        accounts.set_language(OTHER, "en")


def test_bad_input_writes_nothing(
    tables: Settings, accounts: AccountsRepository, clock: ManualClock, service: ProfileService
) -> None:
    create(accounts, clock)
    before = raw_item(tables, PAYER)
    with pytest.raises(ProfileIncomplete, match="set your country before the VAT id"):
        service.set_vat_id(PAYER, DE_VAT)
    with pytest.raises(InvalidProfileValue):
        service.set_name(PAYER, "")
    with pytest.raises(InvalidPhoneNumber):
        service.share_phone(PAYER, "garbage", contact_user_id=PAYER)
    with pytest.raises(NotAllowed):
        service.verify_country_by_support(PAYER, PAYER, tables.admin_ids)
    assert raw_item(tables, PAYER) == before


def test_a_foreign_contact_is_refused_and_nothing_written(
    tables: Settings, accounts: AccountsRepository, clock: ManualClock, service: ProfileService
) -> None:
    create(accounts, clock)
    service.set_country(PAYER, "DE")
    before = raw_item(tables, PAYER)
    with pytest.raises(ForeignContact, match="please share your own contact"):
        service.share_phone(PAYER, "+49 30 123456", contact_user_id=OTHER)
    with pytest.raises(ForeignContact):
        service.share_phone(PAYER, "+49 30 123456", contact_user_id=None)
    assert raw_item(tables, PAYER) == before
    assert service.profile(PAYER).phone_country is None


def test_sharing_the_own_phone_verifies_or_contradicts(
    accounts: AccountsRepository, clock: ManualClock, service: ProfileService
) -> None:
    create(accounts, clock)
    service.set_country(PAYER, "DE")
    card = PaymentMethod.STRIPE_CARD
    assert verification_for(service.profile(PAYER), card) is Verification.UNVERIFIED
    same = service.share_phone(PAYER, "4930123456", contact_user_id=PAYER)
    assert verification_for(same, card) is Verification.VERIFIED
    other = service.share_phone(PAYER, "+7 999 123 45 67", contact_user_id=PAYER)
    assert verification_for(other, card) is Verification.CONTRADICTION


def test_a_missing_account_cannot_be_edited(service: ProfileService) -> None:
    with pytest.raises(NotFound, match="send /start first"):
        service.set_country(OTHER, "DE")


def test_an_expired_card_is_not_saved(
    accounts: AccountsRepository, clock: ManualClock, service: ProfileService
) -> None:
    create(accounts, clock)  # the clock says March 2026
    with pytest.raises(InvalidProfileValue, match="expired 02/2026"):
        service.save_card(PAYER, SavedCard("visa", "4242", 2, 2026, "pm_old"))


def test_a_vat_id_vies_does_not_know_is_refused(
    accounts: AccountsRepository, clock: ManualClock
) -> None:
    class Unregistered(OfflineVatIdVerifier):
        def is_registered(self, vat_id: str) -> bool | None:
            return False

    create(accounts, clock)
    offline = ProfileService(accounts, clock, OfflineVatIdVerifier())
    strict = ProfileService(accounts, clock, Unregistered())
    offline.set_country(PAYER, "DE")
    with pytest.raises(InvalidVatId, match="not registered in VIES"):
        strict.set_vat_id(PAYER, DE_VAT)
    assert offline.set_vat_id(PAYER, DE_VAT).vat_id == DE_VAT  # VIES could not say: accepted


# --- optimistic lock -----------------------------------------------------------------------


def test_save_profile_refuses_a_stale_version(
    accounts: AccountsRepository, clock: ManualClock
) -> None:
    account = create(accounts, clock)
    accounts.save_profile(PAYER, BillingProfile(country="LT"), expected_version=account.version)
    with pytest.raises(StaleWrite):
        accounts.save_profile(PAYER, BillingProfile(country="DE"), expected_version=account.version)
    saved = accounts.get(PAYER)
    assert saved is not None and saved.profile.country == "LT" and saved.version == 2


class RacingAccounts(AccountsRepository):
    """Another writer saves the profile just before each of our first `races` saves."""

    def __init__(self, races: int) -> None:
        self.races = races
        self.saves = 0

    def save_profile(
        self, user_id: int, profile: BillingProfile, *, expected_version: int
    ) -> Account:
        self.saves += 1
        if self.races > 0:
            self.races -= 1
            current = self.get(user_id)
            assert current is not None
            rival = BillingProfile(
                country=current.profile.country,
                name=f"rival {self.races}",
                payment_method=PaymentMethod.CRYPTO,
            )
            super().save_profile(user_id, rival, expected_version=current.version)
        return super().save_profile(user_id, profile, expected_version=expected_version)


def test_a_concurrent_save_is_retried_on_top_of_the_other_change(
    accounts: AccountsRepository, clock: ManualClock
) -> None:
    create(accounts, clock)
    racing = RacingAccounts(races=1)
    service = ProfileService(racing, clock)
    result = service.set_country(PAYER, "DE")
    # our change was re-applied to the rival's profile, not written over it
    assert result.country == "DE" and result.name == "rival 0"
    assert result.payment_method is PaymentMethod.CRYPTO
    assert racing.saves == 2
    assert service.profile(PAYER) == result


def test_a_profile_that_keeps_changing_gives_up(
    accounts: AccountsRepository, clock: ManualClock
) -> None:
    create(accounts, clock)
    service = ProfileService(RacingAccounts(races=100), clock)
    with pytest.raises(ConcurrentModification):
        service.set_country(PAYER, "DE")


# --- conversations -------------------------------------------------------------------------


def test_a_conversation_lapses_at_its_expiry(tables: Settings, clock: ManualClock) -> None:
    conversations = ConversationRepository()
    assert conversations.get(PAYER, clock.now()) is None
    conversations.put(PAYER, {"ask": {"option": "lines"}}, clock.now(), ttl=timedelta(hours=1))
    assert conversations.get(PAYER, clock.now()) == {"ask": {"option": "lines"}}
    clock.advance(timedelta(minutes=59))
    assert conversations.get(PAYER, clock.now()) == {"ask": {"option": "lines"}}
    clock.advance(timedelta(minutes=1))
    # DynamoDB may not have deleted it yet; it is gone all the same
    assert conversations.get(PAYER, clock.now()) is None


def test_a_conversation_is_replaced_and_cleared(tables: Settings, clock: ManualClock) -> None:
    conversations = ConversationRepository()
    conversations.put(PAYER, {"step": 1}, clock.now())
    clock.advance(timedelta(hours=23))
    conversations.put(PAYER, {"step": 2}, clock.now())  # a new answer renews the 24 hours
    clock.advance(timedelta(hours=23))
    assert conversations.get(PAYER, clock.now()) == {"step": 2}
    assert conversations.get(OTHER, clock.now()) is None
    conversations.clear(PAYER)
    conversations.clear(PAYER)  # clearing twice is fine
    assert conversations.get(PAYER, clock.now()) is None


def test_a_conversation_does_not_touch_the_account(
    accounts: AccountsRepository, clock: ManualClock, service: ProfileService
) -> None:
    create(accounts, clock)
    conversations = ConversationRepository()
    conversations.put(PAYER, {"ask": "address"}, clock.now())
    service.set_country(PAYER, "LT")
    conversations.clear(PAYER)
    assert service.profile(PAYER).country == "LT"


# --- update dedupe -------------------------------------------------------------------------


def test_an_update_is_claimed_once(tables: Settings, clock: ManualClock) -> None:
    dedupe = UpdateDeduplicator()
    assert dedupe.claim("telegram-update#1", clock.now()) is True
    assert dedupe.claim("telegram-update#1", clock.now()) is False
    assert dedupe.claim("telegram-update#2", clock.now()) is True


def test_an_expired_claim_can_be_claimed_again(tables: Settings, clock: ManualClock) -> None:
    dedupe = UpdateDeduplicator()
    assert dedupe.claim("u#7", clock.now(), lease=timedelta(hours=1)) is True
    clock.advance(timedelta(minutes=59))
    assert dedupe.claim("u#7", clock.now()) is False
    clock.advance(timedelta(minutes=1))
    # the TTL sweeper has not run (moto never does), the claim counts as gone anyway
    assert dedupe.claim("u#7", clock.now()) is True
    assert dedupe.claim("u#7", clock.now()) is False


def test_a_released_claim_can_be_claimed_again(tables: Settings, clock: ManualClock) -> None:
    dedupe = UpdateDeduplicator()
    assert dedupe.claim("u#9", clock.now()) is True
    dedupe.release("u#9")
    assert dedupe.claim("u#9", clock.now()) is True
    assert dedupe.claim("u#9", clock.now()) is False
    dedupe.release("never-claimed")  # harmless


def test_claims_live_in_the_idempotency_table_with_a_ttl(
    tables: Settings, clock: ManualClock
) -> None:
    dedupe = UpdateDeduplicator()
    dedupe.claim("u#1", clock.now())
    dedupe.complete("u#1", clock.now())  # done: kept for two days
    client = boto3.client("dynamodb", endpoint_url=tables.aws_endpoint_url)
    items = client.scan(TableName=tables.idempotency_table)["Items"]
    assert len(items) == 1
    expected = int((clock.now() + timedelta(days=2)).timestamp())
    assert items[0]["expiration"] == {"N": str(expected)}
    assert items[0]["id"]["S"].endswith("u#1")
