"""The message catalog: every sentence a person reads, per language, from gettext files.

Texts live in `billing/locale/<lang>/LC_MESSAGES/<domain>.po` (what translators edit) and are
compiled to `.mo` next to them (`make catalog`; a test fails when a `.mo` is older than its
`.po`). The runtime reads the `.mo` with the standard library's `gettext`, so the catalog costs
no dependency and no parsing beyond a dictionary load on the cold path; Babel (a development
dependency) compiles and checks the files. Messages are looked up by key ("welcome"), not by
their English text, so rewording the English never orphans a translation, and a test can
check that every key exists in every language with the same placeholders.

One domain per area (`bot`, `admin`, `documents`, ...) keeps each file small and owned by one
part of the code; the lookup sees all domains of a language as one catalog (keys are unique
across domains, which a test checks).

Plural forms are gettext's: `plural(lang, "months", n)` picks Russian's one / few / many form
by the `Plural-Forms` rule in the `.po` header. Grammatical cases are separate keys named for
their use ("product_genitive_softphone"), because a sentence, not code, knows which case it needs.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

LANGUAGES = ("en", "ru")
DEFAULT_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
PLURAL_SUFFIX = "#plural"  # msgid_plural of a plural message: its key with this suffix


def language_of(lang: str | None) -> str:
    """The catalog language for a Telegram language code ("ru", "ru-RU", None, "de")."""
    code = (lang or "").split("-")[0].lower()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


class _Missing(gettext.NullTranslations):
    """The last link of the chain: a key no domain has is a bug to find in tests, never a raw
    key shown to a person, so it raises instead of echoing the key as gettext would."""

    def gettext(self, message: str) -> str:
        raise KeyError(f"no message {message!r} in the catalog")

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        raise KeyError(f"no plural message {msgid1!r} in the catalog")


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """All domains of one language chained into one lookup (loaded once per process)."""
    files = sorted((LOCALE_DIR / lang / "LC_MESSAGES").glob("*.mo"))
    if not files:
        raise FileNotFoundError(f"no compiled catalog for {lang!r} in {LOCALE_DIR}")
    chain: list[gettext.NullTranslations] = []
    for path in files:
        with path.open("rb") as stream:
            chain.append(gettext.GNUTranslations(stream))
    chain.append(_Missing())
    for catalog in chain[1:]:
        chain[0].add_fallback(catalog)
    return chain[0]


def has_message(lang: str, key: str) -> bool:
    try:
        translations(language_of(lang)).gettext(key)
    except KeyError:
        return False
    return True


def message(lang: str, key: str, **values: object) -> str:
    """The message `key` in `lang` (English when the language is not translated), filled in."""
    template = translations(language_of(lang)).gettext(key)
    return template.format(**values) if values else template


def plural(lang: str, key: str, n: int, **values: object) -> str:
    """The form of `key` for the number `n` (`{n}` is filled in along with `values`)."""
    template = translations(language_of(lang)).ngettext(key, key + PLURAL_SUFFIX, n)
    return template.format(n=n, **values)
