"""Incoming Bot API objects (billing/telegram/models.py): parse_update never raises, and
refuses what the bot must not store (DynamoDB refuses lone surrogates)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from billing.telegram.models import Update, parse_update

START: dict[str, Any] = {
    "update_id": 10,
    "message": {
        "message_id": 1,
        "date": 1_772_366_400,
        "chat": {"id": 4242, "type": "private", "first_name": "Ann"},
        "from": {"id": 4242, "is_bot": False, "first_name": "Ann", "language_code": "en"},
        "text": "/Start@SipBot ref-1 ",
        "entities": [{"type": "bot_command", "offset": 0, "length": 13}],
    },
}


def body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def with_field(path: list[str], value: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(START))
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def test_a_message_update_is_parsed() -> None:
    update = parse_update(body(START))
    assert isinstance(update, Update)
    message = update.message
    assert message is not None and message.from_ is not None
    assert message.from_.first_name == "Ann"
    assert update.sender == message.from_
    assert message.accessible
    assert message.command() == ("/start", "ref-1")
    assert message.chat.id == 4242


def test_json_text_and_a_decoded_object_give_the_same_update() -> None:
    assert parse_update(body(START)) == parse_update(json.dumps(START)) == parse_update(START)


def test_the_sender_of_a_button_press_and_an_inaccessible_message() -> None:
    user = {"id": 7, "is_bot": False, "first_name": "Bo"}
    update = parse_update(
        {
            "update_id": 11,
            "callback_query": {
                "id": "q1",
                "from": user,
                "message": {"message_id": 3, "date": 0, "chat": {"id": 7, "type": "private"}},
                "data": "menu",
            },
        }
    )
    assert update is not None and update.callback_query is not None
    assert update.sender is not None and update.sender.id == 7
    assert update.callback_query.message is not None
    assert not update.callback_query.message.accessible


def test_unknown_fields_are_ignored_and_models_are_frozen() -> None:
    update = parse_update(body({**START, "new_in_bot_api_99": {"x": [1, 2]}}))
    assert update is not None
    with pytest.raises(AttributeError):
        update.update_id = 1  # type: ignore[misc]


def test_types_are_as_lax_as_before() -> None:
    # "123" for an int was taken (pydantic's default mode), a fraction or an int for a str not.
    lax = parse_update(body(with_field(["update_id"], "123")))
    assert lax is not None and lax.update_id == 123
    assert parse_update(body(with_field(["message", "date"], 1.5))) is None
    assert parse_update(body(with_field(["message", "text"], 5))) is None
    assert parse_update(body(with_field(["message", "chat"], None))) is None


@pytest.mark.parametrize(
    "raw",
    [b"", b"null", b"[]", b"{}", b'"\\ud800"', b"{", b"NaN", None, 5, [START], "", "{}"],
)
def test_anything_else_is_none(raw: object) -> None:
    assert parse_update(raw) is None


def test_a_lone_surrogate_is_refused_escaped_or_as_cesu_8_even_in_ignored_fields() -> None:
    good = body(START)
    assert parse_update(good) is not None
    for spoiled in (
        good.replace(b"ref-1", b"\\ud800"),  # escaped, in a field the bot keeps
        good.replace(b"ref-1", b"x\\udfff"),
        good.replace(b'"Ann"}', b'"\\ud800"}', 1),  # in chat.first_name, an ignored field
        good.replace(b"ref-1", b"\xed\xa0\x80"),  # CESU-8, as json.loads lets through
        good.replace(b'"Ann"}', b'"\xed\xa0\x80"}', 1),
        good.replace(b'"Ann"}', b'"\xff"}', 1),  # not UTF-8 at all, ignored field
    ):
        assert spoiled != good
        assert parse_update(spoiled) is None, spoiled


def test_a_lone_surrogate_in_a_str_or_a_decoded_object_is_refused() -> None:
    doc = with_field(["message", "text"], "\ud800")
    assert parse_update(json.dumps(doc, ensure_ascii=False)) is None
    assert parse_update(doc) is None
    assert parse_update(with_field(["message", "from", "first_name"], "x\udfff")) is None
    # A decoded object is checked on what the update keeps: an ignored field is dropped.
    ignored = with_field(["message", "chat", "first_name"], "\ud800")
    assert parse_update(json.dumps(ignored, ensure_ascii=False)) is None
    assert parse_update(ignored) == parse_update(START)


DEEP = 100_000


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * DEEP + b"]" * DEEP,
        b'{"a":' * DEEP + b"1" + b"}" * DEEP,
        body(START)[:-1] + b', "extra": ' + b"[" * DEEP + b"]" * DEEP + b"}",
        body(with_field(["message", "forward_origin"], {"type": "user"})).replace(
            b'"user"', b"[" * DEEP + b"]" * DEEP
        ),
    ],
    ids=["array", "object", "ignored-field", "forward-origin"],
)
def test_deep_nesting_is_none_not_a_recursion_error(raw: bytes) -> None:
    assert parse_update(raw) is None


def test_deep_nesting_in_a_decoded_object_is_none() -> None:
    deep: list[Any] = []
    for _ in range(DEEP):
        deep = [deep]
    assert parse_update(with_field(["message", "forward_origin"], {"type": deep})) is None
