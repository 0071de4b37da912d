"""/subscriptions tells the user what they may use now (SPEC §11), in the terms the
telephony side reads: the same limits, from the catalog, for the Customer and not for the
Payer, in the user's language."""

from __future__ import annotations

import json

from billing.runtime import runtime
from tests.integration.chat import Chat
from tests.integration.telephony import get
from tests.integration.test_bot_flows import (
    ANN,
    BOB,
    IVAN,
    chat,  # noqa: F401 - the fixture
    connect_gateway_for,
    set_country,
    top_up,
)

FREE_SOFTPHONE = (
    "Softphone — Free\n"
    "SIP accounts: 1 · Call recording: no · Minutes recorded per call: 0 · API access: no"
    " · Call minutes a month: 30 · Minutes per call: 2 · Failed calls an hour: 10"
)


def block(screen: str) -> str:
    """The entitlements part of the /subscriptions screen."""
    start = screen.index("What you may use now:")
    end = screen.find("\n\nAvailable:", start)
    return screen[start : end if end != -1 else len(screen)]


def test_a_new_user_reads_the_free_limits_of_both_products(chat: Chat) -> None:  # noqa: F811
    chat.say(ANN, "/start")
    chat.say(ANN, "/subscriptions")
    shown = block(chat.screen(ANN))
    assert FREE_SOFTPHONE in shown
    assert "Gateway — Free\nLines: 1 · Additional Telegram accounts: 0" in shown


def test_the_customer_reads_the_paid_limits_and_the_payer_stays_free(chat: Chat) -> None:  # noqa: F811
    for user in (ANN, BOB):
        chat.say(user, "/start")
    set_country(chat, ANN, "US")
    top_up(ANN, 100_000)
    sub_id = connect_gateway_for(chat, ANN, BOB)
    sub = runtime().subscriptions.get(sub_id, viewer=BOB.id)

    chat.say(BOB, "/subscriptions")
    shown = block(chat.screen(BOB))
    assert "Gateway — paid until " in shown
    assert "Lines: 1 · Additional Telegram accounts: 0 · Call recording: no" in shown
    assert "Call minutes a month: no limit · Minutes per call: no limit" in shown
    assert FREE_SOFTPHONE in shown
    # The same values the telephony side reads for Bob.
    read = json.loads(get(str(BOB.id))["body"])["products"]["gateway"]
    assert (read["plan"], read["subscription_id"]) == ("gateway", sub.id)
    assert read["limits"]["gateway_lines"] == 1 and read["limits"]["minutes_per_call"] is None

    chat.say(ANN, "/subscriptions")  # Ann pays; the limits are Bob's
    assert "Gateway — Free" in block(chat.screen(ANN))


def test_a_russian_user_reads_them_in_russian(chat: Chat) -> None:  # noqa: F811
    chat.say(IVAN, "/start")
    chat.say(IVAN, "/subscriptions")
    screen = chat.screen(IVAN)
    assert "Что вам доступно сейчас:" in screen
    assert "Софтфон — Free\nSIP-аккаунты: 1 · Запись звонков: нет" in screen
    assert "Минут звонков в месяц: 30" in screen
