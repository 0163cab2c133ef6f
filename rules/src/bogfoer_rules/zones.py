"""VAT zone of a sale: where the goods go (territory) and who buys (B2B with a valid EU VAT number).

Follows docs/danish-vat-and-accounts.md §3–§4. Postcode hints for special territories are
[unverified] in the doc; each rule below names the territory it detects.
"""

from __future__ import annotations

import re
from typing import Literal

from bogfoer_contracts.events import Address, Customer

Zone = Literal["domestic", "eu_b2b", "eu_b2c", "non_eu"]
# Where goods go, for VAT: Denmark, the EU VAT area, Northern Ireland (EU rules for goods),
# or outside the EU VAT area.
Territory = Literal["DK", "EU", "XI", "outside"]

# Member states of the EU VAT area by ISO 3166-1 code (Greece is GR here, EL in VAT numbers).
EU_MEMBER_STATES: frozenset[str] = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
        "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    }
)  # fmt: skip
# Not member states, but inside the EU VAT area by art. 7 of the VAT Directive.
_TREATED_AS: dict[str, str] = {"MC": "FR"}  # Monaco as France

# Special territories of member states outside the EU VAT area, detected by postcode prefix.
# (country, postcode prefix, territory name) — the name is for documentation and tests.
_OUTSIDE_BY_POSTCODE: tuple[tuple[str, str, str], ...] = (
    ("ES", "35", "Canary Islands (Las Palmas)"),
    ("ES", "38", "Canary Islands (Santa Cruz de Tenerife)"),
    ("ES", "51", "Ceuta"),
    ("ES", "52", "Melilla"),
    ("FI", "22", "Åland Islands"),
    ("GR", "63086", "Mount Athos"),
    ("DE", "27498", "Heligoland"),
    ("DE", "78266", "Büsingen am Hochrhein"),
    ("IT", "22061", "Campione d'Italia"),
    ("IT", "23041", "Livigno"),
    # French overseas departments and collectivities (Guadeloupe 971, Martinique 972,
    # French Guiana 973, Réunion 974, Saint-Pierre-et-Miquelon 975, Mayotte 976,
    # Saint-Barthélemy/Saint-Martin 977/978 — the latter two use 971xx in practice).
    ("FR", "97", "French overseas departments"),
    # Wallis and Futuna 986, French Polynesia 987, New Caledonia 988: overseas countries and
    # territories, outside the EU altogether. 980xx is Monaco (inside) and stays inside.
    ("FR", "986", "Wallis and Futuna"),
    ("FR", "987", "French Polynesia"),
    ("FR", "988", "New Caledonia"),
)
# Livigno and Campione share postcodes with nothing else, but shops often leave the postcode
# out; the municipality name is the doc's detection hint.
_OUTSIDE_BY_CITY: tuple[tuple[str, str], ...] = (
    ("IT", "livigno"),
    ("IT", "campione d'italia"),
    ("IT", "campione d’italia"),
)
# ISO codes reserved for Spanish territories outside the VAT area: EA (Ceuta, Melilla),
# IC (Canary Islands). Any other non-member code (GL, FO, AX, GP, NO, CH, GB, ...) is
# outside by default.
_OUTSIDE_CODES: frozenset[str] = frozenset({"EA", "IC"})

# VAT number syntax per prefix, after normalisation (no spaces/dots/dashes, upper case).
# Syntax only: whether a number is live is a VIES question the mapper cannot ask (no I/O).
_VAT_SYNTAX: dict[str, re.Pattern[str]] = {
    prefix: re.compile(pattern)
    for prefix, pattern in {
        "AT": r"U\d{8}",
        "BE": r"[01]\d{9}",
        "BG": r"\d{9,10}",
        "CY": r"\d{8}[A-Z]",
        "CZ": r"\d{8,10}",
        "DE": r"\d{9}",
        "DK": r"\d{8}",
        "EE": r"\d{9}",
        "EL": r"\d{9}",
        "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
        "FI": r"\d{8}",
        "FR": r"[A-HJ-NP-Z0-9]{2}\d{9}",
        "HR": r"\d{11}",
        "HU": r"\d{8}",
        "IE": r"\d[A-Z0-9+*]\d{5}[A-Z]{1,2}",
        "IT": r"\d{11}",
        "LT": r"\d{9}|\d{12}",
        "LU": r"\d{8}",
        "LV": r"\d{11}",
        "MT": r"\d{8}",
        "NL": r"\d{9}B\d{2}",
        "PL": r"\d{10}",
        "PT": r"\d{9}",
        "RO": r"\d{2,10}",
        "SE": r"\d{10}01",
        "SI": r"\d{8}",
        "SK": r"\d{10}",
        "XI": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
    }.items()
}
_VAT_NOISE = re.compile(r"[\s.\-]")


def normalise_vat_number(raw: str) -> str:
    """Strip spaces, dots and dashes, upper-case, and spell Greece's prefix EL (not GR)."""
    number = _VAT_NOISE.sub("", raw).upper()
    if number.startswith("GR"):
        number = "EL" + number[2:]
    return number


def valid_eu_vat_number(raw: str | None) -> str | None:
    """The normalised number if it is syntactically a valid EU (or XI) VAT number, else None."""
    if not raw:
        return None
    number = normalise_vat_number(raw)
    pattern = _VAT_SYNTAX.get(number[:2])
    if pattern is None or pattern.fullmatch(number[2:]) is None:
        return None
    return number


_POSTCODE_NOISE = re.compile(r"[\s\-]")  # compiled once: `re.sub` looks its pattern up per call


def _postcode(address: Address) -> str:
    return _POSTCODE_NOISE.sub("", address.postcode or "").upper()


# The special territories by country: a look-up instead of a search of every table, and the
# postcode and city read only for a country that has such a territory (every order asks).
_OUTSIDE_PREFIXES: dict[str, tuple[str, ...]] = {
    code: tuple(prefix for other, prefix, _name in _OUTSIDE_BY_POSTCODE if other == code)
    for code, _prefix, _name in _OUTSIDE_BY_POSTCODE
}
_OUTSIDE_CITIES: dict[str, frozenset[str]] = {
    code: frozenset(name for other, name in _OUTSIDE_BY_CITY if other == code)
    for code, _name in _OUTSIDE_BY_CITY
}


def territory_of(address: Address) -> Territory:
    """DK, the EU VAT area, Northern Ireland, or outside the EU VAT area (export)."""
    country = _TREATED_AS.get(address.country, address.country)
    if country in ("GB", "XI"):
        # Northern Ireland (BT postcodes) follows EU rules for goods; Great Britain is export.
        return "XI" if country == "XI" or _postcode(address).startswith("BT") else "outside"
    if country in _OUTSIDE_CODES or country not in EU_MEMBER_STATES:
        return "outside"
    prefixes = _OUTSIDE_PREFIXES.get(country)
    if prefixes is not None and _postcode(address).startswith(prefixes):
        return "outside"
    cities = _OUTSIDE_CITIES.get(country)
    if cities is not None and (address.city or "").strip().lower() in cities:
        return "outside"
    return "DK" if country == "DK" else "EU"


def zone_of(customer: Customer) -> Zone:
    """The VAT zone for goods and shipping of one order, from the ship-to address and buyer.

    B2B needs kind "business" and a syntactically valid VAT number from a member state
    other than Denmark (XI for Northern Ireland); an EU business without one is B2C.
    """
    territory = territory_of(customer.ship_to)
    if territory == "DK":
        return "domestic"
    if territory == "outside":
        return "non_eu"
    if customer.kind == "business":
        number = valid_eu_vat_number(customer.vat_number)
        if number is not None and not number.startswith("DK"):
            return "eu_b2b"
    return "eu_b2c"
