"""Shared pieces of the sample generator: the record types, clocks and id makers."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

# A fixed recent instant, so that output depends only on the arguments.
DEFAULT_START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DIRECT_SHARE = 0.10  # sessions where a person acts without an agent
# agent sessions whose MCP capture logs no headers on the server's replies (a stdio server,
# or a proxy that logs request headers only): results pair with requests by server and id
HEADERLESS_REPLY_SHARE = 0.25
# agent sessions whose MCP server exchanges the token at STS under a session name of its own
# (boto3's "botocore-session-<epoch>"), not the token's jti: CloudTrail then names only the
# web identity, and the exchange is linked by inference (``processors.federation``)
UNBOUND_SESSION_NAME_SHARE = 0.5
DECLARED_SHARE = 0.40  # agent sessions whose client declares them (intent: the task's core tools)
TOOL_ERROR_RATE = 0.05  # tools/call results with isError true
RPC_ERROR_RATE = 0.02  # tools/call answered with a JSON-RPC error
ACCESS_DENIED_RATE = 0.03  # AWS API calls refused

ORG_DOMAIN = "acme.example"
OKTA_HOST = "acme.okta.com"
MCP_PROTOCOL = "2025-11-25"
REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class SampleRecord:
    source: str  # "okta" | "cloudtrail" | "mcp"
    record: dict[str, Any]  # the raw record exactly as that source writes it


@dataclass(frozen=True, slots=True)
class SampleSession:
    session_label: str  # e.g. "alice / support-agent: Update the shipping address of ..."
    jti: str  # the access token id linking the chain; "" for a person acting directly
    records: list[SampleRecord]  # in time order
    # What the agent's client declared at the start (POST /v1/sessions), if it did: the
    # task's core tools only, so the steps an agent adds on its own fall outside it.
    declaration: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------------
# Time: integer milliseconds since the epoch, formatted without datetime on the hot path.

_DAY_MS = 86_400_000
_day_prefix: dict[int, str] = {}


def _prefix(day: int) -> str:
    prefix = _day_prefix.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")
        _day_prefix[day] = prefix
    return prefix


def iso_ms(ms: int) -> str:
    """``2026-11-20T10:00:01.123Z`` (Okta, MCP capture)."""
    day, rem = divmod(ms, _DAY_MS)
    sec, milli = divmod(rem, 1000)
    hour, sec = divmod(sec, 3600)
    minute, sec = divmod(sec, 60)
    return f"{_prefix(day)}{hour:02d}:{minute:02d}:{sec:02d}.{milli:03d}Z"


def iso_s(ms: int) -> str:
    """``2026-11-20T10:00:01Z`` (CloudTrail writes whole seconds)."""
    day, rem = divmod(ms, _DAY_MS)
    sec = rem // 1000
    hour, sec = divmod(sec, 3600)
    minute, sec = divmod(sec, 60)
    return f"{_prefix(day)}{hour:02d}:{minute:02d}:{sec:02d}Z"


# ---------------------------------------------------------------------------------------------
# Ids.

_VARIANT = "89ab"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def random_uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[rng.getrandbits(2)]}{h[17:20]}-{h[20:]}"


def urlsafe(rng: random.Random, nbytes: int) -> str:
    """``4 * nbytes / 3`` base64url characters (``nbytes`` a multiple of 3: no padding)."""
    return base64.urlsafe_b64encode(rng.randbytes(nbytes)).decode()


def upper16(rng: random.Random) -> str:
    return base64.b32encode(rng.randbytes(10)).decode()


def b64url_json(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()


def okta_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choices(ALNUM, k=17))
