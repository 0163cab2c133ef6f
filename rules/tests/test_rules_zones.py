"""Zones and territories: danish-vat-and-accounts.md §3–§4, one row per territory."""

from __future__ import annotations

import pytest

from bogfoer_contracts.events import Address, Customer
from bogfoer_rules.zones import (
    normalise_vat_number,
    territory_of,
    valid_eu_vat_number,
    zone_of,
)

# (country, postcode, city, expected territory, what the row is)
TERRITORIES = [
    ("DK", "2100", None, "DK", "Denmark"),
    ("GL", "3900", None, "outside", "Greenland"),
    ("FO", "100", None, "outside", "Faroe Islands"),
    ("ES", "35001", None, "outside", "Canary Islands, Las Palmas"),
    ("ES", "38001", None, "outside", "Canary Islands, Tenerife"),
    ("IC", None, None, "outside", "Canary Islands by ISO code IC"),
    ("ES", "51001", None, "outside", "Ceuta"),
    ("ES", "52001", None, "outside", "Melilla"),
    ("EA", None, None, "outside", "Ceuta/Melilla by ISO code EA"),
    ("AX", "22100", None, "outside", "Åland by ISO code"),
    ("FI", "22100", None, "outside", "Åland addressed as Finland"),
    ("GR", "630 86", None, "outside", "Mount Athos"),
    ("DE", "27498", None, "outside", "Heligoland"),
    ("DE", "78266", None, "outside", "Büsingen am Hochrhein"),
    ("IT", "22061", None, "outside", "Campione d'Italia"),
    ("IT", None, "Livigno", "outside", "Livigno by municipality"),
    ("IT", "23041", None, "outside", "Livigno by postcode"),
    ("GP", "97100", None, "outside", "Guadeloupe"),
    ("GF", "97300", None, "outside", "French Guiana"),
    ("MQ", "97200", None, "outside", "Martinique"),
    ("RE", "97400", None, "outside", "Réunion"),
    ("YT", "97600", None, "outside", "Mayotte"),
    ("MF", "97150", None, "outside", "Saint-Martin"),
    ("FR", "97100", None, "outside", "Guadeloupe addressed as France"),
    ("FR", "97600", None, "outside", "Mayotte addressed as France"),
    ("FR", "98800", None, "outside", "New Caledonia addressed as France"),
    ("GB", "BT1 1AA", None, "XI", "Northern Ireland"),
    ("XI", "BT1 1AA", None, "XI", "Northern Ireland by XI"),
    ("MC", "98000", None, "EU", "Monaco, as France"),
    ("FR", "98000", None, "EU", "Monaco addressed as France"),
    ("IM", "IM1 1AA", None, "outside", "Isle of Man"),
    ("JE", "JE2 3AB", None, "outside", "Jersey"),
    ("GG", "GY1 1AA", None, "outside", "Guernsey (and Alderney, Sark)"),
    ("GI", "GX11 1AA", None, "outside", "Gibraltar"),
    ("SM", "47890", None, "outside", "San Marino"),
    ("VA", "00120", None, "outside", "Vatican City"),
    ("AD", "AD500", None, "outside", "Andorra"),
    ("CH", "8000", None, "outside", "Switzerland"),
    ("LI", "9490", None, "outside", "Liechtenstein"),
    ("NO", "0150", None, "outside", "Norway"),
    ("SJ", "9170", None, "outside", "Svalbard"),
    ("GB", "SW1A 1AA", None, "outside", "Great Britain"),
    ("PT", "9000-001", None, "EU", "Madeira stays inside"),
    ("PT", "9500-001", None, "EU", "Azores stay inside"),
    ("ES", "07001", None, "EU", "Balearic Islands stay inside"),
    ("ES", "28001", None, "EU", "mainland Spain"),
    ("FI", "00100", None, "EU", "mainland Finland"),
    ("DE", "10115", None, "EU", "Germany"),
    ("IT", "20121", "Milano", "EU", "Italy"),
    ("GR", "10431", None, "EU", "Greece"),
    ("CY", "1010", None, "EU", "Cyprus"),
    ("US", "10001", None, "outside", "a third country"),
]


@pytest.mark.parametrize(
    ("country", "postcode", "city", "expected", "what"),
    TERRITORIES,
    ids=[row[4] for row in TERRITORIES],
)
def test_territory_of_each_doc_row(
    country: str, postcode: str | None, city: str | None, expected: str, what: str
) -> None:
    assert territory_of(Address(country=country, postcode=postcode, city=city)) == expected


def _customer(
    country: str,
    postcode: str | None = None,
    *,
    kind: str = "person",
    vat: str | None = None,
    ship_to: str | None = None,
    ship_postcode: str | None = None,
) -> Customer:
    return Customer.model_validate(
        {
            "name": "X",
            "kind": kind,
            "vat_number": vat,
            "billing_address": {"country": country, "postcode": postcode},
            "shipping_address": {"country": ship_to, "postcode": ship_postcode}
            if ship_to
            else None,
        }
    )


ZONES = [
    ("DK person", _customer("DK"), "domestic"),
    (
        "DK business with DK VAT number stays domestic",
        _customer("DK", kind="business", vat="DK12345678"),
        "domestic",
    ),
    (
        "DK business with a German VAT number, goods stay in DK",
        _customer("DK", kind="business", vat="DE123456789"),
        "domestic",
    ),
    (
        "DE business with valid VAT number",
        _customer("DE", "10115", kind="business", vat="DE 123.456.789"),
        "eu_b2b",
    ),
    ("DE business without VAT number is B2C", _customer("DE", "10115", kind="business"), "eu_b2c"),
    (
        "DE business with malformed VAT number is B2C",
        _customer("DE", "10115", kind="business", vat="DE12345"),
        "eu_b2c",
    ),
    (
        "DE business with a DK VAT number is B2C",
        _customer("DE", "10115", kind="business", vat="DK12345678"),
        "eu_b2c",
    ),
    ("DE person with a VAT number is B2C", _customer("DE", "10115", vat="DE123456789"), "eu_b2c"),
    (
        "Greek business with GR prefix normalised to EL",
        _customer("GR", "10431", kind="business", vat="gr123456789"),
        "eu_b2b",
    ),
    (
        "NI business with XI number",
        _customer("GB", "BT1 1AA", kind="business", vat="XI123456789"),
        "eu_b2b",
    ),
    ("NI consumer", _customer("GB", "BT1 1AA"), "eu_b2c"),
    (
        "GB business is export",
        _customer("GB", "SW1A 1AA", kind="business", vat="GB123456789"),
        "non_eu",
    ),
    (
        "Canary Islands business is export",
        _customer("ES", "35001", kind="business", vat="ESX1234567X"),
        "non_eu",
    ),
    ("Norway consumer is export", _customer("NO", "0150"), "non_eu"),
    (
        "shipping address wins over billing",
        _customer("DK", ship_to="NO", ship_postcode="0150"),
        "non_eu",
    ),
    ("French consumer", _customer("FR", "75001"), "eu_b2c"),
]


@pytest.mark.parametrize(("what", "cust", "expected"), ZONES, ids=[z[0] for z in ZONES])
def test_zone_of(what: str, cust: Customer, expected: str) -> None:
    assert zone_of(cust) == expected


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("de 123 456 789", "DE123456789"),
        ("DE-123.456.789", "DE123456789"),
        ("GR123456789", "EL123456789"),
        ("el123456789", "EL123456789"),
        ("NL 123456789 B01", "NL123456789B01"),
    ],
)
def test_normalise_vat_number(raw: str, normalised: str) -> None:
    assert normalise_vat_number(raw) == normalised


@pytest.mark.parametrize(
    ("raw", "valid"),
    [
        ("ATU12345678", "ATU12345678"),
        ("AT12345678", None),
        ("BE0123456789", "BE0123456789"),
        ("FR12345678901", "FR12345678901"),
        ("NL123456789B01", "NL123456789B01"),
        ("SE123456789001", "SE123456789001"),
        ("SE123456789000", None),
        ("IE1234567WA", "IE1234567WA"),
        ("XI123456789", "XI123456789"),
        ("GB123456789", None),
        ("NO123456789", None),
        ("", None),
        (None, None),
    ],
)
def test_valid_eu_vat_number_syntax(raw: str | None, valid: str | None) -> None:
    assert valid_eu_vat_number(raw) == valid
