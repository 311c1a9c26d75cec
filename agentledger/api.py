"""The HTTP API that ``agentledger up`` serves: session declarations and status.

OpenAPI at ``/openapi.json``. A bad request is a 4xx naming the field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from agentledger import __version__
from agentledger.declaration import SessionDeclaration, describe_error


class Declared(BaseModel):
    session_id: str


def build_api(
    publish: Callable[[SessionDeclaration], Awaitable[None]],
    status: Callable[[], dict[str, Any]],
) -> FastAPI:
    app = FastAPI(
        title="Agent Ledger",
        version=__version__,
        description="Declare agent sessions; the ledger attributes what happens in them.",
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
    async def declare_session(declaration: SessionDeclaration) -> Declared:
        """Declare a session; later events carrying one of its bindings join it."""
        await publish(declaration)
        return Declared(session_id=declaration.session_id)

    @app.get("/v1/status")
    async def get_status() -> dict[str, Any]:
        return status()

    return app
