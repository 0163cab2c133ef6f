"""Contract tests: the real client against the real sandbox process, every operation and
every error class, including the "commit, then drop the response" fault."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
from sandbox_client_harness import CONNECT_TENANT, legacy_tenant, sandbox_client

from bogfoer_dinero import (
    DineroValidationError,
    InMemoryCredentialStore,
    NotFound,
    ReauthRequired,
    RetryLater,
    StaleTimestamp,
    TenantParked,
    UnknownOutcome,
)
from bogfoer_dinero.client import OrganisationClient
from bogfoer_dinero.models import (
    NO_VAT,
    ContactCreate,
    CreditNoteCreate,
    DepositAccountCreate,
    InvoiceCreate,
    MailoutRequest,
    ManualVoucherCreate,
    ManualVoucherLine,
    PaymentCreate,
    ProductLine,
)
from dinero_sandbox.process import SandboxHandle

pytestmark = pytest.mark.integration

STRIPE = 55010


def invoice(ref: str, contact: str | None = None) -> InvoiceCreate:
    return InvoiceCreate(
        contact_guid=contact,
        date=date(2025, 3, 14),
        external_reference=ref,
        description="Ordre #1042",
        show_lines_incl_vat=True,
        product_lines=[
            ProductLine(
                description="T-shirt",
                quantity=Decimal(2),
                unit="parts",
                account_number=1000,
                base_amount_ore=12500,
            ),
            ProductLine(
                description="Fragt (GLS)",
                unit="shipment",
                account_number=1350,
                base_amount_ore=5000,
            ),
        ],
    )


async def customer(org: OrganisationClient) -> str:
    return await org.create_contact(ContactCreate(name="Kunde", is_person=True))


# --- every operation ----------------------------------------------------------------------


async def test_organisations_accounts_vat_templates_and_settings(
    dinero_sandbox: SandboxHandle,
) -> None:
    async with sandbox_client(dinero_sandbox) as client:
        orgs = {o.id: o for o in await client.organisations(CONNECT_TENANT)}
        assert set(orgs) == set(dinero_sandbox.org_ids)
        assert orgs[dinero_sandbox.main_org].is_pro
        assert orgs[dinero_sandbox.vat_free_org].is_vat_free
        legacy = await client.organisations(legacy_tenant(dinero_sandbox.main_org))
        assert [o.id for o in legacy] == [dinero_sandbox.main_org]

        org = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        accounts = {a.account_number: a for a in await org.entry_accounts()}
        assert accounts[1000].vat_code == "U25"
        assert accounts[1000].is_default_sales_account
        assert {t.vat_code for t in await org.vat_types()} >= {"U25", "I25"}
        templates = await org.invoice_templates()
        settings = await org.sales_settings()
        assert settings.invoice_template_id in {t.id for t in templates}

        assert STRIPE not in {a.account_number for a in await org.deposit_accounts()}
        await org.create_deposit_account(DepositAccountCreate(number=STRIPE, name="Stripe"))
        assert STRIPE in {a.account_number for a in await org.deposit_accounts()}


async def test_contacts_create_get_and_find(dinero_sandbox: SandboxHandle) -> None:
    async with sandbox_client(dinero_sandbox) as client:
        org = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        guid = await org.create_contact(
            ContactCreate(
                name="Keramik A/S",
                is_person=False,
                external_reference="shop:customer:7",
                email="indkob@keramik.test",
                vat_number="dk 1122 3344",
            )
        )
        contact = await org.get_contact(guid)
        assert (contact.name, contact.vat_number) == ("Keramik A/S", "DK11223344")
        for query in (
            {"external_reference": "shop:customer:7"},
            {"email": " indkob@keramik.test"},
            {"vat_number": "DK11223344"},
        ):
            found = await org.find_contacts(**query)
            assert [c.contact_guid for c in found] == [guid], query
        assert await org.find_contacts(external_reference="shop:customer:8") == []


async def test_invoice_lifecycle(dinero_sandbox: SandboxHandle) -> None:
    async with sandbox_client(dinero_sandbox) as client:
        org = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        await org.create_deposit_account(DepositAccountCreate(number=STRIPE, name="Stripe"))
        contact = await org.create_contact(
            ContactCreate(name="Kunde", is_person=True, email="kunde@bogfoer.test")
        )
        draft = invoice("bogfoer:t1:order:1", contact)
        preview = await org.preview_invoice(draft)
        assert (preview.total_incl_vat_ore, preview.total_vat_ore) == (30000, 6000)

        created = await org.create_invoice(draft)
        read = await org.get_invoice(created.guid)
        assert read.timestamp == created.timestamp
        assert read.status == "Draft"
        assert read.booked_number is None
        [listed] = await org.find_invoices("bogfoer:t1:order:1")
        assert listed.guid == created.guid

        assert created.timestamp is not None
        booked = await org.book_invoice(created.guid, created.timestamp)
        assert booked.is_booked
        assert booked.booked_number is not None
        assert booked.timestamp != created.timestamp
        assert booked.total_incl_vat_ore == 30000

        sent = await org.email_invoice(created.guid, MailoutRequest())
        assert [r.email for r in sent.recipients] == ["kunde@bogfoer.test"]
        assert len(dinero_sandbox.emails(dinero_sandbox.main_org)) == 1

        current = await org.get_invoice(created.guid)  # the mail-out changed the timestamp
        assert current.timestamp is not None
        paid = await org.add_payment(
            created.guid,
            PaymentCreate(
                timestamp=current.timestamp,
                deposit_account_number=STRIPE,
                amount_ore=30000,
                external_reference="bogfoer:t1:pi_1:payment",
                payment_date=date(2025, 3, 14),
            ),
        )
        payments = await org.list_payments(created.guid)
        assert [p.external_reference for p in payments.payments] == ["bogfoer:t1:pi_1:payment"]
        assert payments.payments[0].amount_ore == 30000
        assert payments.remaining_amount_ore == 0

        assert paid.timestamp is not None
        note = await org.generate_credit_note(created.guid, paid.timestamp)
        draft_note = await org.get_credit_note(note.guid)
        assert draft_note.credit_note_for == created.guid
        assert note.timestamp is not None
        booked_note = await org.book_credit_note(note.guid, note.timestamp)
        assert booked_note.is_booked
        assert [c.guid async for c in org.iter_credit_notes()] == [note.guid]

        other = await org.create_invoice(invoice("bogfoer:t1:order:2"))
        assert other.timestamp is not None
        await org.delete_invoice(other.guid, other.timestamp)
        assert await org.find_invoices("bogfoer:t1:order:2") == []


async def test_credit_note_created_directly(dinero_sandbox: SandboxHandle) -> None:
    async with sandbox_client(dinero_sandbox) as client:
        org = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        contact = await customer(org)
        created = await org.create_invoice(invoice("bogfoer:t1:order:3", contact))
        assert created.timestamp is not None
        await org.book_invoice(created.guid, created.timestamp)
        note = await org.create_credit_note(
            CreditNoteCreate(
                credit_note_for=created.guid,
                external_reference="bogfoer:t1:refund:3",
                contact_guid=contact,
                show_lines_incl_vat=True,
                product_lines=[
                    ProductLine(description="Retur", account_number=1000, base_amount_ore=12500)
                ],
            )
        )
        assert note.timestamp is not None
        booked = await org.book_credit_note(note.guid, note.timestamp)
        assert booked.total_incl_vat_ore == 12500
        [found] = await org.find_credit_notes("bogfoer:t1:refund:3")
        assert found.guid == note.guid


async def test_invoice_listing_pages_from_zero(dinero_sandbox: SandboxHandle) -> None:
    async with sandbox_client(dinero_sandbox) as client:
        org = client.organisation(legacy_tenant(dinero_sandbox.main_org), dinero_sandbox.main_org)
        guids = {(await org.create_invoice(invoice(f"page-{i}"))).guid for i in range(5)}
        first = await org.list_invoices(page_size=2)
        assert first.pagination.page == 0
        assert len(first.collection) == 2
        assert not first.is_last
        listed = [i.guid async for i in org.iter_invoices(page_size=2)]
        assert sorted(listed) == sorted(guids)
        pages = [
            parse_qs(r["query"])["page"][0]
            for r in dinero_sandbox.requests(dinero_sandbox.main_org, method="GET")
            if r["path"].endswith("/invoices") and "pageSize=2" in r["query"]
        ]
        assert pages == ["0", "0", "1", "2"]  # list_invoices, then iter: 0, 1, 2 and stop
        drafts = [i async for i in org.iter_invoices(status_filter=["Draft"], page_size=100)]
        assert len(drafts) == 5


async def test_manual_voucher_create_book_list(dinero_sandbox: SandboxHandle) -> None:
    async with sandbox_client(dinero_sandbox) as client:
        org = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        created = await org.create_manual_voucher(
            ManualVoucherCreate(
                voucher_date=date(2025, 3, 18),
                external_reference="bogfoer:t1:fee:1",
                lines=[
                    ManualVoucherLine(
                        description="Stripe gebyr",
                        account_number=7220,
                        balancing_account_number=55000,
                        amount_ore=465,
                        account_vat_code=NO_VAT,
                        balancing_account_vat_code=NO_VAT,
                    )
                ],
            )
        )
        read = await org.get_manual_voucher(created.guid)
        assert read.lines is not None
        assert read.lines[0].amount_ore == 465
        assert created.timestamp is not None
        booked = await org.book_manual_voucher(created.guid, created.timestamp)
        assert booked.status == "Booked"
        assert booked.voucher_number is not None
        [found] = await org.find_manual_vouchers("bogfoer:t1:fee:1")
        assert found.guid == created.guid
        page = await org.list_manual_vouchers()
        assert [v.guid for v in page.collection] == [created.guid]


# --- every error class --------------------------------------------------------------------


async def test_commit_then_drop_is_an_unknown_outcome_found_by_external_reference(
    dinero_sandbox: SandboxHandle,
) -> None:
    async with sandbox_client(dinero_sandbox) as client:
        org = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        dinero_sandbox.set_faults(
            [{"kind": "drop_after_commit", "method": "POST", "path": "/v1/*/invoices", "count": 1}]
        )
        with pytest.raises(UnknownOutcome):
            await org.create_invoice(invoice("bogfoer:t1:order:lost"))
        posts = dinero_sandbox.requests(dinero_sandbox.main_org, method="POST")
        assert len([p for p in posts if p["path"].endswith("/invoices")]) == 1  # never resent
        [found] = await org.find_invoices("bogfoer:t1:order:lost")
        assert found.status == "Draft"


async def test_a_write_that_hangs_past_the_timeout_is_an_unknown_outcome(
    dinero_sandbox: SandboxHandle,
) -> None:
    async with sandbox_client(dinero_sandbox, read_timeout_seconds=0.5) as client:
        org = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        created = await org.create_invoice(invoice("bogfoer:t1:order:slow", await customer(org)))
        assert created.timestamp is not None
        dinero_sandbox.set_faults(
            [
                {
                    "kind": "drop_after_commit",
                    "mode": "hang",
                    "seconds": 3,
                    "method": "POST",
                    "path": "/v1/*/invoices/*/book",
                    "count": 1,
                }
            ]
        )
        with pytest.raises(UnknownOutcome):
            await org.book_invoice(created.guid, created.timestamp)
        assert (await org.get_invoice(created.guid)).is_booked  # it did happen


async def test_server_errors_on_reads_are_retried_then_retry_later(
    dinero_sandbox: SandboxHandle,
) -> None:
    async with sandbox_client(dinero_sandbox, max_attempts=3) as client:
        org = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        dinero_sandbox.set_faults(
            [
                {
                    "kind": "error",
                    "status": 503,
                    "method": "GET",
                    "path": "/v1/*/vatTypes",
                    "count": 2,
                }
            ]
        )
        assert await org.vat_types()  # two 503s, then served
        dinero_sandbox.set_faults(
            [{"kind": "error", "status": 500, "method": "GET", "path": "/v1/*/vatTypes"}]
        )
        with pytest.raises(RetryLater) as caught:
            await org.vat_types()
        assert caught.value.status_code == 500
        gets = dinero_sandbox.requests(dinero_sandbox.main_org, path_contains="vatTypes")
        assert len(gets) == 2 + 1 + 3


async def test_brownout_and_read_timeouts_are_retried(dinero_sandbox: SandboxHandle) -> None:
    async with sandbox_client(dinero_sandbox, read_timeout_seconds=0.5) as client:
        org = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        dinero_sandbox.set_faults(
            [
                {"kind": "brownout", "method": "GET", "path": "/v1/*/sales/settings", "count": 1},
                {
                    "kind": "hang",
                    "seconds": 3,
                    "method": "GET",
                    "path": "/v1/*/vatTypes",
                    "count": 1,
                },
            ]
        )
        assert (await org.sales_settings()).default_account_number == 1000
        assert await org.vat_types()
        dinero_sandbox.set_faults([{"kind": "brownout", "method": "POST"}])
        with pytest.raises(RetryLater) as caught:
            await org.create_invoice(invoice("bogfoer:t1:order:brownout"))
        assert caught.value.status_code == 480


async def test_stale_timestamp(dinero_sandbox: SandboxHandle) -> None:
    async with sandbox_client(dinero_sandbox) as client:
        org = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        created = await org.create_invoice(invoice("bogfoer:t1:order:stale", await customer(org)))
        assert created.timestamp is not None
        await org.book_invoice(created.guid, created.timestamp)
        with pytest.raises(StaleTimestamp) as caught:
            await org.add_payment(
                created.guid,
                PaymentCreate(
                    timestamp=created.timestamp, deposit_account_number=55000, amount_ore=100
                ),
            )
        assert caught.value.code == 58


async def test_not_found_and_validation_errors(dinero_sandbox: SandboxHandle) -> None:
    async with sandbox_client(dinero_sandbox) as client:
        org = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        with pytest.raises(NotFound):
            await org.get_invoice(str(uuid.uuid4()))
        bad = InvoiceCreate(
            product_lines=[ProductLine(description="x", account_number=99999, base_amount_ore=1)]
        )
        with pytest.raises(DineroValidationError) as caught:
            await org.create_invoice(bad)
        assert caught.value.code is not None
        assert caught.value.raw_body
        assert caught.value.message


async def test_no_pro_subscription_parks(dinero_sandbox: SandboxHandle) -> None:
    async with sandbox_client(dinero_sandbox) as client:
        org = client.organisation(CONNECT_TENANT, dinero_sandbox.no_pro_org)
        with pytest.raises(TenantParked) as caught:
            await org.vat_types()
        assert caught.value.status_code == 403
        assert caught.value.code in (90, 48)


async def test_server_side_expiry_renews_once_and_rotates(dinero_sandbox: SandboxHandle) -> None:
    store = InMemoryCredentialStore()
    async with sandbox_client(dinero_sandbox, store=store) as client:
        org = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        await org.vat_types()
        grants = client.auth.grants_requested  # the code exchange and the API keys' grants
        before = await store.get(CONNECT_TENANT)
        dinero_sandbox.expire_tokens()
        await org.vat_types()  # 401, one refresh, resent
        after = await store.get(CONNECT_TENANT)
        assert before is not None
        assert after is not None
        assert before.refresh_token is not None
        assert after.refresh_token is not None
        assert after.refresh_token.get_secret_value() != before.refresh_token.get_secret_value()
        assert client.auth.grants_requested == grants + 1  # one refresh
        legacy = client.organisation(
            legacy_tenant(dinero_sandbox.main_org), dinero_sandbox.main_org
        )
        await legacy.vat_types()
        dinero_sandbox.expire_tokens()
        await legacy.vat_types()  # the password grant simply runs again


async def test_lost_refresh_answer_is_replayed_within_the_sandboxs_grace(
    dinero_sandbox: SandboxHandle,
) -> None:
    async with sandbox_client(dinero_sandbox) as client:
        org = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        await org.vat_types()
        dinero_sandbox.expire_tokens()
        dinero_sandbox.set_faults(
            [{"kind": "drop_after_commit", "method": "POST", "path": "/connect/token", "count": 1}]
        )
        assert await org.vat_types()
        tokens = dinero_sandbox.requests(path_contains="/connect/token")
        assert len(tokens) == 3  # code exchange, the lost refresh, its replay


async def test_revoked_consent_parks_both_flows(dinero_sandbox: SandboxHandle) -> None:
    async with sandbox_client(dinero_sandbox) as client:
        connect = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        legacy = client.organisation(
            legacy_tenant(dinero_sandbox.main_org), dinero_sandbox.main_org
        )
        await connect.vat_types()
        await legacy.vat_types()
        dinero_sandbox.revoke(dinero_sandbox.main_org)
        with pytest.raises(TenantParked, match="invalid_grant"):
            await connect.vat_types()
        with pytest.raises(TenantParked, match="invalid_grant"):
            await legacy.vat_types()
        requests_before = len(dinero_sandbox.requests())
        with pytest.raises(TenantParked):
            await connect.vat_types()
        assert len(dinero_sandbox.requests()) == requests_before  # parked: no more knocking


async def test_401_for_a_fresh_token_is_reauth_required(dinero_sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    sandbox = dinero_sandbox_factory("--token-ttl-seconds", "0")
    async with sandbox_client(sandbox, token_renew_margin_seconds=0) as client:
        org = client.organisation(legacy_tenant(sandbox.main_org), sandbox.main_org)
        with pytest.raises(ReauthRequired) as caught:
            await org.vat_types()
        assert caught.value.status_code == 401
