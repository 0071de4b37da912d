"""The billing country a payer types in /billing ("Germany", "Германия", "de", "DEU", "UK")
to an ISO 3166-1 alpha-2 code, and a code back to a name to show (SPEC §6).

The names are data: billing/data/countries.json, generated from pycountry's ISO 3166-1 names
and Russian translations by scripts/countries.py (pycountry itself is a development
dependency: 23 MB installed, for a 33 KB file). The file is read once, on first use.

Matching ignores case, spaces, accents and diacritics ("Türkiye" = "turkiye", "ё" = "е"),
and punctuation ("U.S.A.", "Guinea Bissau", "Кот д'Ивуар"):
  1. an exact name, alias or code (or a flag emoji) is one answer: `exact_country`. An
     alpha-3 code that also starts another country's name ("Aus") is a candidate only;
  2. otherwise names that start with the text, then names with a word that does ("Korea" ->
     South Korea, North Korea), everyday names before official ones;
  3. otherwise close spellings ("Germny").
`match_country` returns the answer of 1, or the candidates of 2 or 3 to offer as buttons.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

MAX_CANDIDATES = 6
# Shorter text names too many countries to be worth a list (two letters may be a code).
MIN_PREFIX = 2
# Close spellings are tried for text at least this long, and must be this similar.
MIN_FUZZY = 4
FUZZY_CUTOFF = 0.8

# Removed inside words: "U.S.A." is "usa", "d'Ivoire" is "divoire" however it is typed;
# other ASCII punctuation separates words: "Guinea-Bissau" is "guinea bissau".
_DROPPED = ".'’ʼ`´"
_IGNORED = str.maketrans(
    {chr(char): " " for char in range(33, 127) if not chr(char).isalnum()}
    | dict.fromkeys(_DROPPED)
    | dict.fromkeys(map(chr, range(0x300, 0x370)))  # the combining diacritical marks
)
_REGIONAL_A = 0x1F1E6  # REGIONAL INDICATOR SYMBOL LETTER A: a flag is two of them


@dataclass(frozen=True, slots=True)
class _Country:
    alpha_3: str
    en: str
    ru: str


# How a name ranks among candidates: the name shown first, then other everyday names.
_DISPLAY, _EVERYDAY, _OFFICIAL = 0, 1, 2


@dataclass(slots=True)  # not frozen: a frozen __init__ is slow, and there are 866 of them
class _Name:
    code: str
    words: str  # normalized
    compact: str  # normalized without spaces
    kind: int  # _DISPLAY, _EVERYDAY or _OFFICIAL


@dataclass(frozen=True, slots=True)
class _Index:
    countries: dict[str, _Country]
    alpha_3: dict[str, str]  # casefolded alpha-3 -> alpha-2
    names: tuple[_Name, ...]
    exact: dict[str, frozenset[str]]  # compact normalized name -> the codes it names


def normalize(text: str) -> str:
    """'  Côte d’Ivoire ' -> 'cote divoire'; 'Россия-ЁЖ' -> 'россия еж'; 'The X' -> 'x'."""
    # Accents and diacritics go: in NFKD "é" is "e" + U+0301 and "ё" is "е" + U+0308.
    text = unicodedata.normalize("NFKD", text.casefold()).translate(_IGNORED)
    if not text.replace(" ", "").isalnum():  # rarer marks, punctuation, symbols: "—", "🙂"
        text = "".join(
            char if char.isalnum() else " " for char in text if not unicodedata.combining(char)
        )
    words = text.split()
    if words[:1] == ["the"]:
        words = words[1:]
    return " ".join(words)


@cache
def _index() -> _Index:
    text = resources.files("billing").joinpath("data/countries.json").read_text("utf-8")
    data = json.loads(text)["countries"]
    countries: dict[str, _Country] = {}
    alpha_3: dict[str, str] = {}
    names: list[_Name] = []
    for code, entry in data.items():
        countries[code] = _Country(entry["alpha_3"], entry["en"], entry["ru"])
        alpha_3[entry["alpha_3"].casefold()] = code
        groups = (
            (_DISPLAY, (entry["en"], entry["ru"])),
            (_EVERYDAY, entry.get("names", ())),
            (_OFFICIAL, entry.get("official", ())),
        )
        for kind, group in groups:
            for name in group:
                words = normalize(name)
                if words:
                    names.append(_Name(code, words, words.replace(" ", ""), kind))
    exact: dict[str, set[str]] = {}
    for name in names:
        exact.setdefault(name.compact, set()).add(name.code)
    return _Index(
        countries,
        alpha_3,
        tuple(names),
        {key: frozenset(codes) for key, codes in exact.items()},
    )


def _flag(text: str) -> str | None:
    """'🇩🇪' -> 'DE' (Telegram users send flags)."""
    letters = [ord(char) - _REGIONAL_A for char in text.strip()]
    if len(letters) == 2 and all(0 <= letter < 26 for letter in letters):
        return "".join(chr(ord("A") + letter) for letter in letters)
    return None


def _by_code(index: _Index, key: str) -> str | None:
    """The country whose code `key` (compact, normalized) is, if that is all it can mean."""
    if len(key) == 2 and key.upper() in index.countries:
        return key.upper()
    code = index.alpha_3.get(key) if len(key) == 3 else None
    # "Aus" is Australia's code but also how Austria starts: then it is only a candidate.
    if code is None or any(
        name.compact.startswith(key) for name in index.names if name.code != code
    ):
        return None
    return code


def exact_country(text: str) -> str | None:
    """The one country `text` names exactly (a name, an alias, a code, a flag), else None."""
    index = _index()
    flag = _flag(text)
    if flag is not None:
        return flag if flag in index.countries else None
    key = normalize(text).replace(" ", "")
    codes = index.exact.get(key, frozenset())
    if len(codes) == 1:
        return next(iter(codes))
    return _by_code(index, key) if not codes else None


def _language_of(text: str) -> str:
    return "ru" if any("\u0400" <= char <= "\u04ff" for char in text) else "en"


def match_country(text: str) -> list[str]:
    """Alpha-2 codes for what a payer typed: one code for an exact match (see
    `exact_country`), else up to MAX_CANDIDATES candidates, best first; [] for nothing.

    A single candidate is still only a candidate: ask `exact_country` before taking it.
    """
    exact = exact_country(text)
    if exact is not None:
        return [exact]
    index = _index()
    words = normalize(text)
    compact = words.replace(" ", "")
    if len(compact) < MIN_PREFIX:
        return []
    # Rank: a country whose name (none today) or alpha-3 code the text is, then names that
    # start with the text, then names with a word that does; by kind of name within each.
    best: dict[str, tuple[int, int]] = {}
    for name in index.names:
        if name.compact.startswith(compact):
            rank = (0, name.kind)
        elif f" {name.words}".find(f" {words}") >= 0:
            rank = (1, name.kind)
        else:
            continue
        if name.code not in best or rank < best[name.code]:
            best[name.code] = rank
    for code in index.exact.get(compact, ()):
        best[code] = (-1, _DISPLAY)
    if len(compact) == 3 and compact in index.alpha_3:
        best[index.alpha_3[compact]] = (-1, _DISPLAY)
    if best:
        lang = _language_of(text)
        order = sorted(best, key=lambda code: (best[code], country_name(code, lang).casefold()))
        return order[:MAX_CANDIDATES]
    if len(compact) < MIN_FUZZY:
        return []
    import difflib  # only for the rare misspelling

    close = difflib.get_close_matches(
        compact, index.exact, n=MAX_CANDIDATES * 2, cutoff=FUZZY_CUTOFF
    )
    codes: list[str] = []
    for key in close:
        codes.extend(sorted(code for code in index.exact[key] if code not in codes))
    return codes[:MAX_CANDIDATES]


def country_name(code: str, lang: str) -> str:
    """The name to show for an alpha-2 code: 'RU', 'ru' -> 'Россия'; 'RU', 'en' -> 'Russia'.

    `lang` may be a Telegram language code ("ru", "en-US") or a locale ("ru_RU"); other
    languages get English, and a code the data does not know is shown as the code.
    """
    code = code.strip().upper()
    country = _index().countries.get(code)
    if country is None:
        return code
    if lang.casefold().replace("_", "-").partition("-")[0] == "ru":
        return country.ru or country.en
    return country.en
