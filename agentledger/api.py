"""The HTTP API that ``agentledger up`` serves: session declarations, OTLP/HTTP trace
exports, status, the Shared Signals transmitter's keys, discovery and poll endpoints, and
the chain page for analysts (``agentledger.chain_page``: ``/ui/``, ``/api/``).

OpenAPI at ``/openapi.json``. Every operation asks who is calling (``agentledger.auth``):
no credential is a 401, a credential without the role a 403. A bad request is a 4xx naming
the field. ``POST /v1/traces`` answers as the OTLP/HTTP specification says (``ingest.otlp``),
its refusals included, so that exporters and collectors can tell what happened. The JWKS and
the Shared Signals discovery document are public by design (receivers verify SETs with
them); polling a stream asks for the ``signals`` role.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from agentledger import __version__
from agentledger.auth import Authenticator, AuthError, Caller
from agentledger.chain_page import add_chain_page
from enforce.ssf import DISCOVERY_PATH, JWKS_PATH, POLL_PATH
from enforce.ssf_delivery import PollRequest
from enforce.ssf_transmitter import Transmitter, UnknownStream
from ingest import otlp
from ingest.pipeline import IngestReport
from kernel.declaration import SessionDeclaration, describe_error
from kernel.errors import StackError
from ledger.store import LedgerStore

# The spans of one export request, decoded, and the name of the request in positions
# (``/v1/traces key:NAME``, as a file's name); what became of each span.
ReceiveTraces = Callable[[dict[str, Any], str], Awaitable[IngestReport]]
_OTLP_BODY = {
    "requestBody": {
        "required": True,
        "description": "An OTLP ExportTraceServiceRequest, optionally `Content-Encoding: gzip`.",
        "content": {
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


class RoleRequired:
    """A dependency: the authenticated ``Caller``, who must hold ``role`` (or ``admin``)."""

    def __init__(self, role: str) -> None:
        self.role = role

    def __call__(
        self,
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> Caller:
        authenticator: Authenticator = request.app.state.authenticator
        try:
            caller = authenticator.authenticate(authorization, x_api_key)
        except AuthError as exc:
            raise HTTPException(
                401, detail=str(exc), headers={"WWW-Authenticate": "Bearer"}
            ) from None
        if not caller.may(self.role):
            raise HTTPException(403, detail=f"{caller.name} lacks the role {self.role!r}")
        return caller


Declarer = Annotated[Caller, Depends(RoleRequired("declare"))]
Analyst = Annotated[Caller, Depends(RoleRequired("analyst"))]
Ingester = Annotated[Caller, Depends(RoleRequired("ingest"))]
SignalsReceiver = Annotated[Caller, Depends(RoleRequired("signals"))]


class Declared(BaseModel):
    session_id: str
    declared_by: str


class SetError(BaseModel):
    """A receiver's report of a SET it could not take (RFC 8936 ``setErrs``)."""

    err: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)


class PollBody(BaseModel):
    """An RFC 8936 poll request (its member names, as the RFC spells them)."""

    maxEvents: int | None = Field(default=None, ge=0)
    returnImmediately: bool = False
    ack: list[str] = Field(default_factory=list, max_length=10_000)
    setErrs: dict[str, SetError] = Field(default_factory=dict)


class PollReply(BaseModel):
    sets: dict[str, str]
    moreAvailable: bool


def _otlp_refusal(
    http_status: int, message: str, media: str, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        otlp.error_body(http_status, message, media),
        status_code=http_status,
        media_type=media,
        headers=headers,
    )


def _reply_media(request: Request) -> str:
    """The encoding to answer in: the request's, or JSON when it is not one OTLP speaks."""
    try:
        return otlp.media_type(request.headers.get("content-type"))
    except otlp.UnsupportedMedia:
        return "application/json"


async def _read_body(request: Request, limit: int) -> bytes:
    """The body as sent, refused as soon as it is over ``limit`` rather than read whole."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise otlp.RequestTooLarge(f"the body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise otlp.RequestTooLarge(f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def build_api(
    publish: Callable[[SessionDeclaration], Awaitable[None]],
    status: Callable[[], dict[str, Any]],
    authenticator: Authenticator,
    *,
    receive_traces: ReceiveTraces,
    otlp_max_body: int,
    signals: Transmitter | None = None,
    ledger: LedgerStore | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Agent Ledger",
        version=__version__,
        description="Declare agent sessions; the ledger attributes what happens in them. "
        "Send `Authorization: Bearer <API key or JWT>`.",
    )
    app.state.authenticator = authenticator

    @app.exception_handler(HTTPException)
    async def _refused(request: Request, exc: HTTPException) -> Response:
        if request.url.path == otlp.TRACES_PATH:
            media = _reply_media(request)
            return _otlp_refusal(exc.status_code, str(exc.detail), media, exc.headers)
        return JSONResponse(
            status_code=exc.status_code, content={"error": exc.detail}, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            field, reason = describe_error(error.get("loc", ()), str(error.get("msg", "")))
            problems.append({"field": field, "reason": reason})
        first = problems[0] if problems else {"field": "", "reason": "invalid request"}
        if request.url.path.startswith(POLL_PATH + "/"):  # as RFC 8936 answers a bad poll
            description = f"{first['field']}: {first['reason']}"
            return JSONResponse(
                status_code=400, content={"err": "invalid_request", "description": description}
            )
        return JSONResponse(
            status_code=422,
            content={"error": f"{first['field']}: {first['reason']}", "problems": problems},
        )

    @app.post("/v1/sessions", status_code=201, response_model=Declared)
    async def declare_session(declaration: SessionDeclaration, caller: Declarer) -> Declared:
        """Declare a session; later events carrying one of its bindings join it."""
        declaration.declared_by = caller.name
        try:
            await publish(declaration)
        except StackError as exc:  # stopping: the caller sends it again to the next run
            raise HTTPException(503, detail=str(exc)) from exc
        return Declared(session_id=declaration.session_id, declared_by=caller.name)

    @app.post(
        otlp.TRACES_PATH,
        response_class=Response,
        openapi_extra=_OTLP_BODY,
        responses={200: {"description": "An ExportTraceServiceResponse in the request's type"}},
    )
    async def export_traces(request: Request, caller: Ingester) -> Response:
        """OTLP/HTTP trace export: the spans go the way of `agentledger ingest --source otel`;
        those that cannot be parsed are dead-lettered and counted in `partial_success`."""
        try:
            media = otlp.media_type(request.headers.get("content-type"))
        except otlp.UnsupportedMedia as exc:
            return _otlp_refusal(exc.http_status, str(exc), "application/json")
        try:
            body = await _read_body(request, otlp_max_body)
            encoding = request.headers.get("content-encoding")
            # Decoding a large batch takes a while: off the loop that also serves the ledger.
            document = await asyncio.to_thread(
                otlp.decode_body, body, media, encoding, otlp_max_body
            )
        except otlp.OtlpRequestError as exc:
            return _otlp_refusal(exc.http_status, str(exc), media)
        try:
            report = await receive_traces(document, f"{otlp.TRACES_PATH} {caller.name}")
        except StackError as exc:  # the exporter retries a 503 later, with the same spans
            return _otlp_refusal(503, str(exc), media, {"Retry-After": "5"})
        return Response(otlp.export_response(report, media), media_type=media)

    @app.get("/v1/status")
    async def get_status(_: Analyst) -> dict[str, Any]:
        return status()

    if signals is not None:
        _signal_routes(app, signals)
    if ledger is not None:
        add_chain_page(app, ledger, authenticator)
    return app


def _signal_routes(app: FastAPI, signals: Transmitter) -> None:
    @app.get(JWKS_PATH, tags=["shared signals"])
    async def jwks() -> JSONResponse:
        """The public keys that sign this ledger's Security Event Tokens (no credential)."""
        return JSONResponse(signals.jwks(), headers={"Cache-Control": "max-age=300"})

    @app.get(DISCOVERY_PATH, tags=["shared signals"])
    async def ssf_configuration() -> dict[str, Any]:
        """Shared Signals transmitter metadata: issuer, JWKS, delivery methods, events."""
        return signals.discovery()

    @app.post(POLL_PATH + "/{stream}", response_model=PollReply, tags=["shared signals"])
    async def poll(stream: str, body: PollBody, caller: SignalsReceiver) -> dict[str, Any]:
        """RFC 8936 poll: acknowledge SETs received (`ack`, `setErrs`) and fetch the next
        (`maxEvents`; 0 acknowledges only), waiting for one unless `returnImmediately`."""
        try:
            queue = signals.poll_stream(stream)
        except UnknownStream as exc:
            raise HTTPException(404, detail=str(exc)) from None
        pollers = queue.receiver.pollers
        if pollers and caller.name not in pollers:
            raise HTTPException(403, detail=f"{caller.name} may not poll the stream {stream!r}")
        request = PollRequest(
            max_events=body.maxEvents,
            return_immediately=body.returnImmediately,
            ack=tuple(body.ack),
            set_errs={jti: e.model_dump() for jti, e in body.setErrs.items()},
        )
        return await queue.poll(request)


def server_without_signals(config: Any) -> Any:
    """A uvicorn server over ``config`` that leaves signals to its owner: uvicorn's own
    handlers would stop serving on the first SIGTERM, while the stack still drains through
    it (the workers write the ledger through this interface), then raise it again."""
    import uvicorn

    class QuietServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer(config)


async def serve_http(server: Any, host: str, port: int) -> None:
    """Run the uvicorn ``server``. uvicorn exits the process when it cannot listen (the
    port taken since ``kernel.procs.refuse_taken_port`` looked): here that is a
    ``StackError``, so the stack stops what it started instead of dying with the broker
    and ledger running."""
    try:
        await server.serve()
    except SystemExit:
        raise StackError(
            f"the HTTP interface could not listen on {host}:{port} (see the error above)"
        ) from None
