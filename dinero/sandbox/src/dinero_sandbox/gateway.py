"""The ASGI layer in front of the API: records every request, then applies injected faults."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dinero_sandbox.context import Sandbox, org_in_path
from dinero_sandbox.errors import SERVER_ERROR
from dinero_sandbox.invoices import brownout_response
from dinero_sandbox.jsonio import DecimalJSONResponse

ADMIN_PREFIX = "/_sandbox"


async def _wait_for_disconnect(receive: Receive, seconds: float) -> bool:
    """True if the client went away within `seconds`."""

    async def wait() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(wait(), seconds)
    except TimeoutError:
        return False
    return True


async def _abort(send: Send) -> None:
    """Start a response that promises a body, then stop: the server closes the connection
    mid-response, which the client sees as a dropped connection."""
    with contextlib.suppress(OSError):
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b"{", "more_body": True})


class Gateway:
    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        method: str = scope["method"]
        path: str = scope["path"]
        org = org_in_path(path)
        entry = self.sandbox.log_request(
            method, path, scope.get("query_string", b"").decode("latin-1"), org, body
        )
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        decision = self.sandbox.faults.decide(method, path, org)
        if decision.delay_seconds:
            await asyncio.sleep(decision.delay_seconds)
        rule = decision.action
        if rule is None:
            await self.app(scope, replay, recording_send)
            return
        entry["fault"] = rule.kind
        if rule.kind == "error":
            error = DecimalJSONResponse(
                {"code": SERVER_ERROR, "message": "An error occurred (injected by the sandbox)."},
                status_code=rule.status,
            )
            await error(scope, replay, recording_send)
        elif rule.kind == "brownout":
            await brownout_response()(scope, replay, recording_send)
        elif rule.kind == "hang":
            if not await _wait_for_disconnect(receive, rule.seconds):
                timeout = PlainTextResponse("Gateway Timeout", status_code=504)
                await timeout(scope, replay, recording_send)
        elif rule.kind == "drop_after_commit":

            async def swallow(message: Message) -> None:
                if message["type"] == "http.response.start":
                    entry["status"] = message["status"]

            await self.app(scope, replay, swallow)
            if rule.mode == "hang" and await _wait_for_disconnect(receive, rule.seconds):
                return
            await _abort(send)
        else:  # latency rules never become the action
            await self.app(scope, replay, recording_send)
