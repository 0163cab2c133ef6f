"""The ops pages. Every page needs a session (viewer or operator); every action is asked
for on a confirmation page, needs the operator role and the session's CSRF token, is
published on ops.actions.v1 (or, for a dead letter, re-published by the ledger) and put in
the actions' trail with who and when. Filters and pages are in the SQL (queries.py)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import asyncpg
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from faststream.kafka import KafkaBroker
from pydantic import ValidationError

from bogfoer_contracts.ids import TENANT_PATTERN
from bogfoer_kit.actions import make_action, new_action_id, publish_action
from bogfoer_kit.auth import StaticTokens
from bogfoer_kit.errors import ApiError
from bogfoer_kit.web.pages import SessionCookie, environment, read_form, safe_next
from bogfoer_kit.web.sessions import Session, SessionStore
from bogfoer_ledger import deadletters, queries, store
from bogfoer_ledger.lag import LagMonitor
from bogfoer_ledger.settings import LedgerSettings
from bogfoer_ledger.web import format as fmt

COOKIE = "bogfoer_ops"
STATIC = "/ops/static"
_TENANT = re.compile(TENANT_PATTERN)

templates = environment("bogfoer_ledger.web", STATIC, money=fmt.money, age=fmt.age, when=fmt.when)


@dataclass(frozen=True)
class Choice:
    """An action the posting page offers for a posting in some state."""

    action: str
    label: str
    explains: str


_REMAP = (
    "The mapper derives this posting again from the sale's stored events with the tenant's "
    "current settings and sends its command again; the poster posts it in place of the old "
    "one, looking it up in Dinero first, so nothing is booked twice."
)
_RETRY = (
    "The poster tries this posting now instead of waiting for its next attempt, looking it up "
    "in Dinero first, so nothing is booked twice."
)
CHOICES: dict[str, Choice] = {
    "failed": Choice("remap_posting", "Re-drive", _REMAP),
    "held": Choice("remap_posting", "Re-map", _REMAP),
    "pending": Choice("retry_posting", "Retry now", _RETRY),
    "waiting": Choice("retry_posting", "Retry now", _RETRY),
}
_RESUME = (
    "The poster un-parks the tenant and its postings continue in order. Reconnect the tenant's "
    "Dinero first (a new API key or the Visma Connect consent), or it is parked again."
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _page(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return max(1, min(int(raw), 100_000)) if raw.isdigit() else 1


def _text(request: Request, name: str, limit: int = 64) -> str | None:
    """A free-text filter from the query string, trimmed and bounded; None when empty."""
    return (request.query_params.get(name) or "").strip()[:limit] or None


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def _safe_next(target: str | None) -> str:
    return safe_next(target, "/ops")


def web_router(
    pool: asyncpg.Pool,
    broker: KafkaBroker,
    settings: LedgerSettings,
    sessions: SessionStore,
    login_tokens: StaticTokens,
    lag: LagMonitor,
) -> APIRouter:
    router = APIRouter(prefix="/ops", tags=["ops web"], default_response_class=HTMLResponse)
    size = settings.page_size
    stuck_after = settings.stuck_after_seconds

    cookie = SessionCookie(COOKIE, "/ops", settings.session_hours, settings.session_cookie_secure)
    cookie_of = cookie.of

    async def session_of(request: Request) -> Session | None:
        return await sessions.find(cookie_of(request))

    def to_login(request: Request) -> RedirectResponse:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/ops/login?{urlencode({'next': here})}", status_code=303)

    async def render(
        name: str, request: Request, session: Session | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        nav = await queries.problems(pool, stuck_after) if session is not None else None
        html = templates.get_template(name).render(
            request=request,
            session=session,
            nav=nav,
            now=_now(),
            stuck_after=stuck_after,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    async def error_page(
        request: Request, session: Session | None, status: int, reason: str, detail: Any = None
    ) -> HTMLResponse:
        return await render(
            "error.html", request, session, status=status, reason=reason, detail=detail
        )

    form_of = read_form

    # --- login ------------------------------------------------------------------------------

    @router.get("/login")
    async def login_page(request: Request) -> Response:
        """The login form (a token from settings; an OIDC login would sit beside it)."""
        if await session_of(request) is not None:
            return RedirectResponse(_safe_next(request.query_params.get("next")), 303)
        return await render(
            "login.html", request, None, next=_safe_next(request.query_params.get("next"))
        )

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await form_of(request) or {}
        target = _safe_next(form.get("next"))
        principal = (
            await login_tokens.authenticate(form.get("token", "")) if form.get("token") else None
        )
        if principal is None or not principal.has("viewer"):
            return await render(
                "login.html",
                request,
                None,
                status=401,
                next=target,
                failed="That token is not known here.",
            )
        token = await sessions.open(principal)
        response = RedirectResponse(target, status_code=303)
        cookie.set(response, token)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        session = await session_of(request)
        form = await form_of(request) or {}
        if session is None:
            return to_login(request)
        if form.get("csrf") != session.csrf_token:
            return await error_page(request, session, 403, "bad_csrf_token")
        await sessions.close(cookie_of(request))
        return cookie.clear(RedirectResponse("/ops/login", status_code=303))

    # --- pages ------------------------------------------------------------------------------

    @router.get("")
    async def overview(request: Request) -> Response:
        """Is anything wrong, where, since when; then every tenant on one page."""
        session = await session_of(request)
        if session is None:
            return to_login(request)
        prefix = _text(request, "tenant")
        problems_only = request.query_params.get("problems") == "1"
        page = _page(request)
        rows = await queries.tenants(
            pool,
            stuck_after,
            prefix=prefix,
            problems_only=problems_only,
            limit=size,
            offset=(page - 1) * size,
        )
        snapshot = lag.snapshot
        for row in rows:
            row["lag"] = snapshot.for_tenant(row["tenant_id"])
        total = await queries.count_tenants(pool, prefix=prefix)
        return await render(
            "overview.html",
            request,
            session,
            tenants=rows,
            total=total,
            page=page,
            pages=max(1, -(-total // size)),
            prefix=prefix or "",
            problems_only=problems_only,
            lag_by_group=sorted(snapshot.by_group().items()),
            lag_measured_at=snapshot.measured_at,
            stuck=await queries.stuck_postings(pool, stuck_after, None, 10),
            choices=CHOICES,
        )

    @router.get("/tenants/{tenant}")
    async def tenant_page(
        request: Request, tenant: Annotated[str, Path(max_length=64)]
    ) -> Response:
        """One tenant: counts by state, problems, postings filtered and paged, dead letters."""
        session = await session_of(request)
        if session is None:
            return to_login(request)
        q = request.query_params
        where = queries.PostingFilter(
            state=_choice(q.get("state"), queries.STATES),
            kind=_choice(q.get("kind"), queries.KINDS),
            search=_text(request, "search", 128),
            updated_from=_date(q.get("from")),
            updated_to=_date(q.get("to")),
        )
        page = _page(request)
        counts = await queries.counts(pool, tenant)
        if not counts and not _TENANT.match(tenant):
            return await error_page(request, session, 404, "unknown_tenant", tenant)
        by_state: dict[str, int] = {}
        for row in counts:
            by_state[row["state"]] = by_state.get(row["state"], 0) + row["count"]
        total = await queries.count_postings(pool, tenant, where)
        parked = await queries.postings(pool, tenant, queries.PostingFilter(state="parked"), 1)
        return await render(
            "tenant.html",
            request,
            session,
            tenant=tenant,
            by_state=by_state,
            all_count=sum(by_state.values()),
            where=where,
            filters={k: v for k, v in q.items() if k != "page"},
            postings=await queries.postings(pool, tenant, where, size, (page - 1) * size),
            total=total,
            page=page,
            pages=max(1, -(-total // size)),
            first=(page - 1) * size + 1,
            held=await queries.postings(pool, tenant, queries.PostingFilter(state="held"), 20),
            stuck=await queries.stuck_postings(pool, stuck_after, tenant, 20),
            parked=parked[0] if parked else None,
            letters=await queries.dead_letters(pool, tenant, 20, open_only=True),
            trail=await queries.actions(pool, tenant=tenant, limit=10),
            lag=lag.snapshot.for_tenant(tenant),
            choices=CHOICES,
            states=queries.STATES,
            kinds=queries.KINDS,
        )

    @router.get("/tenants/{tenant}/postings/{posting_key:path}")
    async def posting_page(
        request: Request,
        tenant: Annotated[str, Path(max_length=64)],
        posting_key: Annotated[str, Path(max_length=256)],
    ) -> Response:
        """One posting: its facts, reason, Dinero document, trace, history and actions."""
        session = await session_of(request)
        if session is None:
            return to_login(request)
        found = await queries.posting(pool, tenant, posting_key)
        if found is None:
            return await error_page(request, session, 404, "unknown_posting", posting_key)
        return await render(
            "posting.html",
            request,
            session,
            p=found,
            choice=CHOICES.get(found["state"]),
            trail=await queries.actions(pool, posting_key=posting_key, limit=50),
            requested=request.query_params.get("requested"),
        )

    @router.get("/dead-letters")
    async def dead_letters_page(request: Request) -> Response:
        """Records no consumer could process, with their reason; re-drivable after the fix."""
        session = await session_of(request)
        if session is None:
            return to_login(request)
        q = request.query_params
        tenant = _text(request, "tenant")
        reason = _text(request, "reason")
        open_only = q.get("all") != "1"
        page = _page(request)
        total = await queries.count_dead_letters(pool, tenant, open_only=open_only, reason=reason)
        return await render(
            "dead_letters.html",
            request,
            session,
            letters=await queries.dead_letters(
                pool, tenant, size, (page - 1) * size, open_only=open_only, reason=reason
            ),
            total=total,
            page=page,
            pages=max(1, -(-total // size)),
            tenant=tenant or "",
            reason=reason or "",
            open_only=open_only,
            requested=q.get("requested"),
        )

    @router.get("/actions")
    async def actions_page(request: Request) -> Response:
        """The trail: every action, who asked, when, and what came of it."""
        session = await session_of(request)
        if session is None:
            return to_login(request)
        tenant = _text(request, "tenant")
        page = _page(request)
        rows = await queries.actions(pool, tenant=tenant, limit=size + 1, offset=(page - 1) * size)
        return await render(
            "actions.html",
            request,
            session,
            trail=rows[:size],
            more=len(rows) > size,
            page=page,
            tenant=tenant or "",
        )

    # --- actions ----------------------------------------------------------------------------

    @router.get("/confirm")
    async def confirm_page(request: Request) -> Response:
        """What an action will do, a note for the trail, and the button that does it."""
        session = await session_of(request)
        if session is None:
            return to_login(request)
        q = request.query_params
        action = q.get("action", "")
        tenant = q.get("tenant", "")
        context: dict[str, Any] = {"action": action, "tenant": tenant, "action_id": new_action_id()}
        if action in ("remap_posting", "retry_posting"):
            found = await queries.posting(pool, tenant, q.get("posting_key", ""))
            if found is None:
                return await error_page(request, session, 404, "unknown_posting")
            choice = CHOICES.get(found["state"])
            if choice is None or choice.action != action:
                return await error_page(
                    request, session, 409, "not_for_this_state", {"state": found["state"]}
                )
            context |= {"p": found, "label": choice.label, "explains": choice.explains}
        elif action == "resume_tenant":
            if not _TENANT.match(tenant):
                return await error_page(request, session, 404, "unknown_tenant")
            context |= {"label": "Resume tenant", "explains": _RESUME}
        elif action == "redrive_dead_letter":
            raw = q.get("dead_letter_id", "")
            letter = (
                await queries.dead_letter(pool, int(raw))
                if raw.isdigit() and len(raw) < 19
                else None
            )
            if letter is None:
                return await error_page(request, session, 404, "unknown_dead_letter")
            context |= {
                "letter": letter,
                "label": "Re-drive dead letter",
                "explains": f"The ledger publishes the record to {letter['original_topic']} "
                "again, where its consumer takes it as if it had just arrived.",
            }
        else:
            return await error_page(request, session, 400, "unknown_action", action)
        return await render("confirm.html", request, session, **context)

    @router.post("/actions")
    async def act(request: Request) -> Response:
        """Carry out a confirmed action (operators only); the same action twice is one."""
        session = await session_of(request)
        if session is None:
            return to_login(request)
        form = await form_of(request)
        if form is None:
            return await error_page(request, session, 413, "body_too_large")
        if not session.principal.has("operator"):
            return await error_page(request, session, 403, "forbidden", {"needs_role": "operator"})
        if form.get("csrf") != session.csrf_token:
            return await error_page(request, session, 403, "bad_csrf_token")
        action_id = form.get("action_id", "")
        if not re.fullmatch(r"[0-9a-f]{32}", action_id):
            return await error_page(request, session, 400, "bad_action_id")
        kind = form.get("action", "")
        tenant = form.get("tenant", "")
        note = (form.get("note") or "").strip()[:2000] or None
        who = session.principal.subject
        if kind == "redrive_dead_letter":
            raw = form.get("dead_letter_id", "")
            if not raw.isdigit() or len(raw) > 18:
                return await error_page(request, session, 400, "bad_dead_letter_id")
            if not await queries.action_exists(pool, action_id):
                try:
                    await deadletters.redrive(
                        pool, broker, int(raw), requested_by=who, action_id=action_id, note=note
                    )
                except ApiError as exc:
                    return await error_page(request, session, exc.status, exc.reason, exc.detail)
            return RedirectResponse(f"/ops/dead-letters?requested={action_id}", 303)
        posting_key = form.get("posting_key") or None
        try:
            action = make_action(
                kind, tenant, who, posting_key=posting_key, note=note, action_id=action_id
            )
        except (ValueError, ValidationError) as exc:
            return await error_page(request, session, 400, "bad_action", str(exc)[:500])
        if posting_key is not None and await queries.posting(pool, tenant, posting_key) is None:
            return await error_page(request, session, 404, "unknown_posting", posting_key)
        if not await queries.action_exists(pool, action_id):  # a second click: already sent
            await publish_action(broker, action)
            async with pool.acquire() as conn:
                await store.record_action(conn, action)
        if posting_key is not None:
            target = f"/ops/tenants/{tenant}/postings/{quote(posting_key, safe='')}"
        else:
            target = f"/ops/tenants/{tenant}"
        return RedirectResponse(f"{target}?requested={action_id}", 303)

    return router
