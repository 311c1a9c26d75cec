"""The chain page: the ledger's sessions in a browser, for analysts.

``/ui/sessions`` lists the latest sessions (filtered by agent, label, flagged or contracted,
and time); ``/ui/sessions/{id}`` shows one as a timeline: origin, intent, scope, each action
with its label, drift score and outcome, the contractions, and on click the rule and
evidence behind a label and the source records the action came from. The pages are static
HTML, CSS and a little JavaScript from package data; the script reads ``/api/sessions`` and
``/api/actions/{id}`` and builds the page with DOM text nodes only, never markup, because
the ledger holds what attackers wrote (a tool result can carry an injected prompt, a
``<script>``). The Content-Security-Policy allows scripts from this origin alone, so that
even a mistake there would not run one.

A browser signs in by posting an API key or a JWT with the ``analyst`` role once
(``agentledger.web_sessions``): the answer sets an HttpOnly, SameSite=Strict cookie (Secure
over TLS) holding a random session id, never the key, and the key never travels in a URL.
The JSON endpoints take that cookie or, as the rest of the API does, a bearer credential.
"""

from __future__ import annotations

import asyncio
import base64
import html
from datetime import UTC, datetime
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import parse_qs

import orjson
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from agentledger.auth import Authenticator, AuthError, Caller, key_id_of
from agentledger.web_sessions import COOKIE, BrowserSessions
from kernel.vocabulary import LABELS
from ledger.contractions import list_contractions
from ledger.queries import (
    ActionNotFound,
    SessionNotFound,
    find_action,
    session_chain,
    source_records,
)
from ledger.session_list import SessionFilter, list_sessions
from ledger.store import LedgerStore

UI = "/ui"
ROLE = "analyst"
SIGN_IN = f"{UI}/sign-in"
MOST_FORM_BYTES = 16_384
_WEB = files("agentledger") / "web"
_STATIC = {"chain.js": "text/javascript", "chain.css": "text/css"}
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # Not "no-referrer": with it a browser posts forms with `Origin: null`, and the sign-in
    # form is refused (`_same_origin`). Other sites get no referrer either way.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


def _page(name: str, status: int = 200, problem: str = "") -> Response:
    text = (_WEB / name).read_text(encoding="utf-8")
    if problem:  # the one server-side insertion, escaped
        text = text.replace("<!--problem-->", f'<p class="problem">{html.escape(problem)}</p>')
    return Response(text, status_code=status, media_type="text/html", headers=_HEADERS)


def _json(value: Any) -> Response:
    return Response(orjson.dumps(value), media_type="application/json", headers=_HEADERS)


def _jwt_expiry(token: str) -> float | None:
    """The ``exp`` of a JWT already verified (read from its payload, not trusted otherwise)."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def _utc_text(value: str | None, name: str) -> str | None:
    """``value`` (ISO 8601 with a zone) as ClickHouse time text in UTC, or a 422."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, detail=f"{name}: not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise HTTPException(422, detail=f"{name}: give a time zone (Z for UTC)")
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _same_origin(request: Request) -> bool:
    """A form posted from this origin (or by a client that sends no ``Origin``): what keeps
    another site from signing a browser in or out."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


class ChainPage:
    """The routes of the page and of its JSON, over one ledger."""

    def __init__(
        self, store: LedgerStore, authenticator: Authenticator, browsers: BrowserSessions
    ) -> None:
        self.store = store
        self.authenticator = authenticator
        self.browsers = browsers

    def signed_in(self, request: Request) -> Caller | None:
        session_id = request.cookies.get(COOKIE)
        caller = self.browsers.caller(session_id) if session_id else None
        return caller if caller is not None and caller.may(ROLE) else None

    def analyst(
        self,
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> Caller:
        """The signed-in browser, else the bearer credential; 401 without either."""
        caller = self.signed_in(request)
        if caller is not None:
            return caller
        try:
            caller = self.authenticator.authenticate(authorization, x_api_key)
        except AuthError as exc:
            raise HTTPException(
                401, detail=str(exc), headers={"WWW-Authenticate": "Bearer"}
            ) from None
        if not caller.may(ROLE):
            raise HTTPException(403, detail=f"{caller.name} lacks the role {ROLE!r}")
        return caller

    async def sign_in(self, request: Request) -> Response:
        if not _same_origin(request):
            raise HTTPException(403, detail="sign in from this ledger's own page")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MOST_FORM_BYTES:
                raise HTTPException(413, detail="the form is too large")
        presented = parse_qs(body.decode("utf-8", "replace")).get("credential", [""])[0].strip()
        if not presented:
            return _page("sign-in.html", 401, "Paste an API key or a JWT with the analyst role.")
        try:
            caller = self.authenticator.authenticate(f"Bearer {presented}", None)
        except AuthError as exc:
            return _page("sign-in.html", 401, f"Not signed in: {exc}.")
        if not caller.may(ROLE):
            return _page("sign-in.html", 403, f"{caller.name} lacks the role {ROLE!r}.")
        key_id = key_id_of(presented)
        not_after = None if key_id is not None else _jwt_expiry(presented)
        session_id = self.browsers.open(caller, key_id=key_id, not_after=not_after)
        reply = RedirectResponse(f"{UI}/sessions", status_code=303, headers=_HEADERS)
        reply.set_cookie(
            COOKIE,
            session_id,
            max_age=int(self.browsers.lifetime_s),
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return reply

    def sign_out(self, request: Request) -> Response:
        if not _same_origin(request):
            raise HTTPException(403, detail="sign out from this ledger's own page")
        session_id = request.cookies.get(COOKIE)
        if session_id:
            self.browsers.close(session_id)
        reply = RedirectResponse(SIGN_IN, status_code=303, headers=_HEADERS)
        reply.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return reply

    def shell(self, request: Request, name: str) -> Response:
        """A page, to a signed-in browser; anyone else is sent to sign in."""
        if self.signed_in(request) is None:
            return RedirectResponse(SIGN_IN, status_code=303, headers=_HEADERS)
        return _page(name)

    async def sessions(self, wanted: SessionFilter, limit: int) -> Response:
        rows = await asyncio.to_thread(list_sessions, self.store, limit, wanted)
        return _json({"sessions": rows})

    async def session(self, session_id: str) -> Response:
        def read() -> dict[str, Any]:
            chain = session_chain(self.store, session_id)
            root = chain.session["session_id"]
            return {
                **chain.as_json(),
                "contractions": list_contractions(self.store, session_id=root),
            }

        try:
            return _json(await asyncio.to_thread(read))
        except SessionNotFound as exc:
            raise HTTPException(404, detail=str(exc)) from None

    async def action(self, action_id: str) -> Response:
        def read() -> dict[str, Any]:
            record = find_action(self.store, action_id)
            return {**record, "source_records": source_records(self.store, record)}

        try:
            return _json(await asyncio.to_thread(read))
        except ActionNotFound as exc:
            raise HTTPException(404, detail=str(exc)) from None


def _analyst(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Caller:
    page: ChainPage = request.app.state.chain_page
    return page.analyst(request, authorization, x_api_key)


Analyst = Annotated[Caller, Depends(_analyst)]


def add_chain_page(
    app: FastAPI,
    store: LedgerStore,
    authenticator: Authenticator,
    browsers: BrowserSessions | None = None,
) -> ChainPage:
    """Serve the chain page and its JSON on ``app`` (before anything mounted at ``/``)."""
    page = ChainPage(
        store,
        authenticator,
        browsers if browsers is not None else BrowserSessions(authenticator.keys.holds),
    )
    app.state.chain_page = page

    @app.get(UI, include_in_schema=False)
    async def ui_root() -> Response:
        return RedirectResponse(f"{UI}/sessions", status_code=303, headers=_HEADERS)

    @app.get(SIGN_IN, include_in_schema=False)
    async def sign_in_form() -> Response:
        return _page("sign-in.html")

    @app.post(SIGN_IN, include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        return await page.sign_in(request)

    @app.post(f"{UI}/sign-out", include_in_schema=False)
    async def sign_out(request: Request) -> Response:
        return page.sign_out(request)

    @app.get(f"{UI}/sessions", include_in_schema=False)
    async def sessions_page(request: Request) -> Response:
        return page.shell(request, "sessions.html")

    @app.get(UI + "/sessions/{session_id}", include_in_schema=False)
    async def session_page(request: Request, session_id: str) -> Response:
        return page.shell(request, "session.html")

    @app.get(UI + "/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        media = _STATIC.get(name)
        if media is None:
            raise HTTPException(404, detail=f"no {name!r} here")
        body = (_WEB / name).read_text(encoding="utf-8")
        return Response(body, media_type=media, headers=_HEADERS)

    @app.get("/api/sessions", tags=["chain page"])
    async def api_sessions(
        _: Analyst,
        agent: str | None = None,
        label: Annotated[str | None, Query(pattern="^(" + "|".join(LABELS) + ")$")] = None,
        flagged: bool = False,
        contracted: bool = False,
        since: str | None = None,
        until: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> Response:
        """The latest sessions: agent, origin, intent, counts of autonomous, confused-deputy
        and drift-flagged actions, the highest drift score, and contractions. Filters:
        `agent` (exact name), `label` (has an action so labelled), `flagged`, `contracted`,
        and `since`/`until` (ISO 8601 with a zone: active in that range)."""
        wanted = SessionFilter(
            agent=agent or None,
            label=label,
            flagged=flagged,
            contracted=contracted,
            since=_utc_text(since, "since"),
            until=_utc_text(until, "until"),
        )
        return await page.sessions(wanted, limit)

    @app.get("/api/sessions/{session_id}", tags=["chain page"])
    async def api_session(_: Analyst, session_id: str) -> Response:
        """One session's chain (as `agentledger sessions show --json`) and its contractions."""
        return await page.session(session_id)

    @app.get("/api/actions/{action_id}", tags=["chain page"])
    async def api_action(_: Analyst, action_id: str) -> Response:
        """One action with its label's rule and evidence (as `agentledger explain --json`)
        and the source records it came from (as `explain --raw`)."""
        return await page.action(action_id)

    return page
