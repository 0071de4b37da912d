"""Billing country typed as a name or a code (billing/domain/countries.py), and the generated
names file staying in sync with pycountry (scripts/countries.py)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import phonenumbers
import pytest

from billing.domain.countries import (
    MAX_CANDIDATES,
    country_name,
    exact_country,
    match_country,
    normalize,
)
from billing.domain.tax import EU_COUNTRIES

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "layers/common/billing/data/countries.json"
COUNTRIES: dict[str, dict[str, Any]] = json.loads(DATA.read_text("utf-8"))["countries"]

# What payers type for each EU member state, in English and in Russian.
EU_NAMES = {
    "AT": ("Austria", "Австрия"),
    "BE": ("Belgium", "Бельгия"),
    "BG": ("Bulgaria", "Болгария"),
    "CY": ("Cyprus", "Кипр"),
    "CZ": ("Czech Republic", "Чехия"),
    "DE": ("Germany", "Германия"),
    "DK": ("Denmark", "Дания"),
    "EE": ("Estonia", "Эстония"),
    "ES": ("Spain", "Испания"),
    "FI": ("Finland", "Финляндия"),
    "FR": ("France", "Франция"),
    "GR": ("Greece", "Греция"),
    "HR": ("Croatia", "Хорватия"),
    "HU": ("Hungary", "Венгрия"),
    "IE": ("Ireland", "Ирландия"),
    "IT": ("Italy", "Италия"),
    "LT": ("Lithuania", "Литва"),
    "LU": ("Luxembourg", "Люксембург"),
    "LV": ("Latvia", "Латвия"),
    "MT": ("Malta", "Мальта"),
    "NL": ("Netherlands", "Нидерланды"),
    "PL": ("Poland", "Польша"),
    "PT": ("Portugal", "Португалия"),
    "RO": ("Romania", "Румыния"),
    "SE": ("Sweden", "Швеция"),
    "SI": ("Slovenia", "Словения"),
    "SK": ("Slovakia", "Словакия"),
}


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("countries_script", ROOT / "scripts/countries.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- exact answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Germany", "DE"),
        ("germany", "DE"),
        ("  GERMANY  ", "DE"),
        ("Германия", "DE"),
        ("германия", "DE"),
        ("Federal Republic of Germany", "DE"),
        ("de", "DE"),
        ("DE", "DE"),
        (" De ", "DE"),
        ("DEU", "DE"),
        ("deu", "DE"),
        ("UK", "GB"),
        ("U.K.", "GB"),
        ("United Kingdom", "GB"),
        ("Great Britain", "GB"),
        ("Britain", "GB"),
        ("England", "GB"),
        ("GB", "GB"),
        ("Великобритания", "GB"),
        ("Англия", "GB"),
        ("Соединённое Королевство", "GB"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("US", "US"),
        ("United States", "US"),
        ("United States of America", "US"),
        ("America", "US"),
        ("США", "US"),
        ("Соединенные Штаты Америки", "US"),
        ("Russia", "RU"),
        ("Russian Federation", "RU"),
        ("Россия", "RU"),
        ("россия", "RU"),
        ("РФ", "RU"),
        ("Российская Федерация", "RU"),
        ("Czech Republic", "CZ"),
        ("Czechia", "CZ"),
        ("czech  republic", "CZ"),
        ("Чехия", "CZ"),
        ("Türkiye", "TR"),
        ("Turkiye", "TR"),
        ("Turkey", "TR"),
        ("Турция", "TR"),
        ("Côte d'Ivoire", "CI"),
        ("Cote d'Ivoire", "CI"),
        ("Côte d’Ivoire", "CI"),
        ("cote divoire", "CI"),
        ("Cote-d-Ivoire", "CI"),
        ("Ivory Coast", "CI"),
        ("Кот-д'Ивуар", "CI"),
        ("Кот д Ивуар", "CI"),
        ("Объединённые Арабские Эмираты", "AE"),
        ("Объединенные арабские эмираты", "AE"),  # е for ё
        ("UAE", "AE"),
        ("ОАЭ", "AE"),
        ("Белоруссия", "BY"),
        ("Беларусь", "BY"),
        ("Holland", "NL"),
        ("the Netherlands", "NL"),
        ("South Korea", "KR"),
        ("Южная Корея", "KR"),
        ("North Korea", "KP"),
        ("Guinea-Bissau", "GW"),
        ("Guinea Bissau", "GW"),
        ("Guinea", "GN"),  # a whole name, though Guinea-Bissau starts with it
        ("Niger", "NE"),
        ("Åland Islands", "AX"),
        ("Aland Islands", "AX"),
        ("Réunion", "RE"),
        ("Curacao", "CW"),
        ("Vietnam", "VN"),
        ("Viet Nam", "VN"),
        ("Iran", "IR"),
        ("Laos", "LA"),
        ("Moldova", "MD"),
        ("Молдавия", "MD"),
        ("Йемен", "YE"),
        ("Cape Verde", "CV"),
        ("Cabo Verde", "CV"),
        ("Trinidad and Tobago", "TT"),
        ("🇩🇪", "DE"),
        ("🇬🇧", "GB"),
    ],
)
def test_exact(text: str, code: str) -> None:
    assert exact_country(text) == code
    assert match_country(text) == [code]


@pytest.mark.parametrize(("code", "names"), sorted(EU_NAMES.items()))
def test_every_eu_country_by_its_english_and_russian_name(
    code: str, names: tuple[str, str]
) -> None:
    for name in names:
        assert match_country(name) == [code]
        assert match_country(name.upper()) == [code]


def test_the_eu_table_is_the_eu() -> None:
    assert set(EU_NAMES) == EU_COUNTRIES


def test_every_iso_code_names_its_country() -> None:
    assert len(COUNTRIES) == 249
    for code, entry in COUNTRIES.items():
        assert match_country(code) == [code]
        assert match_country(code.lower()) == [code]
        alpha_3 = str(entry["alpha_3"])
        # An alpha-3 code that also starts another name ("AUS") is a candidate, listed first.
        assert match_country(alpha_3)[0] == code
        assert exact_country(alpha_3) in (code, None)


def test_every_name_in_the_file_names_one_country() -> None:
    """No two countries share a name once normalized, or a name would never be exact."""
    for code, entry in COUNTRIES.items():
        names = [entry["en"], entry["ru"], *entry.get("names", []), *entry.get("official", [])]
        for name in names:
            assert exact_country(str(name)) == code, name


def test_an_alpha_3_code_that_starts_another_name_is_only_a_candidate() -> None:
    assert exact_country("AUS") is None
    assert match_country("Aus") == ["AU", "AT"]
    assert match_country("IND")[:2] == ["IN", "ID"]
    assert exact_country("AUT") == "AT"


# --- candidates ------------------------------------------------------------------------------


def test_korea_offers_both_koreas() -> None:
    assert exact_country("Korea") is None
    assert sorted(match_country("Korea")) == ["KP", "KR"]
    assert sorted(match_country("корея")) == ["KP", "KR"]


@pytest.mark.parametrize(
    ("text", "first"),
    [("Ger", "DE"), ("Гер", "DE"), ("germ", "DE"), ("Герм", "DE"), ("Czech", "CZ"), ("Росс", "RU")],
)
def test_prefix_candidates(text: str, first: str) -> None:
    assert exact_country(text) is None
    candidates = match_country(text)
    assert candidates[0] == first
    assert 1 <= len(candidates) <= MAX_CANDIDATES


def test_candidates_by_a_word_inside_the_name() -> None:
    assert match_country("Macedonia") == ["MK"]
    assert match_country("emirates") == ["AE"]
    assert match_country("Эмираты") == ["AE"]
    assert match_country("Vatican") == ["VA"]
    assert set(match_country("Virgin")) == {"VG", "VI"}
    assert exact_country("Macedonia") is None


def test_names_that_start_with_the_text_come_before_a_word_inside() -> None:
    # "Гер": Германия, Гернси start with it; Босния и Герцеговина only has a word that does.
    assert match_country("Гер")[:3] == ["DE", "GG", "BA"]
    assert match_country("Austr") == ["AU", "AT"]


def test_everyday_names_come_before_official_ones() -> None:
    # Реюньон is a display name; "Республика Молдова" is ISO's name; the rest are official.
    candidates = match_country("Ре")
    assert candidates[0] == "RE"
    assert candidates[1:3] == ["MD", "KR"]
    assert len(candidates) == MAX_CANDIDATES


def test_close_spellings() -> None:
    assert match_country("Germny") == ["DE"]
    assert match_country("Гемрания") == ["DE"]
    assert match_country("Frnace") == ["FR"]
    assert exact_country("Germny") is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "x",
        "Ч",
        "-",
        "!!!",
        "12345",
        "hello",
        "asdfgh",
        "qwerty",
        "привет",
        "xk",
        "🇽🇰",
        "🙂",
    ],
)
def test_nothing(text: str) -> None:
    assert match_country(text) == []
    assert exact_country(text) is None


# --- names shown -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "lang", "name"),
    [
        ("RU", "en", "Russia"),
        ("RU", "ru", "Россия"),
        ("GB", "en", "United Kingdom"),
        ("GB", "ru", "Великобритания"),
        ("US", "en", "United States"),
        ("US", "ru", "США"),
        ("DE", "en", "Germany"),
        ("DE", "ru", "Германия"),
        ("KR", "en", "South Korea"),
        ("KR", "ru", "Южная Корея"),
        ("KP", "ru", "Северная Корея"),
        ("IR", "en", "Iran"),
        ("CZ", "en", "Czechia"),
        ("TR", "en", "Türkiye"),
        ("CD", "en", "Democratic Republic of the Congo"),
        ("FM", "en", "Federated States of Micronesia"),
        ("HK", "ru", "Гонконг"),
        ("de", "en", "Germany"),
        (" lt ", "ru-RU", "Литва"),
        ("LT", "ru_RU", "Литва"),
        ("LT", "en-US", "Lithuania"),
        ("LT", "de", "Lithuania"),
        ("XK", "en", "XK"),
        ("", "ru", ""),
    ],
)
def test_country_name(code: str, lang: str, name: str) -> None:
    assert country_name(code, lang) == name


def test_every_country_has_an_english_and_a_russian_name() -> None:
    for code in COUNTRIES:
        english, russian = country_name(code, "en"), country_name(code, "ru")
        assert english.isascii() or code in {"AX", "BL", "CI", "CW", "RE", "TR"}, english
        assert any("\u0400" <= char <= "\u04ff" for char in russian), (code, russian)
        assert "," not in english or code in {"BQ", "SH"}, english  # no "Korea, Republic of"


def test_normalize() -> None:
    assert normalize("  Côte  d’Ivoire ") == "cote divoire"
    assert normalize("Объединённые") == "объединенные"
    assert normalize("U.S.A.") == "usa"
    assert normalize("Guinea-Bissau") == "guinea bissau"
    assert normalize("The Bahamas") == "bahamas"


def test_codes_without_a_phone_plan() -> None:
    """normalize_country accepts the regions with a phone plan: a handful of uninhabited ISO
    places are not among them (and phonenumbers' XK, AC, TA are not ISO 3166-1 codes)."""
    assert set(COUNTRIES) - set(phonenumbers.SUPPORTED_REGIONS) == {
        "AQ", "BV", "GS", "HM", "PN", "TF", "UM",
    }  # fmt: skip


# --- the generated file ----------------------------------------------------------------------


def test_the_file_is_what_pycountry_generates() -> None:
    generator = load_generator()
    assert DATA.read_text("utf-8") == generator.generate(), "run `python scripts/countries.py`"
    assert generator.main(["countries.py", "check"]) == 0


def test_check_fails_on_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = load_generator()
    stale = tmp_path / "countries.json"
    monkeypatch.setattr(generator, "OUTPUT", stale)
    assert generator.main(["countries.py", "check"]) == 1  # missing
    stale.write_text(DATA.read_text("utf-8").replace("Germany", "Germania"), "utf-8")
    assert generator.main(["countries.py", "check"]) == 1
    assert generator.main(["countries.py"]) == 0
    assert stale.read_text("utf-8") == DATA.read_text("utf-8")
    assert generator.main(["countries.py", "check"]) == 0


def test_every_alias_is_a_name_pycountry_does_not_have() -> None:
    """An alias is only for what pycountry lacks: once it knows a name, drop the alias."""
    import gettext

    import pycountry

    generator = load_generator()
    russian = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["ru"]).gettext
    iso_names = set()
    for country in pycountry.countries:
        for field in ("name", "common_name", "official_name"):
            if hasattr(country, field):
                iso_names.add(normalize(getattr(country, field)))
                iso_names.add(normalize(russian(getattr(country, field))))
    for code, aliases in generator.ALIASES.items():
        for alias in aliases:
            assert normalize(alias) not in iso_names, (code, alias)
            assert exact_country(alias) == code


def test_the_runtime_loads_lazily_and_without_pycountry() -> None:
    program = (
        "import sys\n"
        "import billing.domain.countries as c\n"
        "assert c._index.cache_info().currsize == 0\n"
        "assert c.match_country('Germany') == ['DE']\n"
        "assert 'pycountry' not in sys.modules\n"
    )
    subprocess.run(
        [sys.executable, "-c", program], check=True, cwd=ROOT / "layers/common", timeout=60
    )
