"""VAT for a Payer (SPEC §6): country, optional VAT id, and the rate and invoice note they give.

The seller is Lithuanian. Rates are data (billing/data/vat_rates.toml); VAT ids are checked
offline (format and check digits, python-stdnum). Whether an id is actually registered is a
VIES question for a pluggable `VatIdVerifier`, outside this pure module.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from types import MappingProxyType
from typing import Protocol

from billing.errors import InvalidCountry, InvalidVatId

SELLER_COUNTRY = "LT"
REVERSE_CHARGE = "reverse charge"
NOT_SUBJECT = "not subject to EU VAT"


def _load_rates() -> tuple[dict[str, Decimal], dict[str, str]]:
    text = resources.files("billing").joinpath("data/vat_rates.toml").read_text("utf-8")
    data = tomllib.loads(text)
    rates = {code: Decimal(rate) for code, rate in data["standard_rates"].items()}
    return rates, dict(data.get("vat_id_prefixes", {}))


_rates, _prefixes = _load_rates()
EU_VAT_RATES = MappingProxyType(_rates)
EU_COUNTRIES = frozenset(_rates)
# Greece's VAT ids start with EL although its country code is GR.
VAT_ID_PREFIXES = MappingProxyType({code: _prefixes.get(code, code) for code in EU_COUNTRIES})

# Every region with a telephone numbering plan (phonenumbers.SUPPORTED_REGIONS): all ISO 3166-1
# countries a customer can live in, and XK, AC, TA. Written out so that checking a country
# does not load phonenumbers (58 modules); tests/unit/test_tax.py keeps it equal to the library's.
KNOWN_COUNTRIES = frozenset(
    """
    AC AD AE AF AG AI AL AM AO AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GT GU
    GW GY HK HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT
    MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PR PS PT
    PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TA
    TC TD TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG US UY UZ VA VC VE VG VI VN VU WF WS XK
    YE YT ZA ZM ZW
    """.split()  # noqa: SIM905 - a table of codes reads better than 245 quoted strings
)


def normalize_country(code: str) -> str:
    """'de ' -> 'DE'; anything that is not a known ISO 3166-1 alpha-2 code is refused."""
    country = code.strip().upper() if isinstance(code, str) else ""
    if country not in KNOWN_COUNTRIES:
        hint = " (Greece is GR)" if country == "EL" else ""
        raise InvalidCountry(
            f"country must be a 2-letter ISO 3166-1 code such as DE, LT or US, got {code!r}{hint}"
        )
    return country


def normalize_vat_id(vat_id: str, country: str) -> str:
    """An EU VAT id in compact form with its prefix ("DE136695976"), checked for `country`.

    Outside the EU a tax number never changes the rate, so it is kept as typed (stripped).
    """
    # python-stdnum loads on the paths that check a VAT id, not with every price.
    from stdnum.eu import vat as eu_vat
    from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError

    country = normalize_country(country)
    text = vat_id.strip() if isinstance(vat_id, str) else ""
    if not text:
        raise InvalidVatId("VAT id is empty", reason="empty")
    if country not in EU_COUNTRIES:
        return text
    expected = VAT_ID_PREFIXES[country]
    # People often type the number without its country prefix.
    candidate = text if text[:2].isalpha() else expected + text
    if country == "GR" and candidate[:2].upper() == "GR":
        candidate = expected + candidate[2:]
    try:
        compact = str(eu_vat.compact(candidate))
    except ValidationError:
        compact = candidate.upper()
    if compact[:2] != expected:
        raise InvalidVatId(
            f"VAT id {text} does not belong to country {country}: it must start with {expected}",
            reason="wrong_country",
            expected=expected,
        )
    try:
        eu_vat.validate(compact)
    except InvalidChecksum:
        raise InvalidVatId(
            f"VAT id {text} is not valid: wrong check digits", reason="check_digits"
        ) from None
    except InvalidLength:
        raise InvalidVatId(
            f"VAT id {text} is not valid: wrong length for {country}", reason="invalid"
        ) from None
    except ValidationError:
        raise InvalidVatId(
            f"VAT id {text} is not valid: wrong format for {country}", reason="invalid"
        ) from None
    return compact


@dataclass(frozen=True)
class TaxProfile:
    """A Payer's country and optional VAT id, always stored normalized and valid."""

    country: str
    vat_id: str | None = None

    def __post_init__(self) -> None:
        # Normalizing here too means no unchecked profile can reach `vat_for`.
        country = normalize_country(self.country)
        vat_id = normalize_vat_id(self.vat_id, country) if self.vat_id is not None else None
        object.__setattr__(self, "country", country)
        object.__setattr__(self, "vat_id", vat_id)

    @classmethod
    def create(cls, country: str, vat_id: str | None = None) -> TaxProfile:
        """From user input: a blank VAT id means none."""
        return cls(country, vat_id if vat_id and vat_id.strip() else None)

    @property
    def in_eu(self) -> bool:
        return self.country in EU_COUNTRIES


@dataclass(frozen=True)
class VatDecision:
    rate: Decimal  # percent
    note: str | None


def vat_for(profile: TaxProfile) -> VatDecision:
    if profile.country == SELLER_COUNTRY:
        return VatDecision(EU_VAT_RATES[SELLER_COUNTRY], None)
    if not profile.in_eu:
        return VatDecision(Decimal(0), NOT_SUBJECT)
    if profile.vat_id is not None:
        return VatDecision(Decimal(0), REVERSE_CHARGE)
    return VatDecision(EU_VAT_RATES[profile.country], None)


class VatIdVerifier(Protocol):
    def is_registered(self, vat_id: str) -> bool | None:
        """True/False from the registry, or None when it cannot say (offline, timeout)."""


class OfflineVatIdVerifier:
    """Knows nothing beyond the offline check; a VIES client (SOAP/REST) plugs in here."""

    def is_registered(self, vat_id: str) -> bool | None:
        return None
