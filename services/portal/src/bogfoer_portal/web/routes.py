"""The shop owner's pages: a one-time link opens a session (the kit's: a random cookie
stored as a digest, a CSRF token in every form), then one page per step, each doing its
step through `Flow` and going on to the next. Visma Connect's answer comes back to the
callback (posted cross-site, so it carries no cookie and is matched by `state`), which
hands over to `finish` — a top-level GET, so the session cookie is there — and only the
session that left for the consent may finish it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from bogfoer_contracts.admin import Chart, NewDepositAccount, StripeConnection
from bogfoer_contracts.tenants import BookingMode, SalesAccounts, Trigger
from bogfoer_kit.auth import Principal, token_digest
from bogfoer_kit.errors import ApiError
from bogfoer_kit.web.pages import SessionCookie, environment, read_form
from bogfoer_kit.web.sessions import Session, SessionStore
from bogfoer_portal import store
from bogfoer_portal.flow import Flow
from bogfoer_portal.progress import (
    ROLE_TEXT,
    STEPS,
    TITLES,
    AccountsChoice,
    BookingChoice,
    StartChoice,
    Step,
    danish_today,
    is_done,
    may_open,
    next_step,
    role_rows,
    steps_of,
)
from bogfoer_portal.settings import PortalSettings
from bogfoer_portal.store import Onboarding

COOKIE = "bogfoer_portal"
STATIC = "/portal/static"
SUBJECT = "onboarding:"


def _date(value: dt.date | dt.datetime | None) -> str:
    return "–" if value is None else f"{value:%-d %B %Y}"


templates = environment("bogfoer_portal.web", STATIC, date=_date)

# What a refusal means, in the owner's words (the detail follows when there is one).
SENTENCES: dict[str, str] = {
    "organisation_not_pro": "That organisation cannot be used.",
    "unknown_accounts": "Some accounts are not in the organisation's chart.",
    "account_vat_mismatch": "Some accounts have another VAT code than their use needs.",
    "dinero_not_connected": "Dinero does not accept the connection any more; connect again.",
    "dinero_unavailable": "Dinero did not answer just now; try again in a minute.",
    "stripe_refused_api_key": "Stripe does not know that key; copy it again from Stripe.",
    "stripe_key_lacks_permission": "The key may not do everything Bogfør needs.",
    "stripe_unavailable": "Stripe did not answer just now; try again in a minute.",
    "account_number_taken": "That account number is taken.",
    "authorization_failed": "Dinero did not accept the connection; try connecting again.",
    "organisation_not_reached": "That Dinero login does not reach the organisation.",
    "backfill_needs_a_date": "Say from which day to book.",
    "backfill_in_the_future": "The first day to book cannot be in the future.",
    "poster_unreachable": "Bogfør's Dinero service did not answer; try again in a minute.",
    "ingest_unreachable": "Bogfør's receiving service did not answer; try again in a minute.",
}


def problems_of(exc: ApiError) -> list[str]:
    """A refusal as sentences: the headline, then each problem the detail names."""
    lines = [SENTENCES.get(exc.reason, f"That did not work ({exc.reason}).")]
    detail = exc.detail
    if isinstance(detail, list):
        lines += [str(p.get("message", p)) if isinstance(p, dict) else str(p) for p in detail]
    elif isinstance(detail, str) and detail:
        lines.append(detail)
    return lines


def web_router(flow: Flow, sessions: SessionStore, settings: PortalSettings) -> APIRouter:
    router = APIRouter(
        prefix="/portal", tags=["onboarding pages"], default_response_class=HTMLResponse
    )

    cookie = SessionCookie(
        COOKIE, "/portal", settings.session_hours, settings.session_cookie_secure
    )

    def base(request: Request) -> str:
        return str(request.base_url)

    async def session_of(request: Request) -> Session | None:
        return await sessions.find(cookie.of(request))

    async def onboarding_of(session: Session | None) -> Onboarding | None:
        if session is None or not session.principal.subject.startswith(SUBJECT):
            return None
        return await store.get(flow.pool, session.principal.subject.removeprefix(SUBJECT))

    def render(name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(
            request=request,
            titles=TITLES,
            sentences=SENTENCES,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def steps_context(onboarding: Onboarding, here: str) -> dict[str, Any]:
        progress, purpose = onboarding.progress, onboarding.purpose
        return {
            "onboarding": onboarding,
            "progress": progress,
            "here": here,
            "steps": [
                {
                    "step": s,
                    "title": TITLES[s],
                    "done": is_done(s, progress),
                    "open": may_open(purpose, s, progress) or is_done(s, progress),
                }
                for s in steps_of(purpose)
            ],
        }

    def to_portal() -> RedirectResponse:
        return RedirectResponse("/portal", status_code=303)

    def to_next(onboarding: Onboarding) -> RedirectResponse:
        step = next_step(onboarding.purpose, onboarding.progress)
        target = f"/portal/onboarding/{step}" if step else "/portal/onboarding/done"
        return RedirectResponse(target, status_code=303)

    # --- arriving ---------------------------------------------------------------------------

    @router.get("")
    async def home(request: Request) -> Response:
        """Where a stranger lands: the portal is opened by a link, not a password."""
        if await onboarding_of(await session_of(request)) is not None:
            return RedirectResponse("/portal/onboarding", status_code=303)
        return render("home.html", request)

    @router.get("/start/{token}")
    async def landing(request: Request, token: str) -> Response:
        """The one-time link. Looking at it spends nothing (mail scanners open links); the
        button on the page does."""
        found = await store.look_at_link(flow.pool, token) if len(token) < 100 else None
        if found is None:
            return render("link.html", request, status=404, state="unknown")
        onboarding, state = found
        if onboarding.withdrawn_at is not None:
            state = "withdrawn"
        return render(
            "link.html",
            request,
            status=200 if state == "valid" else 410,
            state=state,
            onboarding=onboarding,
            token=token,
        )

    @router.post("/start/{token}")
    async def begin(request: Request, token: str) -> Response:
        onboarding_id = await store.use_link(flow.pool, token) if len(token) < 100 else None
        onboarding = await store.get(flow.pool, onboarding_id) if onboarding_id else None
        if onboarding is None or onboarding.withdrawn_at is not None:
            return render("link.html", request, status=410, state="used")
        principal = Principal(
            f"{SUBJECT}{onboarding.id}", "tenant", frozenset({onboarding.tenant_id})
        )
        return cookie.set(to_next(onboarding), await sessions.open(principal))

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        session = await session_of(request)
        form = await read_form(request) or {}
        if session is not None and form.get("csrf") == session.csrf_token:
            await sessions.close(cookie.of(request))
        return cookie.clear(to_portal())

    # --- Visma Connect's answer ---------------------------------------------------------

    @router.api_route("/dinero/callback", methods=["GET", "POST"])
    async def callback(request: Request) -> Response:
        """Visma Connect posts `code` and `state` here (`form_post`); an `error` instead
        when the owner declined. Nothing is exchanged here: see `finish`."""
        fields = dict(request.query_params)
        if request.method == "POST":
            fields |= await read_form(request) or {}
        state = fields.get("state", "")
        if fields.get("error") or not fields.get("code"):
            started = await flow.authorizations.peek(state) if state else None
            return render(
                "declined.html",
                request,
                status=400,
                error=fields.get("error", "no code"),
                known=started is not None,
            )
        if await flow.authorizations.record_code(state, fields["code"]) is None:
            return render("declined.html", request, status=400, error="unknown_state", known=False)
        return RedirectResponse(f"/portal/dinero/finish?{urlencode({'state': state})}", 303)

    @router.get("/dinero/finish")
    async def finish(request: Request) -> Response:
        value = cookie.of(request)
        session = await sessions.find(value)
        try:
            done = await flow.finish_dinero(
                request.query_params.get("state", ""),
                token_digest(value) if session is not None and value else None,
            )
        except ApiError as exc:
            return render(
                "declined.html",
                request,
                status=exc.status,
                error=exc.reason,
                problems=problems_of(exc),
                known=True,
            )
        if done.return_url is not None:
            return RedirectResponse(done.return_url, status_code=303)
        if session is None:
            return render("connected.html", request, onboarding=done.onboarding)
        return to_next(done.onboarding)

    # --- the steps ---------------------------------------------------------------------

    @router.get("/onboarding")
    async def current(request: Request) -> Response:
        onboarding = await onboarding_of(await session_of(request))
        return to_portal() if onboarding is None else to_next(onboarding)

    @router.get("/onboarding/done")
    async def done_page(request: Request) -> Response:
        session = await session_of(request)
        onboarding = await onboarding_of(session)
        if session is None or onboarding is None:
            return to_portal()
        backfill = None
        if onboarding.progress.backfill_id:
            try:
                backfill = await flow.backfill(onboarding)
            except ApiError:
                backfill = None
        return render(
            "done.html",
            request,
            session=session,
            backfill=backfill,
            **steps_context(onboarding, "done"),
        )

    @router.get("/onboarding/backfill")
    async def backfill_fragment(request: Request) -> Response:
        """The backfill's progress, polled by the done page (htmx)."""
        onboarding = await onboarding_of(await session_of(request))
        if onboarding is None:
            return to_portal()
        return render(
            "backfill.html",
            request,
            backfill=await flow.backfill(onboarding),
            progress=onboarding.progress,
        )

    @router.post("/onboarding/accounts/check")
    async def accounts_check(request: Request) -> Response:
        """The role table again with the accounts as now chosen, warning at once where an
        account's VAT code contradicts its use (htmx, on every change)."""
        session = await session_of(request)
        onboarding = await onboarding_of(session)
        form = await read_form(request)
        if session is None or onboarding is None or form is None:
            return to_portal()
        if form.get("csrf") != session.csrf_token:
            return HTMLResponse("", status_code=403)
        chart = await flow.chart(onboarding)
        chosen = _accounts_from(form, SalesAccounts())
        return render("roles.html", request, **_roles(onboarding, chart, chosen))

    @router.get("/onboarding/{step}")
    async def step_page(request: Request, step: str) -> Response:
        session = await session_of(request)
        onboarding = await onboarding_of(session)
        if session is None or onboarding is None:
            return to_portal()
        typed = _step(step)
        if typed is None or not may_open(onboarding.purpose, typed, onboarding.progress):
            return to_next(onboarding)
        return await show(request, session, onboarding, typed)

    async def show(
        request: Request,
        session: Session,
        onboarding: Onboarding,
        step: Step,
        status: int = 200,
        problems: list[str] | None = None,
        **extra: Any,
    ) -> HTMLResponse:
        context: dict[str, Any] = {
            "session": session,
            "problems": problems or [],
            **steps_context(onboarding, step),
            **extra,
        }
        try:
            if step == "organisation":
                context["organisations"] = await flow.organisations(onboarding)
            elif step == "accounts":
                chart = await flow.chart(onboarding)
                chosen = extra.get("chosen") or (
                    onboarding.progress.accounts.accounts
                    if onboarding.progress.accounts
                    else SalesAccounts()
                )
                context |= _roles(onboarding, chart, chosen)
                accounts = onboarding.progress.accounts
                context["fee_account"] = accounts.fee_account if accounts else 7220
                context["bank_account"] = accounts.bank_account if accounts else 55000
            elif step == "stripe_account":
                chart = await flow.chart(onboarding, "stripe_account")
                context["chart"] = chart
                context["suggested"] = _suggested_deposit(onboarding, chart)
            elif step in ("shop", "stripe"):
                context["doors"] = await flow.doors(onboarding)
            elif step == "start":
                today = danish_today(flow.clock())
                context["today"] = today
                context["first_of_month"] = today.replace(day=1)
        except ApiError as exc:
            context["problems"] = [*context["problems"], *problems_of(exc)]
            status = exc.status if status == 200 else status
        template = "start_choice.html" if step == "start" else f"{step}.html"
        return render(template, request, status=status, **context)

    @router.post("/onboarding/{step}")
    async def act(request: Request, step: str) -> Response:
        session = await session_of(request)
        onboarding = await onboarding_of(session)
        form = await read_form(request)
        if session is None or onboarding is None:
            return to_portal()
        if form is None:
            return HTMLResponse("The form was too large.", status_code=413)
        if form.get("csrf") != session.csrf_token:
            return HTMLResponse("This form is from another session; reload the page.", 403)
        typed = _step(step)
        if typed is None:
            return to_next(onboarding)
        extra: dict[str, Any] = {}
        try:
            if typed == "dinero":
                url = await flow.begin_dinero(
                    onboarding,
                    base(request),
                    session_sha256=token_digest(cookie.of(request) or ""),
                    return_url=None,
                )
                return RedirectResponse(url, status_code=303)
            if typed == "organisation":
                raw = form.get("organisation", "")
                if not raw.isdigit():
                    raise ApiError(422, "choose_an_organisation", "choose one of the list")
                onboarding = await flow.choose_organisation(onboarding, int(raw))
            elif typed == "accounts":
                extra["chosen"] = _accounts_from(form, SalesAccounts())
                choice = AccountsChoice(
                    accounts=extra["chosen"],
                    fee_account=_number(form, "fee_account"),
                    bank_account=_number(form, "bank_account"),
                )
                onboarding = await flow.choose_accounts(onboarding, choice)
            elif typed == "stripe_account":
                if form.get("do") == "create":
                    onboarding = await flow.create_deposit_account(
                        onboarding,
                        NewDepositAccount(
                            number=_number(form, "number"), name=form.get("name", "")
                        ),
                    )
                else:
                    onboarding = await flow.choose_deposit_account(
                        onboarding, _number(form, "deposit_account")
                    )
            elif typed == "shop":
                onboarding, secret = await flow.issue_signing_secret(onboarding)
                return await show(request, session, onboarding, "shop", secret=secret)
            elif typed == "stripe":
                connection = StripeConnection.model_validate(
                    {
                        "api_key": form.get("api_key", "").strip(),
                        "webhook_secret": form.get("webhook_secret", "").strip() or None,
                    }
                )
                onboarding, connected = await flow.connect_stripe(onboarding, connection)
                return await show(request, session, onboarding, "stripe", connected=connected)
            elif typed == "booking":
                onboarding = await flow.choose_booking(
                    onboarding,
                    BookingChoice(
                        booking_mode=_choice(form, "booking_mode", get_args(BookingMode)),
                        trigger=_choice(form, "trigger", get_args(Trigger)),
                    ),
                )
            elif typed == "start":
                since = form.get("since") or None
                onboarding = await flow.choose_start(
                    onboarding,
                    StartChoice.model_validate(
                        {"mode": form.get("mode", "forward"), "since": since}
                    ),
                )
            elif typed == "activate":
                onboarding = await flow.activate(onboarding)
        except ApiError as exc:
            return await show(
                request,
                session,
                onboarding,
                typed,
                status=exc.status,
                problems=problems_of(exc),
                **extra,
            )
        except ValidationError as exc:
            words = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            return await show(
                request,
                session,
                onboarding,
                typed,
                status=422,
                problems=["Some fields are not right.", *words],
                **extra,
            )
        return to_next(onboarding)

    return router


def _step(name: str) -> Step | None:
    return next((s for s in STEPS if s == name), None)


def _number(form: dict[str, str], name: str) -> int:
    raw = form.get(name, "").strip()
    if not re.fullmatch(r"\d{1,9}", raw):
        raise ApiError(422, "not_a_number", f"{name}: give an account number")
    return int(raw)


def _choice(form: dict[str, str], name: str, allowed: tuple[str, ...]) -> Any:
    value = form.get(name)
    if value not in allowed:
        raise ApiError(422, "choose_one", f"{name}: choose one of {', '.join(allowed)}")
    return value


def _accounts_from(form: dict[str, str], defaults: SalesAccounts) -> SalesAccounts:
    """The roles' accounts as the form chose them; roles not on the form keep the default."""
    chosen = {
        role: int(form[f"role_{role}"])
        for role in ROLE_TEXT
        if form.get(f"role_{role}", "").isdigit()
    }
    return defaults.model_copy(update=chosen)


def _roles(onboarding: Onboarding, chart: Chart, chosen: SalesAccounts) -> dict[str, Any]:
    organisation = onboarding.progress.organisation
    assert organisation is not None
    return {"chart": chart, "roles": role_rows(organisation, chosen, chart.vat_codes())}


def _suggested_deposit(onboarding: Onboarding, chart: Chart) -> int | None:
    """The account to offer: the one chosen, else one already named Stripe."""
    if onboarding.progress.stripe_deposit_account is not None:
        chosen: int = onboarding.progress.stripe_deposit_account
        return chosen
    for account in chart.deposit_accounts:
        if "stripe" in (account.name or "").lower():
            found: int = account.number
            return found
    return None
