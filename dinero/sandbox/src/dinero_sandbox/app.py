"""Wiring: routes, error rendering and the gateway, over one Sandbox instance."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from dinero_sandbox import accounts, admin, auth, contacts, invoices, vouchers
from dinero_sandbox.context import Config, RateLimitedError, Sandbox, UnauthorizedError, sandbox_of
from dinero_sandbox.errors import SERVER_ERROR, DineroError, html_not_found
from dinero_sandbox.gateway import ADMIN_PREFIX, Gateway
from dinero_sandbox.jsonio import DecimalJSONResponse

V1 = "/v1/{org:int}"
GET, POST, PUT, DELETE = ["GET"], ["POST"], ["PUT"], ["DELETE"]

ROUTES = [
    # auth
    Route("/connect/authorize", auth.authorize, methods=GET),
    Route("/connect/token", auth.connect_token, methods=POST),
    Route("/dineroapi/oauth/token", auth.legacy_token, methods=POST),
    # organisations, accounts, settings
    Route("/v1/organizations", accounts.list_organizations, methods=GET),
    Route(f"{V1}/accounts/entry", accounts.list_entry_accounts, methods=GET),
    Route(f"{V1}/accounts/entry", accounts.create_entry_account, methods=POST),
    Route(f"{V1}/accounts/deposit", accounts.list_deposit_accounts, methods=GET),
    Route(f"{V1}/accounts/deposit", accounts.create_deposit_account, methods=POST),
    Route(f"{V1}/vatTypes", accounts.list_vat_types, methods=GET),
    Route(f"{V1}/invoices/templates", accounts.list_templates, methods=GET),
    Route(f"{V1}/sales/settings", accounts.sales_settings, methods=GET),
    # contacts
    Route(f"{V1}/contacts", contacts.list_contacts, methods=GET),
    Route(f"{V1}/contacts", contacts.create_contact, methods=POST),
    Route(f"{V1}/contacts/{{guid}}", contacts.get_contact, methods=GET),
    Route(f"{V1}/contacts/{{guid}}", contacts.update_contact, methods=PUT),
    Route(f"{V1}/contacts/{{guid}}", contacts.delete_contact, methods=DELETE),
    # invoices
    Route(f"{V1}/invoices", invoices.list_invoices, methods=GET),
    Route(f"{V1}/invoices", invoices.create_invoice, methods=POST),
    Route(f"{V1}/invoices/fetch", invoices.fetch_invoice, methods=POST),
    Route(f"{V1}/invoices/{{guid}}", invoices.get_invoice, methods=GET),
    Route(f"{V1}/invoices/{{guid}}", invoices.delete_invoice, methods=DELETE),
    Route("/v1.2/{org:int}/invoices/{guid}", invoices.update_invoice, methods=PUT),
    Route(f"{V1}/invoices/{{guid}}/book", invoices.book_invoice, methods=POST),
    Route(f"{V1}/invoices/{{guid}}/email", invoices.email_invoice, methods=POST),
    Route(
        f"{V1}/invoices/{{guid}}/generate-creditnote", invoices.generate_credit_note, methods=POST
    ),
    Route(f"{V1}/invoices/{{guid}}/payments", invoices.add_payment, methods=POST),
    Route(f"{V1}/invoices/{{guid}}/payments", invoices.list_payments_v1, methods=GET),
    Route("/v2/{org:int}/invoices/{guid}/payments", invoices.list_payments, methods=GET),
    Route(f"{V1}/invoices/{{guid}}/payments/{{payment}}", invoices.delete_payment, methods=DELETE),
    # credit notes
    Route(f"{V1}/sales/creditnotes", invoices.list_credit_notes, methods=GET),
    Route(f"{V1}/sales/creditnotes", invoices.create_credit_note, methods=POST),
    Route(f"{V1}/sales/creditnotes/{{guid}}", invoices.get_credit_note, methods=GET),
    Route(f"{V1}/sales/creditnotes/{{guid}}", invoices.update_credit_note, methods=PUT),
    Route("/v1.2/{org:int}/sales/creditnotes/{guid}", invoices.update_credit_note, methods=PUT),
    Route(f"{V1}/sales/creditnotes/{{guid}}", invoices.delete_credit_note, methods=DELETE),
    Route(f"{V1}/sales/creditnotes/{{guid}}/book", invoices.book_credit_note, methods=POST),
    # manual vouchers (Dinero's spelling)
    Route(f"{V1}/vouchers/manuel", vouchers.list_vouchers, methods=GET),
    Route(f"{V1}/vouchers/manuel", vouchers.create_voucher, methods=POST),
    Route(f"{V1}/vouchers/manuel/{{guid}}", vouchers.get_voucher, methods=GET),
    Route(f"{V1}/vouchers/manuel/{{guid}}", vouchers.update_voucher, methods=PUT),
    Route(f"{V1}/vouchers/manuel/{{guid}}", vouchers.delete_voucher, methods=DELETE),
    Route(f"{V1}/vouchers/manuel/{{guid}}/book", vouchers.book_voucher, methods=POST),
    # sandbox-only admin API
    Route(f"{ADMIN_PREFIX}/health", admin.health, methods=GET),
    Route(f"{ADMIN_PREFIX}/reset", admin.reset, methods=POST),
    Route(f"{ADMIN_PREFIX}/requests", admin.requests_log, methods=GET),
    Route(f"{ADMIN_PREFIX}/requests", admin.clear_requests, methods=DELETE),
    Route(f"{ADMIN_PREFIX}/orgs", admin.create_org, methods=POST),
    Route(f"{ADMIN_PREFIX}/orgs/{{org:int}}/trial-balance", admin.trial_balance_view, methods=GET),
    Route(f"{ADMIN_PREFIX}/orgs/{{org:int}}/journal", admin.journal_view, methods=GET),
    Route(f"{ADMIN_PREFIX}/orgs/{{org:int}}/emails", admin.emails, methods=GET),
    Route(f"{ADMIN_PREFIX}/orgs/{{org:int}}/revoke", admin.revoke, methods=POST),
    Route(f"{ADMIN_PREFIX}/orgs/{{org:int}}/api-key", admin.rotate_api_key, methods=POST),
    Route(
        f"{ADMIN_PREFIX}/orgs/{{org:int}}/accounts/{{number:int}}",
        admin.edit_account,
        methods=["PATCH"],
    ),
    Route(f"{ADMIN_PREFIX}/tokens/expire", admin.expire, methods=POST),
    Route(f"{ADMIN_PREFIX}/faults", admin.get_faults, methods=GET),
    Route(f"{ADMIN_PREFIX}/faults", admin.put_faults, methods=PUT),
    Route(f"{ADMIN_PREFIX}/faults", admin.add_fault, methods=POST),
    Route(f"{ADMIN_PREFIX}/faults", admin.clear_faults, methods=DELETE),
    Route(f"{ADMIN_PREFIX}/ratelimit/reset", admin.reset_rate_limits, methods=POST),
]


async def _dinero_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DineroError)
    return exc.response()


async def _unauthorized(_request: Request, _exc: Exception) -> Response:
    # ASP.NET Web API's default 401 body [unverified for Dinero].
    return DecimalJSONResponse(
        {"message": "Authorization has been denied for this request."},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def _rate_limited(request: Request, _exc: Exception) -> Response:
    return sandbox_of(request).limiter.quota_exceeded()


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        return html_not_found()
    return Response(exc.detail, status_code=exc.status_code)


async def _server_error(_request: Request, _exc: Exception) -> Response:
    return DecimalJSONResponse({"code": SERVER_ERROR, "message": "Server error"}, status_code=500)


def create_app(config: Config | None = None) -> ASGIApp:
    sandbox = Sandbox(config or Config())
    app = Starlette(
        routes=ROUTES,
        exception_handlers={
            DineroError: _dinero_error,
            UnauthorizedError: _unauthorized,
            RateLimitedError: _rate_limited,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.sandbox = sandbox
    return Gateway(app, sandbox)
