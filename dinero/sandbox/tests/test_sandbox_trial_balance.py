"""Balances derived from booked documents, compared to hand-computed øre per account."""

from __future__ import annotations

import pytest
from sandbox_harness import Api

from dinero_sandbox.process import SandboxHandle

pytestmark = pytest.mark.integration


def _stripe_account(api: Api) -> None:
    assert api.post("/accounts/deposit", {"Number": 55010, "Name": "Stripe"}).status_code == 201


def test_sale_payment_and_fee_voucher(dinero_sandbox: SandboxHandle, api: Api) -> None:
    """2 x 125.00 + 50.00 shipping incl. VAT, paid into 55010, Stripe fee 4.65 booked 7220/55010."""
    _stripe_account(api)
    booked = api.booked_invoice(api.contact())
    paid = api.post(
        f"/invoices/{booked['Guid']}/payments",
        {"Timestamp": booked["TimeStamp"], "DepositAccountNumber": 55010, "Amount": 300.00},
    )
    assert paid.status_code == 201
    voucher = api.post(
        "/vouchers/manuel",
        {
            "VoucherDate": "2025-03-18",
            "Lines": [
                {
                    "Description": "Stripe fee",
                    "AccountNumber": 7220,
                    "BalancingAccountNumber": 55010,
                    "Amount": 4.65,
                    "AccountVatCode": "none",
                    "BalancingAccountVatCode": "none",
                }
            ],
        },
    ).json()
    # A draft voucher does not touch the ledger.
    assert 7220 not in dinero_sandbox.trial_balance(api.org)
    api.post(f"/vouchers/manuel/{voucher['Guid']}/book", {"Timestamp": voucher["Timestamp"]})
    assert dinero_sandbox.trial_balance(api.org) == {
        1000: -20000,
        1350: -4000,
        7220: 465,
        53000: 0,
        55010: 29535,
        64000: -6000,
    }


def test_remainder_is_fee_books_the_shortfall_on_7220(
    dinero_sandbox: SandboxHandle, api: Api
) -> None:
    _stripe_account(api)
    booked = api.booked_invoice(api.contact())
    api.post(
        f"/invoices/{booked['Guid']}/payments",
        {
            "Timestamp": booked["TimeStamp"],
            "DepositAccountNumber": 55010,
            "Amount": 295.35,
            "RemainderIsFee": True,
        },
    )
    balances = dinero_sandbox.trial_balance(api.org)
    assert (balances[55010], balances[7220], balances[53000]) == (29535, 465, 0)
    assert api.get(f"/invoices/{booked['Guid']}").json()["PaymentStatus"] == "Paid"


def test_credit_note_reverses_the_sale(dinero_sandbox: SandboxHandle, api: Api) -> None:
    booked = api.booked_invoice(api.contact())
    note = api.post(
        f"/invoices/{booked['Guid']}/generate-creditnote", {"Timestamp": booked["TimeStamp"]}
    ).json()
    api.post(f"/sales/creditnotes/{note['Guid']}/book", {"Timestamp": note["TimeStamp"]})
    assert dinero_sandbox.trial_balance(api.org) == {1000: 0, 1350: 0, 53000: 0, 64000: 0}


def test_voucher_vat_codes_default_to_the_accounts(dinero_sandbox: SandboxHandle, api: Api) -> None:
    """Dinero's example: 2000 (I25) against 55000, +1000 → 800 expense, 200 input VAT."""
    voucher = api.post(
        "/vouchers/manuel",
        {
            "VoucherDate": "2025-03-18",
            "Lines": [
                {
                    "Description": "varekøb",
                    "AccountNumber": 2000,
                    "BalancingAccountNumber": 55000,
                    "Amount": 1000.00,
                },
                {
                    "Description": "kontantsalg",
                    "AccountNumber": 1000,
                    "BalancingAccountNumber": 55040,
                    "Amount": -125.00,
                },
                {
                    "Description": "uden moms",
                    "AccountNumber": 2000,
                    "BalancingAccountNumber": 55000,
                    "Amount": 10.00,
                    "AccountVatCode": "none",
                },
            ],
        },
    ).json()
    booked = api.post(
        f"/vouchers/manuel/{voucher['Guid']}/book", {"Timestamp": voucher["Timestamp"]}
    )
    assert booked.json()["Lines"][0]["VatAmountValue"] == 200.0
    assert dinero_sandbox.trial_balance(api.org) == {
        1000: -10000,
        2000: 81000,
        55000: -101000,
        55040: 12500,
        64000: -2500,
        64100: 20000,
    }
