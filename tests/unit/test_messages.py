"""The message catalog (billing/locale): complete in every language, compiled, consistent."""

from __future__ import annotations

import string
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from billing import i18n

ROOT = Path(__file__).resolve().parents[2]


def catalogs(lang: str) -> dict[str, dict[object, object]]:
    """domain -> {key: text} of one language's .po files."""
    found: dict[str, dict[object, object]] = {}
    for path in sorted((i18n.LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as stream:
            catalog = read_po(stream, locale=lang)
        found[path.stem] = {message.id: message.string for message in catalog if message.id}
    return found


def placeholders(text: object) -> set[str]:
    texts = text if isinstance(text, (tuple, list)) else (text,)
    return {
        field for part in texts for _, field, _, _ in string.Formatter().parse(str(part)) if field
    }


def test_every_language_has_the_same_domains_and_keys() -> None:
    english = catalogs("en")
    for lang in i18n.LANGUAGES:
        other = catalogs(lang)
        assert other.keys() == english.keys(), lang
        for domain, messages in english.items():
            assert other[domain].keys() == messages.keys(), (lang, domain)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(lang: str) -> None:
    english = catalogs("en")
    for domain, messages in catalogs(lang).items():
        for key, text in messages.items():
            forms = text if isinstance(text, tuple) else (text,)
            assert all(forms), f"{lang}/{domain}: {key} is empty"
            assert placeholders(text) == placeholders(english[domain][key]), (lang, key)


def test_keys_are_unique_across_domains() -> None:
    seen: dict[object, str] = {}
    for domain, messages in catalogs("en").items():
        for key in messages:
            assert key not in seen, f"{key} is in both {seen.get(key)} and {domain}"
            seen[key] = domain


def test_compiled_catalog_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/catalog.py"), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_russian_plural_forms_follow_the_number() -> None:
    forms = [i18n.plural("ru", "months_n", n) for n in (1, 2, 5, 11, 21, 22, 25)]
    assert forms == [
        "1 месяц",
        "2 месяца",
        "5 месяцев",
        "11 месяцев",
        "21 месяц",
        "22 месяца",
        "25 месяцев",
    ]
    assert [i18n.plural("en", "months_n", n) for n in (1, 2)] == ["1 month", "2 months"]


def test_an_unknown_key_is_an_error_not_a_raw_key_on_screen() -> None:
    with pytest.raises(KeyError):
        i18n.message("ru", "no_such_message")
    assert i18n.message("de", "cancelled") == i18n.message("en", "cancelled")
    assert i18n.language_of("ru-RU") == "ru"


def test_every_kind_of_history_record_has_a_sentence_in_every_language() -> None:
    from billing.domain.subscription import ChangeKind

    for lang in i18n.LANGUAGES:
        for kind in ChangeKind:
            assert i18n.has_message(lang, f"history_{kind.value}"), (lang, kind)
