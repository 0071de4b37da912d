"""Generates and checks the country names the bot understands (billing/data/countries.json).

    python scripts/countries.py          # write layers/common/billing/data/countries.json
    python scripts/countries.py check    # exit 1 when the file differs from what pycountry gives

The names come from pycountry (ISO 3166-1 with its Russian translations): a development
dependency only, because it is 23 MB installed (22 MB of locales for about 100 languages) and
the Lambda layer needs 2 of them for 249 countries. The runtime (billing/domain/countries.py)
reads the JSON with the standard library.

Per country, sorted by alpha-2 code, one line each so that a pycountry upgrade reads as a diff:
  alpha_3   the ISO alpha-3 code
  en, ru    the display names: the short common name where ISO has one ("Iran", "Южная Корея")
  names     the other names a payer may type that are not official (absent when none): the
            ISO name and common name in English and Russian, and the few ALIASES below
  official  the official names in English and Russian ("Federal Republic of Germany"), kept
            apart because the runtime ranks them below everyday names when it offers candidates
"""

from __future__ import annotations

import gettext
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import pycountry

OUTPUT = Path(__file__).resolve().parent.parent / "layers/common/billing/data/countries.json"

# Names people really type that pycountry has in no form (checked against pycountry 26.2.16:
# it knows "Czechia", "Czech Republic", "Чехия", "South Korea", "Laos", "Vietnam", "Iran"...).
# Only English and Russian, the bot's languages. Each name must belong to one country.
ALIASES: dict[str, tuple[str, ...]] = {
    # ISO has "United Kingdom" and "Соединённое Королевство"; people say Britain, England, UK.
    "GB": ("UK", "Great Britain", "Britain", "England", "Великобритания", "Британия", "Англия"),
    # ISO has "United States (of America)", "Соединённые Штаты"; "US" is also the alpha-2 code.
    "US": ("USA", "America", "США", "Америка"),
    # ISO has only "Russian Federation" / "Российская Федерация".
    "RU": ("Russia", "Россия", "РФ"),
    # The ISO name since 2022 is "Türkiye"; most people still type the old English name.
    "TR": ("Turkey",),
    # The colloquial name of the Netherlands in both languages.
    "NL": ("Holland", "Голландия"),
    # The abbreviation everyone uses for the United Arab Emirates.
    "AE": ("UAE", "ОАЭ"),
    # The Russian name in everyday use next to ISO's "Беларусь".
    "BY": ("Белоруссия",),
    # The English names in everyday use for ISO's "Côte d'Ivoire" and "Cabo Verde".
    "CI": ("Ivory Coast",),
    "CV": ("Cape Verde",),
}

# Display names where ISO's own read unnaturally; each is also a name a payer may type.
DISPLAY: dict[str, dict[str, str]] = {
    "RU": {"en": "Russia", "ru": "Россия"},  # not "Russian Federation"
    "US": {"ru": "США"},  # ISO's Russian is "Соединённые штаты"
    "GB": {"ru": "Великобритания"},  # ISO's Russian is "Соединённое Королевство"
    "CD": {
        "en": "Democratic Republic of the Congo"
    },  # ISO: "Congo, The Democratic Republic of the"
}

COMBINING_ACUTE = "\u0301"  # some Russian translations mark the stress: "Респу́блика"


def _unique(names: Iterable[str | None], exclude: Iterable[str] = ()) -> list[str]:
    seen = set(exclude)
    out = []
    for name in names:
        if name and name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _english_display(name: str, common: str | None, official: str | None) -> str:
    if common:
        return common
    # "Micronesia, Federated States of", "Virgin Islands, British": the official name reads
    # better than ISO's inverted list form.
    if official and ", " in name and official != name:
        return official.removeprefix("the ")
    return name


def country_entries() -> dict[str, dict[str, object]]:
    ru = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["ru"])

    def russian(text: str | None) -> str | None:
        return ru.gettext(text).replace(COMBINING_ACUTE, "").strip() if text else None

    entries: dict[str, dict[str, object]] = {}
    for country in pycountry.countries:
        code: str = country.alpha_2
        name: str = country.name
        common: str | None = getattr(country, "common_name", None)
        official: str | None = getattr(country, "official_name", None)
        display = DISPLAY.get(code, {})
        en = display.get("en") or _english_display(name, common, official)
        ru_name = display.get("ru") or russian(common) or russian(name) or en
        names = _unique(
            [name, common, russian(name), russian(common), *ALIASES.get(code, ())],
            exclude=(en, ru_name),
        )
        entry: dict[str, object] = {"alpha_3": country.alpha_3, "en": en, "ru": ru_name}
        if names:
            entry["names"] = names
        officials = _unique([official, russian(official)], exclude=(en, ru_name, *names))
        if officials:
            entry["official"] = officials
        entries[code] = entry
    unknown = (set(ALIASES) | set(DISPLAY)) - set(entries)
    if unknown:
        raise SystemExit(f"aliases for codes pycountry does not know: {sorted(unknown)}")
    return dict(sorted(entries.items()))


def generate() -> str:
    """The file's text: one JSON object, compact, one country a line, deterministic."""
    lines = [
        json.dumps(code) + ":" + json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        for code, entry in country_entries().items()
    ]
    head = json.dumps({"pycountry": pycountry.__version__}, separators=(",", ":"))[:-1]
    return head + ',"countries":{\n' + ",\n".join(lines) + "\n}}\n"


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "generate"
    text = generate()
    if command == "generate":
        OUTPUT.write_text(text, encoding="utf-8")
        return 0
    if command == "check":
        if not OUTPUT.exists() or OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT.name} differs from pycountry: run `python scripts/countries.py`")
            return 1
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
