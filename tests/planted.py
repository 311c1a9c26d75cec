"""Secrets to plant in records: many shapes, many positions, each with tells that no stored
byte may contain. Shared by the framing property test and the whole-stack secret scan."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson

from agentledger.sampledata import iter_records
from ingest.base import Source
from ingest.envoy import parse_text_line
from ingest.framing import Framed, frame_lines
from ingest.registry import SOURCES, get_source
from kernel.errors import RecordError
from kernel.events import canonical_json
from kernel.tokens import word_list
from tests.jwt import basic_credentials, unsigned_jwt
from tests.unit.test_otel import agent_run

VALID_FP = "hmac-sha256:" + "0f" * 32


@dataclass(frozen=True)
class Planted:
    secret: str  # as presented in a header or field
    tells: tuple[str, ...]  # parts of it no stored byte may contain
    scheme: str | None = None  # the auth scheme it is presented with ("Bearer")
    shaped: bool = False  # recognisable by its shape alone, in free text


def core_of(raw: bytes) -> str:
    """40 characters of letters and digits, unique to the 25 bytes given."""
    return "q" + base64.b32encode(raw).decode()[:39]


def jwt_secret(core: str) -> Planted:
    claims = {"sub": "agent-7", "jti": "jti-" + core[:6], "scope": "read"}
    token = unsigned_jwt(claims, header={"alg": "RS256"}, signature=core)
    return Planted(token, (core,), "Bearer", True)


def _prefixed(prefix: str, length: int = 36) -> Callable[[str], Planted]:
    def shape(core: str) -> Planted:
        return Planted(prefix + core[:length], (core[:length],), None, True)

    return shape


def _pem(core: str) -> Planted:
    body = f"MIIEowIBAAKCAQEA{core}\n{core[::-1]}AB=="
    pem = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    return Planted(pem, (core, core[::-1]), None, True)


def _basic(core: str) -> Planted:
    encoded = basic_credentials("svc-user", core[:24])
    return Planted(encoded, (encoded, core[:24]), "Basic")


SHAPES: dict[str, Callable[[str], Planted]] = {
    "jwt": jwt_secret,
    "opaque": lambda core: Planted(core, (core,), "Bearer"),
    "okta_ssws": lambda core: Planted("00" + core, (core,), "SSWS"),
    "github": _prefixed("ghp_"),
    "github_pat": _prefixed("github_pat_11ABCDE_"),
    "slack": _prefixed("xoxb-1234567890-"),
    "openai": _prefixed("sk-proj-"),
    "anthropic": _prefixed("sk-ant-api03-"),
    "stripe": _prefixed("sk_live_", 30),
    "google": _prefixed("AIza", 35),
    "gitlab": _prefixed("glpat-", 26),
    "npm": _prefixed("npm_"),
    "pypi": lambda core: Planted("pypi-AgEIcHlwaS5vcmc" + core, (core,), None, True),
    "huggingface": _prefixed("hf_", 34),
    "sendgrid": lambda core: Planted(
        f"SG.{core[:22]}.{core[4:]}", (core[:22], core[4:]), None, True
    ),
    "pem": _pem,
    "basic": _basic,
    "password": lambda core: Planted(f"Pw{core[:24]}!", (core[:24],)),
    "aws_secret": lambda core: Planted(core[:36] + "/+Ab", (core[:36],)),
    "azure_key": lambda core: Planted(f"{core}{core[::-1]}+/8==", (core, core[::-1])),
    "entra": lambda core: Planted(f"{core[1:4]}8Q~{core[4:38]}", (core[4:38],), None, True),
    "aws_pair": lambda core: Planted(f"AKIA{core[1:17]} {core[:36]}/+Ab", (core[:36],), None, True),
    "aws_sts": lambda core: Planted("IQoJb3JpZ2luX2Vj" + core + core, (core,), None, True),
    "vault": _prefixed("hvs.CAESI", 30),
}
KEY_SPELLINGS = word_list(
    "password passwd Password PASSWORD db_password passphrase client_secret clientSecret "
    "CLIENT-SECRET secret webhook_secret token access_token refresh_token id_token sessionToken "
    "x-auth-token X-Auth-Token api-key apiKey API_KEY x-api-key private_key privateKey "
    "client_assertion aws_secret_access_key secretAccessKey AccountKey SharedAccessKey "
    "authorization Proxy-Authorization cookie credential pin otp signing_key subscription-key "
    "Ocp-Apim-Subscription-Key connection_string x-functions-key auth bearer"
)
TEXT_KEYS = [k for k in KEY_SPELLINGS if k.lower() not in ("cookie", "bearer")]
QUERY_PARAMS = word_list(
    "access_token token api_key apikey key sig X-Amz-Signature X-Amz-Security-Token password "
    "client_secret code signature id_token refresh_token"
)


def header(planted: Planted, rng: random.Random) -> tuple[str, str]:
    if planted.scheme:
        name = rng.choice(["Authorization", "authorization", "Proxy-Authorization"])
        return name, f"{planted.scheme} {planted.secret}"
    name = rng.choice(["X-Api-Key", "x-auth-token", "Cookie", "api-key", "X-Amz-Security-Token"])
    return name, (f"theme=dark; session={planted.secret}" if name == "Cookie" else planted.secret)


def _one_word(planted: Planted, also: str = "") -> bool:
    return not any(c in planted.secret for c in " \n;" + also)


def _position(name: str, planted: Planted, rng: random.Random) -> Any:
    key = rng.choice(KEY_SPELLINGS)
    head, value = header(planted, rng)
    if name == "header":
        return {"headers": {"Accept": "*/*", head: value}}
    if name == "header_pairs":
        return {"headers": [["Accept", "*/*"], [head, value]]}
    if name == "name_value":
        pairs = [{"name": head, "value": value}, {"Key": head, "Value": value}]
        return {"headers": [rng.choice([*pairs, {"header": head, "values": [value]}])]}
    if name == "otlp":
        attribute = {"key": f"http.request.header.{head.lower()}", "value": {"stringValue": value}}
        return {"attributes": [{"key": "http.route", "value": {"stringValue": "/v1"}}, attribute]}
    if name == "free_text" and (planted.shaped or planted.scheme):
        shown = f"{planted.scheme} {planted.secret}" if planted.scheme else planted.secret
        return {"content": [{"type": "text", "text": f"Calling with {shown} now; done."}]}
    if name == "url_query" and _one_word(planted, "/@#&?"):
        param = rng.choice(QUERY_PARAMS)
        return {"url": f"https://api.example.com/v1/items?page=2&{param}={planted.secret}&x=1"}
    if name == "url_userinfo" and _one_word(planted, "/@#&?"):
        return {"dsn": f"postgres://app:{planted.secret}@db.internal:5432/ledger"}
    if name == "premarked":
        marked = {"redacted": True, "fingerprint": VALID_FP}
        hide = rng.choice(["sha256", "fingerprint", "note", "claims", "scheme"])
        return {
            "details": {
                **marked,
                hide: {key: planted.secret} if hide == "claims" else planted.secret,
            }
        }
    if name == "json_string":  # any other position, as JSON inside a string
        inner = _position(rng.choice([p for p in POSITIONS if p != name]), planted, rng)
        return {"arguments": orjson.dumps({"user": "bob", **inner}).decode()}
    if name == "kv_text" and _one_word(planted):
        k, v = rng.choice(TEXT_KEYS), planted.secret
        return {
            "message": rng.choice([f"retry, {k}={v} now", f"{k}: {v}", f'got {{"{k}": "{v}"}}'])
        }
    if name == "conn_string" and _one_word(planted):
        return {"conn": f"AccountName=acct;AccountKey={planted.secret};EndpointSuffix=core.net"}
    return {"params": {"arguments": {"config": {key: planted.secret}}}}


POSITIONS = word_list(
    "header header_pairs name_value otlp field free_text url_query url_userinfo premarked "
    "json_string kv_text conn_string"
)


def plant(record: Any, planted: Planted, position: str, rng: random.Random) -> None:
    """Put ``planted`` at ``position`` under a new key of a dict somewhere in ``record``."""
    node = rng.choice(list(_dicts(record)))
    node[f"x_ctx_{rng.randrange(10**6)}"] = _position(position, planted, rng)
    headers = record.get("headers") if isinstance(record, dict) else None
    if isinstance(headers, dict) and position == "header":  # an MCP capture's own headers
        name, value = header(planted, rng)
        if name.lower() not in {str(k).lower() for k in headers}:
            headers[name] = value
    path = record.get("path") if isinstance(record, dict) else None
    if isinstance(path, str) and "?" not in path and _one_word(planted, "/@#&?"):
        record["path"] += f"?{rng.choice(QUERY_PARAMS)}={planted.secret}"  # a gateway's path


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
    for item in value.values() if isinstance(value, dict) else value:
        if isinstance(item, dict | list):
            yield from _dicts(item)


def found_tells(text: str, planted: list[Planted]) -> list[str]:
    """The secrets of ``planted``, or their plain SHA-256 hex, that ``text`` still holds."""
    shown = {t for p in planted for t in (p.secret, *p.tells)}
    tells = {t for p in planted for t in p.tells} | {sha256(t.encode()).hexdigest() for t in shown}
    return [t for t in tells if t in text]


# -- base records: real samples of every source, and generated captures ----------------------

SAMPLES = {
    "okta": "okta/panther-analysis/test_scenarios__okta-add-administrator__legit_login.jsonl",
    "cloudtrail": "aws_cloudtrail/stratus-red-team/aws.persistence.sts-federation-token.json",
    "mcp": "mcp/server-logs/hov172_SimpleMDM-MCP__mcp.log",
    "entra": "entra_id/elastic-integrations/test-signinlogs-raw.log",
    "github": "github_audit/panther-analysis/GitHub.Audit.rule-tests.jsonl",
    "envoy": "api_gateway_envoy/elastic-integrations/envoyproxy-test-log.log",
}


def base_records(real_data: Path, per_source: int = 6) -> dict[str, list[Any]]:
    """Records of every source that parse, as decoded JSON (Envoy's text lines as JSON)."""
    bases: dict[str, list[Any]] = {}
    for name, sample in SAMPLES.items():
        source = get_source(name)
        with (real_data / sample).open(encoding="utf-8") as lines:
            for item in frame_lines(source, lines, sample):
                if isinstance(item, Framed) and len(bases.get(name, [])) < per_source:
                    record = orjson.loads(item.raw)
                    if name == "envoy":
                        record = parse_text_line(record["message"])
                    if link_keys(source, record) is not None:
                        bases.setdefault(name, []).append(record)
    # OTLP exports of an agent run whose messages are the semantic conventions' examples.
    messages = sorted((real_data / "otel_genai/semconv-examples").glob("*.json"))
    bases["otel"] = [agent_run(m.read_text(encoding="utf-8")) for m in messages[:per_source]]
    for generated in iter_records(60, run_id="redact-test"):
        if len(bases[generated.source]) < per_source * 2:
            bases[generated.source].append(generated.record)
    assert set(bases) == set(SOURCES)
    return bases


def link_keys(source: Source, record: Any) -> set[tuple[str, str]] | None:
    try:
        events = source.parse(record, position="t:1", raw=canonical_json(record))
    except RecordError:
        return None
    return {key for event in events for key in event.keys}
