"""The Bot API contract (contracts/telegram-bot-api/api.json) rejects what Telegram would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.bot_api_contract import DEFAULT_PATH, BotApiContract, ContractViolation

ROOT = Path(__file__).resolve().parents[2]
KEYBOARD = {"inline_keyboard": [[{"text": "Pay", "callback_data": "pay:42"}]]}
INVOICE = {
    "chat_id": 1001,
    "title": "Premium, 1 month",
    "description": "Premium subscription for one month",
    "payload": "order:01J8ZQ",
    "provider_token": "",
    "currency": "XTR",
    "prices": [{"label": "Premium", "amount": 250}],
}


@pytest.fixture(scope="module")
def contract() -> BotApiContract:
    return BotApiContract.load()


def rejects(contract: BotApiContract, method: str, params: dict[str, Any]) -> str:
    with pytest.raises(ContractViolation) as caught:
        contract.check(method, params)
    return caught.value.description


def test_the_contract_is_the_projects_own_copy_of_bot_api_10_1() -> None:
    assert DEFAULT_PATH == ROOT / "contracts" / "telegram-bot-api" / "api.json"
    spec = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    assert spec["version"] == "Bot API 10.1"
    assert (DEFAULT_PATH.parent / "LICENSE").read_text().startswith("MIT License")
    assert BotApiContract.load().version == "Bot API 10.1"


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("sendMessage", {"chat_id": 1001, "text": "Hello", "reply_markup": KEYBOARD}),
        ("sendMessage", {"chat_id": "@channel", "text": "<b>Bold</b> &amp;", "parse_mode": "HTML"}),
        (
            "sendMessage",
            {
                "chat_id": 1001,
                "text": "Whom do you connect?",
                "reply_markup": {
                    "keyboard": [
                        [{"text": "Choose", "request_users": {"request_id": 1, "max_quantity": 1}}],
                        [{"text": "Share my number", "request_contact": True}],
                        ["Cancel"],
                    ],
                    "resize_keyboard": True,
                    "one_time_keyboard": True,
                },
            },
        ),
        ("sendMessage", {"chat_id": 1001, "text": "ok", "reply_markup": {"remove_keyboard": True}}),
        ("sendMessage", {"chat_id": 1001, "text": "x" * 4096, "reply_markup": None}),
        (
            "editMessageText",
            {"chat_id": 1001, "message_id": 7, "text": "Paid", "reply_markup": KEYBOARD},
        ),
        ("editMessageText", {"inline_message_id": "AAA", "text": "Paid"}),
        ("answerCallbackQuery", {"callback_query_id": "4000", "text": "Done", "show_alert": False}),
        ("answerCallbackQuery", {"callback_query_id": "4000", "text": ""}),
        ("sendInvoice", INVOICE),
        (
            "setMyCommands",
            {
                "commands": [{"command": "start", "description": "Start"}],
                "scope": {"type": "all_private_chats"},
                "language_code": "ru",
            },
        ),
        ("setMyCommands", {"commands": [], "scope": {"type": "chat", "chat_id": 1001}}),
        ("answerPreCheckoutQuery", {"pre_checkout_query_id": "9", "ok": True}),
        (
            "answerPreCheckoutQuery",
            {"pre_checkout_query_id": "9", "ok": False, "error_message": "x"},
        ),
        ("sendDocument", {"chat_id": 1001, "document": ("a.pdf", b"%PDF", "application/pdf")}),
        ("sendDocument", {"chat_id": 1001, "document": "BQACAgIAAxkDAAF00000001"}),
        ("sendChatAction", {"chat_id": 1001, "action": "upload_document"}),
        ("getUpdates", {"offset": 10, "limit": 100, "allowed_updates": ["message"]}),
        ("getMe", {}),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_valid_calls_pass(contract: BotApiContract, method: str, params: dict[str, Any]) -> None:
    contract.check(method, params)


def test_an_unknown_method_is_not_found(contract: BotApiContract) -> None:
    with pytest.raises(ContractViolation) as caught:
        contract.check("sendMesage", {"chat_id": 1, "text": "x"})
    assert caught.value.error_code == 404
    assert caught.value.description.startswith("Not Found: method 'sendMesage' does not exist")
    assert "did you mean 'sendMessage'" in rejects(contract, "sendmessage", {})


def test_a_missing_required_parameter(contract: BotApiContract) -> None:
    assert rejects(contract, "sendMessage", {"text": "Hello"}) == (
        "Bad Request: chat_id is empty (required parameter of sendMessage)"
    )
    assert "text is empty" in rejects(contract, "sendMessage", {"chat_id": 1, "text": None})


def test_conditionally_required_parameters(contract: BotApiContract) -> None:
    assert rejects(contract, "editMessageText", {"chat_id": 1, "text": "x"}) == (
        "Bad Request: message_id is empty"
        " (required if inline_message_id is not specified in editMessageText)"
    )
    assert "error_message is empty (required if ok is False" in rejects(
        contract, "answerPreCheckoutQuery", {"pre_checkout_query_id": "9", "ok": False}
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "Bad Request: text is empty (must be 1-4096 characters)"),
        ("я" * 4097, "Bad Request: text is too long: 4097 characters, must be 1-4096 characters"),
    ],
)
def test_message_text_length_is_counted_in_characters(
    contract: BotApiContract, text: str, expected: str
) -> None:
    assert rejects(contract, "sendMessage", {"chat_id": 1, "text": text}) == expected


def test_html_text_is_measured_after_entity_parsing(contract: BotApiContract) -> None:
    contract.check(
        "sendMessage", {"chat_id": 1, "text": f"<b>{'x' * 4096}</b>", "parse_mode": "HTML"}
    )
    assert "text is empty" in rejects(
        contract, "sendMessage", {"chat_id": 1, "text": "<b></b>", "parse_mode": "HTML"}
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Balance < 5 EUR", 'Unsupported start tag "" at byte offset 8'),
        ("<br>line", 'Unsupported start tag "br" at byte offset 0'),
        ("<b>bold</i>", 'Unmatched end tag at byte offset 7, expected "</b>", found "</i>"'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
    ],
)
def test_html_must_parse(contract: BotApiContract, text: str, problem: str) -> None:
    description = rejects(
        contract, "sendMessage", {"chat_id": 1, "text": text, "parse_mode": "HTML"}
    )
    assert description == f"Bad Request: can't parse entities: {problem} (text)"


def test_lengths_of_other_fields(contract: BotApiContract) -> None:
    assert rejects(
        contract, "answerCallbackQuery", {"callback_query_id": "1", "text": "x" * 201}
    ) == ("Bad Request: text is too long: 201 characters, must be 0-200 characters")
    assert "title is too long: 33 characters, must be 1-32" in rejects(
        contract, "sendInvoice", {**INVOICE, "title": "T" * 33}
    )
    assert "payload is too long: 129 bytes, must be 1-128 bytes" in rejects(
        contract, "sendInvoice", {**INVOICE, "payload": "п" * 64 + "x"}
    )


def test_callback_data_is_counted_in_bytes(contract: BotApiContract) -> None:
    cyrillic = "д" * 33  # 33 characters, 66 bytes in UTF-8
    markup = {
        "inline_keyboard": [
            [{"text": "OK", "callback_data": "x" * 64}],
            [{"text": "No", "callback_data": cyrillic}],
        ]
    }
    assert rejects(
        contract, "sendMessage", {"chat_id": 1, "text": "x", "reply_markup": markup}
    ) == (
        "Bad Request: reply_markup.inline_keyboard[1][0].callback_data is too long:"
        " 66 bytes, must be 1-64 bytes"
    )


@pytest.mark.parametrize(
    ("button", "used"),
    [
        (
            {"text": "Both", "callback_data": "a", "url": "https://example.com"},
            "got 2: url, callback_data",
        ),
        ({"text": "None", "style": "danger"}, "got 0: none"),
    ],
)
def test_an_inline_button_needs_exactly_one_action(
    contract: BotApiContract, button: dict[str, Any], used: str
) -> None:
    markup = {"inline_keyboard": [[button]]}
    description = rejects(
        contract, "sendMessage", {"chat_id": 1, "text": "x", "reply_markup": markup}
    )
    assert description == (
        "Bad Request: reply_markup.inline_keyboard[0][0]: exactly one of the fields other than"
        " text, icon_custom_emoji_id, and style must be used in InlineKeyboardButton; " + used
    )


def test_a_reply_button_has_at_most_one_request(contract: BotApiContract) -> None:
    button = {"text": "x", "request_contact": True, "request_users": {"request_id": 1}}
    markup = {"keyboard": [[button]]}
    assert "at most one of the fields other than text" in rejects(
        contract, "sendMessage", {"chat_id": 1, "text": "x", "reply_markup": markup}
    )


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        (
            "sendMessage",
            {"chat_id": [1001], "text": "x"},
            "chat_id must be Integer or String, got Array",
        ),
        (
            "deleteMessage",
            {"chat_id": 1, "message_id": True},
            "message_id must be Integer, got Boolean",
        ),
        (
            "sendInvoice",
            {**INVOICE, "prices": [{"label": "x", "amount": 2.5}]},
            "prices[0].amount must be Integer, got Float",
        ),
        (
            "sendInvoice",
            {**INVOICE, "prices": {"label": "x", "amount": 2}},
            "prices must be Array of LabeledPrice (a JSON array), got object",
        ),
        ("sendMessage", {"chat_id": 1, "text": 5}, "text must be String, got Integer"),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "disable_notification": "yes"},
            "disable_notification must be Boolean, got String",
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": [[1]]},
            "reply_markup must be InlineKeyboardMarkup or ReplyKeyboardMarkup"
            " or ReplyKeyboardRemove or ForceReply, got Array",
        ),
        (
            "sendMessage",
            {
                "chat_id": 1,
                "text": "x",
                "reply_markup": {"inline_keyboard": [{"text": "a", "callback_data": "b"}]},
            },
            "reply_markup.inline_keyboard[0] must be Array of InlineKeyboardButton"
            " (a JSON array), got object",
        ),
        (
            "sendDocument",
            {"chat_id": 1, "document": 7},
            "document must be InputFile or String, got Integer",
        ),
        (
            "setMyCommands",
            {"commands": [], "scope": {"type": "everyone"}},
            'scope.type must be one of "default", "all_private_chats"',
        ),
        (
            "setMyCommands",
            {"commands": [], "scope": {"type": "chat"}},
            "scope.chat_id is empty (required field of BotCommandScopeChat)",
        ),
    ],
)
def test_wrong_types_are_rejected(
    contract: BotApiContract, method: str, params: dict[str, Any], expected: str
) -> None:
    assert expected in rejects(contract, method, params)


def test_unknown_parameters_and_fields_are_rejected(contract: BotApiContract) -> None:
    assert rejects(
        contract, "sendMessage", {"chat_id": 1, "text": "x", "reply_makrup": KEYBOARD}
    ) == (
        'Bad Request: unknown parameter "reply_makrup" for method sendMessage'
        " (Telegram would ignore it; the contract rejects it to catch typos)"
    )
    markup = {"inline_keyboard": [[{"text": "a", "callback_data": "b", "colour": "red"}]]}
    assert rejects(
        contract, "sendMessage", {"chat_id": 1, "text": "x", "reply_markup": markup}
    ) == (
        "Bad Request: reply_markup.inline_keyboard[0][0]:"
        ' unknown field "colour" in InlineKeyboardButton'
    )


@pytest.mark.parametrize("mode", ["html", "Markdownv2", "", "HTML5"])
def test_parse_mode_must_be_a_documented_value(contract: BotApiContract, mode: str) -> None:
    assert rejects(contract, "sendMessage", {"chat_id": 1, "text": "x", "parse_mode": mode}) == (
        f'Bad Request: unsupported parse_mode "{mode}" in parse_mode'
        ' (use one of "HTML", "MarkdownV2", "Markdown")'
    )


def test_documented_value_lists(contract: BotApiContract) -> None:
    assert 'action must be one of "typing"' in rejects(
        contract, "sendChatAction", {"chat_id": 1, "action": "upload_doc"}
    )
    markup = {"inline_keyboard": [[{"text": "a", "callback_data": "b", "style": "red"}]]}
    assert 'style must be one of "danger", "success", "primary", got "red"' in rejects(
        contract, "sendMessage", {"chat_id": 1, "text": "x", "reply_markup": markup}
    )


def test_form_values_are_decoded_by_the_field_types(contract: BotApiContract) -> None:
    decode = contract.decode_form_value
    assert decode("sendDocument", "chat_id", "1001") == 1001
    assert decode("sendDocument", "chat_id", "@channel") == "@channel"
    assert decode("sendDocument", "caption", "1001") == "1001"
    assert decode("sendDocument", "disable_notification", "true") is True
    assert decode("sendDocument", "reply_markup", json.dumps(KEYBOARD)) == KEYBOARD
    assert decode("sendDocument", "not_a_field", "5") == "5"
