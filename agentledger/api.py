"""The HTTP API that ``agentledger up`` serves: session declarations and status.

OpenAPI at ``/openapi.json``. Every operation asks who is calling (``agentledger.auth``):
no credential is a 401, a credential without the role a 403. A bad request is a 4xx naming
the field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from agentledger import __version__
from agentledger.auth import Authenticator, AuthError, Caller
from kernel.declaration import SessionDeclaration, describe_error


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


class Declared(BaseModel):
    session_id: str
    declared_by: str


def build_api(
    publish: Callable[[SessionDeclaration], Awaitable[None]],
    status: Callable[[], dict[str, Any]],
    authenticator: Authenticator,
) -> FastAPI:
    app = FastAPI(
        title="Agent Ledger",
        version=__version__,
        description="Declare agent sessions; the ledger attributes what happens in them. "
        "Send `Authorization: Bearer <API key or JWT>`.",
    )
    app.state.authenticator = authenticator

    @app.exception_handler(HTTPException)
    async def _refused(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status_code, content={"error": exc.detail}, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            field, reason = describe_error(error.get("loc", ()), str(error.get("msg", "")))
            problems.append({"field": field, "reason": reason})
        first = problems[0] if problems else {"field": "", "reason": "invalid request"}
        return JSONResponse(
            status_code=422,
            content={"error": f"{first['field']}: {first['reason']}", "problems": problems},
        )

    @app.post("/v1/sessions", status_code=201, response_model=Declared)
    async def declare_session(declaration: SessionDeclaration, caller: Declarer) -> Declared:
        """Declare a session; later events carrying one of its bindings join it."""
        declaration.declared_by = caller.name
        await publish(declaration)
        return Declared(session_id=declaration.session_id, declared_by=caller.name)

    @app.get("/v1/status")
    async def get_status(_: Analyst) -> dict[str, Any]:
        return status()

    return app
