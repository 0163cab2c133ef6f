"""Which Dinero account an order line goes on, and the VAT rate Dinero will apply there.

Dinero has no per-line VAT code: VAT follows the account's VAT type (dinero-api.md §5.1). The
mapper therefore knows the rate from the account's *role* in `SalesAccounts` (goods_domestic
is a U25 account, goods_eu_b2b a UEUV account, ...); connecting a tenant must validate the
configured numbers against `GET /accounts/entry` so the role and the real VAT code agree.
"""

from __future__ import annotations

from typing import assert_never, get_args

from bogfoer_contracts.events import LineKind
from bogfoer_contracts.tenants import AccountNumber, SalesAccounts, TenantConfig
from bogfoer_rules.zones import Zone

DANISH_VAT_RATE = 2500  # basis points: 25 %, the only Danish output VAT rate (U25)


def account_for(kind: LineKind, zone: Zone, config: TenantConfig) -> AccountNumber:
    """The revenue (or liability) account for one line of an order in `zone`.

    EU B2C uses the domestic accounts: Danish VAT while the tenant stays under the €10,000
    distance-sales threshold; Dinero has no OSS, so a shop charging another country's VAT
    is held by the rules, not booked here. Discounts go on the goods account of the zone as
    negative lines; gift cards are a liability whatever the zone; a VAT-exempt seller books
    every sale on its without-VAT account.
    """
    accounts = config.accounts
    if kind == "gift_card":
        return accounts.gift_cards
    if config.vat_exempt_seller:
        return accounts.without_vat
    match kind:
        case "goods" | "discount":
            by_zone = (accounts.goods_domestic, accounts.goods_eu_b2b, accounts.goods_non_eu)
        case "shipping":
            by_zone = (
                accounts.shipping_domestic,
                accounts.shipping_eu_b2b,
                accounts.shipping_non_eu,
            )
        case "service":
            by_zone = (
                accounts.services_domestic,
                accounts.services_eu_b2b,
                accounts.services_non_eu,
            )
        case _:
            assert_never(kind)
    domestic, eu_b2b, non_eu = by_zone
    match zone:
        case "domestic" | "eu_b2c":
            return domestic
        case "eu_b2b":
            return eu_b2b
        case "non_eu":
            return non_eu
        case _:
            assert_never(zone)


def account_vat_rate(kind: LineKind, zone: Zone, config: TenantConfig) -> int:
    """The VAT rate (basis points) Dinero applies on `account_for(kind, zone, config)`."""
    if kind == "gift_card" or config.vat_exempt_seller:
        return 0
    return DANISH_VAT_RATE if zone in ("domestic", "eu_b2c") else 0


# `line_accounts`' tables: (the settings' id, zone) -> (the settings, the table). The settings
# are held, so their id is not reused while their table is here; kept to a few hundred.
_LINE_ACCOUNTS: dict[
    tuple[int, Zone], tuple[TenantConfig, dict[str, tuple[AccountNumber, int]]]
] = {}
_LINE_ACCOUNTS_KEPT = 256
_LINE_KINDS: tuple[LineKind, ...] = get_args(LineKind)
ROUNDING = "rounding"  # `line_accounts`' entry for an øre-rounding line (no line kind)


def line_accounts(config: TenantConfig, zone: Zone) -> dict[str, tuple[AccountNumber, int]]:
    """Each line kind's `(account_for(kind, zone, config), account_vat_rate(kind, zone,
    config))`, and under `ROUNDING` an øre-rounding line's, worked out once for these
    settings (frozen, so the answer cannot change) and this zone: every line of every order
    asks. Not to be changed by the caller."""
    entry = _LINE_ACCOUNTS.get((id(config), zone))
    if entry is not None and entry[0] is config:
        return entry[1]
    table: dict[str, tuple[AccountNumber, int]] = {
        kind: (account_for(kind, zone, config), account_vat_rate(kind, zone, config))
        for kind in _LINE_KINDS
    }
    # An øre-rounding line's account and rate, by the rule `rounding_account` states.
    table[ROUNDING] = (rounding_account(zone, config), account_vat_rate("goods", zone, config))
    if len(_LINE_ACCOUNTS) >= _LINE_ACCOUNTS_KEPT:
        _LINE_ACCOUNTS.clear()
    _LINE_ACCOUNTS[(id(config), zone)] = (config, table)
    return table


def rounding_account(zone: Zone, config: TenantConfig) -> AccountNumber:
    """Where an øre-rounding line goes: the goods account of the order's zone."""
    return account_for("goods", zone, config)


# The Dinero VAT code each sales account's role needs (danish-vat-and-accounts.md §1–§2).
# Dinero applies VAT by the account's code, so an account with another code books another
# VAT than the rules computed: a goods account without U25 would sell with no output VAT.
ROLE_VAT_CODES: dict[str, frozenset[str]] = {
    "goods_domestic": frozenset({"U25"}),
    "shipping_domestic": frozenset({"U25"}),
    "services_domestic": frozenset({"U25"}),
    "goods_eu_b2b": frozenset({"UEUV", "UEUV2"}),
    "shipping_eu_b2b": frozenset({"UEUV", "UEUV2"}),
    "services_eu_b2b": frozenset({"UEUY"}),
    "goods_non_eu": frozenset({"UVV"}),
    "shipping_non_eu": frozenset({"UVV"}),
    "services_non_eu": frozenset({"UVY"}),
    "without_vat": frozenset({"none"}),
    "gift_cards": frozenset({"none"}),
}
# A VAT-exempt seller books every sale on `without_vat`; the other roles are never used.
_EXEMPT_SELLER_ROLES = frozenset({"without_vat", "gift_cards"})


def normal_vat_code(code: str | None) -> str:
    """Dinero spells "no VAT" as null, "" or "none"; codes are compared upper-case."""
    return "none" if code is None or code.strip().lower() in ("", "none") else code.upper()


def vat_code_mismatches(
    accounts: SalesAccounts, vat_exempt_seller: bool, chart: dict[int, str | None]
) -> dict[str, tuple[int, str, frozenset[str]]]:
    """Role -> (account, its VAT code in the chart, the codes the role needs), for every
    account in `chart` whose code contradicts its role. Accounts missing from the chart are
    not judged here (they are unknown accounts)."""
    found: dict[str, tuple[int, str, frozenset[str]]] = {}
    for role, number in accounts.model_dump().items():
        if vat_exempt_seller and role not in _EXEMPT_SELLER_ROLES:
            continue
        if number not in chart:
            continue
        code = normal_vat_code(chart[number])
        wanted = ROLE_VAT_CODES[role]
        if code not in wanted:
            found[role] = (number, code, wanted)
    return found
