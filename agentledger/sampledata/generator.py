"""Sessions, records and files: the generator and its public functions."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from agentledger.sampledata.catalog import AGENT_KINDS, DIRECT_WORK, HUMAN_ROLES, AgentKind
from agentledger.sampledata.cloudtrail_records import (
    BOTO_UA,
    CLI_UA,
    api_call,
    assume_saml,
    assume_web_identity,
    assumed_role_identity,
)
from agentledger.sampledata.common import (
    ACCESS_DENIED_RATE,
    DECLARED_SHARE,
    DEFAULT_START,
    DIRECT_SHARE,
    HEADERLESS_REPLY_SHARE,
    MCP_PROTOCOL,
    ORG_DOMAIN,
    RPC_ERROR_RATE,
    TOOL_ERROR_RATE,
    UNBOUND_SESSION_NAME_SHARE,
    SampleRecord,
    SampleSession,
    b64url_json,
    iso_ms,
    random_uuid,
    urlsafe,
)
from agentledger.sampledata.context import draw_context
from agentledger.sampledata.okta_records import aws_sso, session_start, token_grant
from agentledger.sampledata.organisation import NAMED_PEOPLE, directory_for

# The header of the RS256 access tokens the agents present (MCP ``Authorization``).
_JWT_HEADER = b64url_json({"alg": "RS256", "kid": "k1", "typ": "JWT"})

# Live traffic comes from as many people as its rate needs: each starts a task (an agent's or
# their own AWS work) every ten minutes on average, a busy working day's pace. A session logs
# 14.5 records on average (seed 7).
TASK_EVERY_S = 600
RECORDS_PER_SESSION = 14.5


def people_for(pace: float | None) -> int:
    """How many people live traffic of ``pace`` records a second comes from: the twenty of
    the default directory for a backlog (``None``), else enough that a person rarely runs two
    tasks at once (each lasts up to about a minute of event time)."""
    if pace is None:
        return NAMED_PEOPLE
    return max(NAMED_PEOPLE, math.ceil(pace / RECORDS_PER_SESSION * TASK_EVERY_S))


class _Generator:
    """An endless, deterministic stream of sessions for one (seed, start, run_id)."""

    def __init__(
        self, seed: int, start: datetime | None, run_id: str, pace: float | None = None
    ) -> None:
        start = DEFAULT_START if start is None else start
        if pace is not None and pace <= 0:
            raise ValueError("pace must be positive (records a second)")
        self.pace = pace
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        # Not for secrets: sample data must be reproducible from the seed.
        self.rng = random.Random(f"agentledger-sampledata:{seed}:{run_id}")  # noqa: S311
        self.run_id = run_id or f"seed{seed}"
        self.d = directory_for(seed, people_for(pace))
        self.t = int(start.timestamp() * 1000)
        self.tools = {
            kind.agent_id: (
                {t.name: t for t in kind.tools},
                orjson.dumps([t.schema() for t in kind.tools]),
            )
            for kind in AGENT_KINDS
        }
        # Cumulative weights make rng.choices cheap on the hot path.
        total = 0
        self.cum_weights: list[int] = []
        for w in self.d.instance_weights:
            total += w
            self.cum_weights.append(total)

    def sessions(self) -> Iterator[SampleSession]:
        """Sessions about 42 s apart; with ``pace``, as often as ``pace`` records a second
        of event time need (each gap drawn around the records of the session before it)."""
        rng = self.rng
        pace = self.pace
        before = 0  # records of the session before
        while True:
            if pace is None:
                self.t += 2_000 + int(rng.expovariate(1 / 40_000))
            else:
                self.t += round(rng.expovariate(1.0) * before * 1000 / pace)
            if rng.random() < DIRECT_SHARE:
                session = self._direct_session()
            else:
                session = self._agent_session()
            yield session
            before = len(session.records)

    def _agent_session(self, showcase: bool = False) -> SampleSession:
        """An agent's task. ``showcase``: the task logged by three systems without a key
        they all share: a client-credentials token (its subject the agent's own client, so
        no other session holds one like it), MCP replies without headers, and an STS
        exchange under boto3's own session name (``generate_sessions(showcase=True)``)."""
        rng, d = self.rng, self.d
        r = rng.random
        inst = rng.choices(d.instances, cum_weights=self.cum_weights)[0]
        if showcase:
            inst = next(
                i for i in d.instances if any(_reaches_aws(i.kind, t) for t in i.kind.tasks)
            )
        kind = inst.kind
        person = inst.users[int(r() * len(inst.users))]
        task = kind.tasks[int(r() * len(kind.tasks))]
        if showcase:
            task = next(t for t in kind.tasks if _reaches_aws(kind, t))
        ctx = draw_context(rng, d.customers)
        task_text = task.text.format_map(ctx)
        scopes = task.scopes
        jti = "AT." + urlsafe(rng, 24)
        sid = "idx" + urlsafe(rng, 18)
        txn = urlsafe(rng, 18)
        records: list[SampleRecord] = []
        add = records.append
        t = self.t

        # 1. Okta: the person's sign-in (often outside the window), then the token grant.
        if r() < 0.7 and not showcase:
            add(SampleRecord("okta", session_start(rng, t, person, sid, txn)))
            t += 3_000 + int(r() * 20_000)
        grant_t = t
        grant = token_grant(  # a client's own credentials open no IdP session
            rng, t, d, inst, person, "" if showcase else sid, txn, jti, scopes,
            client_credentials=showcase,
        )  # fmt: skip
        add(SampleRecord("okta", grant))
        subject = inst.client_id if showcase else person.user_id

        # 2. MCP: the bearer JWT carries the same jti.
        iat = grant_t // 1000
        claims = {
            "ver": 1,
            "jti": jti,
            "iss": d.issuer,
            "aud": kind.audience,
            "iat": iat,
            "exp": iat + 3600,
            "cid": inst.client_id,
            "client_id": inst.client_id,
            "uid": person.user_id,
            "scp": task.scopes.split(),
            "scope": scopes,
            "auth_time": iat - 30,
            "sub": subject,
            "act": {"sub": f"spiffe://{ORG_DOMAIN}/agents/{kind.agent_id}/{inst.instance}"},
        }
        if showcase:  # no person signed in for the client's own token
            del claims["uid"], claims["auth_time"]
        signature = urlsafe(rng, 255) + "Ag"  # 256 bytes, like an RS256 signature
        bearer = f"Bearer {_JWT_HEADER}.{b64url_json(claims)}.{signature}"
        mcp_session = random_uuid(rng)
        trace = f"{rng.getrandbits(128):032x}"
        server = kind.server
        headerless = r() < HEADERLESS_REPLY_SHARE or showcase
        reply_headers = {} if headerless else {"Mcp-Session-Id": mcp_session}
        unbound_name = r() < UNBOUND_SESSION_NAME_SHARE or showcase

        def request(ts: int, message: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
            traceparent = f"00-{trace}-{rng.getrandbits(64):016x}-01"
            if meta is not None:  # the same span in the header and in params._meta
                meta["traceparent"] = traceparent
            line = {
                "ts": iso_ms(ts),
                "direction": "client_to_server",
                "server": server,
                "headers": {
                    "Mcp-Session-Id": mcp_session,
                    "Authorization": bearer,
                    "traceparent": traceparent,
                },
                "message": message,
            }
            add(SampleRecord("mcp", line))

        def reply(ts: int, message: dict[str, Any]) -> None:
            line = {
                "ts": iso_ms(ts),
                "direction": "server_to_client",
                "server": server,
                "headers": dict(reply_headers),
                "message": message,
            }
            add(SampleRecord("mcp", line))

        t += 300 + int(r() * 1_500)
        request(
            t,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": MCP_PROTOCOL,
                    "capabilities": {},
                    "clientInfo": {"name": kind.agent_id, "version": kind.version},
                },
            },
        )
        t += 40 + int(r() * 200)
        reply(
            t,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "result": {
                    "protocolVersion": MCP_PROTOCOL,
                    "capabilities": {"tools": {"listChanged": False}, "logging": {}},
                    "serverInfo": {"name": server, "version": "1.4.0"},
                },
            },
        )
        t += 10 + int(r() * 60)
        request(t, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        t += 20 + int(r() * 100)
        request(t, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        tools, schemas = self.tools[kind.agent_id]
        t += 20 + int(r() * 120)
        # Records share no objects: a consumer may change one without touching another.
        reply(t, {"jsonrpc": "2.0", "id": 2, "result": {"tools": orjson.loads(schemas)}})

        # 3. tools/call; the server assumes the agent's role before its first AWS call.
        steps = task.core
        if task.extra:
            steps = steps + task.extra[: int(r() * (len(task.extra) + 1))]
        key = ""
        identity: dict[str, Any] = {}
        first_aws = True
        for number, (tool_name, why) in enumerate(steps, start=3):
            tool = tools[tool_name]
            t += 800 + int(r() * 6_000)  # the model thinks
            args = tool.arguments(ctx)
            meta: dict[str, Any] = {
                "traceparent": "",
                "io.modelcontextprotocol/aiInvocation": {
                    "userIntent": {"text": task_text},
                    "invocationReason": {"text": why.format_map(ctx)},
                    "model": {"name": "claude-sonnet-4"},
                    "turnId": f"turn_{rng.getrandbits(64):016x}",
                },
            }
            params = {"name": tool_name, "arguments": args, "_meta": meta}
            message = {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": params}
            request(t, message, meta)
            protected = tool.aws is not None and first_aws
            roll = 1.0 if protected or showcase else r()
            if roll < RPC_ERROR_RATE:
                t += 5 + int(r() * 30)
                message = {
                    "jsonrpc": "2.0",
                    "id": number,
                    "error": {
                        "code": -32602,
                        "message": f"Invalid params: unexpected value for "
                        f"'{next(iter(args))}' in {tool_name}",
                    },
                }
                reply(t, message)
                continue
            is_error = False
            text = ""
            if tool.aws is not None:
                if first_aws:
                    first_aws = False
                    t += 80 + int(r() * 300)
                    # The token's jti as the session name binds the exchange to this
                    # session; boto3's own name binds nothing (linked by inference).
                    name = jti
                    if unbound_name:
                        name = f"botocore-session-{t // 1000}"
                    key, assume = assume_web_identity(rng, t, d, inst, subject, kind.audience, name)
                    add(SampleRecord("cloudtrail", assume))
                    identity = assumed_role_identity(
                        d, inst.role, inst.role_id, name, key, t, web=True
                    )
                t += 30 + int(r() * 250)
                denied = r() < ACCESS_DENIED_RATE
                call = api_call(rng, t, d, identity, inst.server_ip, BOTO_UA, tool.aws, ctx, denied)
                add(SampleRecord("cloudtrail", call))
                if denied:
                    is_error = True
                    text = f"AccessDenied: {call['errorMessage']}"
            if not is_error and roll < RPC_ERROR_RATE + TOOL_ERROR_RATE:
                is_error = True
                text = "Upstream request timed out after 30s"
            t += 40 + int(r() * 500)
            reply(
                t,
                {
                    "jsonrpc": "2.0",
                    "id": number,
                    "result": {
                        "content": [{"type": "text", "text": text or tool.result.format_map(ctx)}],
                        "isError": is_error,
                    },
                },
            )
        label = f"{person.login} / {kind.agent_id}: {task_text}"
        if showcase:
            label = f"{kind.agent_id} (its own client credentials): {task_text}"
        declaration = None
        if r() < DECLARED_SHARE and not showcase:
            declaration = {
                "session_id": f"s-{self.run_id}-{jti[3:19]}",
                "agent": {
                    "id": kind.agent_id,
                    "instance": inst.instance,
                    "version": kind.version,
                    "owner": person.email,
                    "spiffe_id": f"spiffe://{ORG_DOMAIN}/agents/{kind.agent_id}/{inst.instance}",
                },
                "origin": {"type": "human", "principal": person.email, "prompt": task_text},
                "intent": {"text": task_text, "tools": sorted({name for name, _ in task.core})},
                "scopes": scopes.split(),
                "bindings": {"token_jti": jti, "client_id": inst.client_id},
                "declared_at": iso_ms(grant_t - 500),
            }
        return SampleSession(label, jti, records, declaration)

    def _direct_session(self) -> SampleSession:
        rng, d = self.rng, self.d
        r = rng.random
        people = d.people
        person = people[int(r() * len(people))]
        work = DIRECT_WORK[person.department]
        label_template, ops = work[int(r() * len(work))]
        ctx = draw_context(rng, d.customers)
        sid = "idx" + urlsafe(rng, 18)
        txn = urlsafe(rng, 18)
        t = self.t
        records = [SampleRecord("okta", session_start(rng, t, person, sid, txn))]
        add = records.append
        t += 2_000 + int(r() * 15_000)
        if person.iam_key and r() < 0.4:
            # An engineer's long-term access key: an IAM user, no session at all.
            identity: dict[str, Any] = {
                "type": "IAMUser",
                "principalId": person.iam_user_id,
                "arn": f"arn:aws:iam::{d.account}:user/{person.login}",
                "accountId": d.account,
                "accessKeyId": person.iam_key,
                "userName": person.login,
            }
        else:
            add(SampleRecord("okta", aws_sso(rng, t, d, person, sid, txn)))
            t += 1_000 + int(r() * 3_000)
            role = HUMAN_ROLES[person.department]
            role_id = d.human_role_ids[person.department]
            key, assume = assume_saml(rng, t, d, person, role, role_id)
            add(SampleRecord("cloudtrail", assume))
            identity = assumed_role_identity(d, role, role_id, person.email, key, t, web=False)
        for op in ops:
            t += 2_000 + int(r() * 20_000)
            denied = r() < ACCESS_DENIED_RATE
            call = api_call(rng, t, d, identity, person.ip, CLI_UA, op, ctx, denied)
            add(SampleRecord("cloudtrail", call))
        label = f"{person.login} (direct): {label_template.format_map(ctx)}"
        return SampleSession(label, "", records)


# ---------------------------------------------------------------------------------------------
# Public API.


def _reaches_aws(kind: AgentKind, task: Any) -> bool:
    """Whether the task's own steps call AWS (so its MCP server exchanges the token)."""
    tools = {tool.name: tool for tool in kind.tools}
    return any(tools[name].aws is not None for name, _ in task.core)


def generate_sessions(
    count: int,
    *,
    seed: int = 7,
    start: datetime | None = None,
    run_id: str = "",
    showcase: bool = False,
) -> list[SampleSession]:
    """``count`` sessions, deterministic for the same ``seed``, ``start`` and ``run_id``.
    ``showcase``: the first is the three-system task whose only link to its token's
    session is the web identity the STS exchange names (``_Generator._agent_session``)."""
    generator = _Generator(seed, start, run_id)
    first = [generator._agent_session(showcase=True)] if showcase and count else []
    stream = generator.sessions()
    return first + [next(stream) for _ in range(count - len(first))]


def iter_records(
    total_records: int,
    *,
    seed: int = 7,
    start: datetime | None = None,
    run_id: str = "",
    pace: float | None = None,
) -> Iterator[SampleRecord]:
    """Exactly ``total_records`` records, session after session (the last one cut short).

    Sessions begin about 42 s apart, so 200,000 records span about a week of event time: a
    backlog, as files of past logs are. ``pace``: records a second of event time instead, on
    average, as live traffic of that rate spans about as many seconds as it takes to play
    (each session's own records keep their spacing, up to about a minute), from as many people
    as that rate needs (``people_for``), and in time order across sessions, as a live log is
    written: the first ``total_records`` records in time order."""
    remaining = total_records
    if remaining <= 0:
        return
    generator = _Generator(seed, start, run_id, pace)
    if pace is not None:
        yield from islice(_in_time_order(generator), total_records)
        return
    for session in generator.sessions():
        records = session.records
        if len(records) >= remaining:
            yield from records[:remaining]
            return
        yield from records
        remaining -= len(records)


def _in_time_order(generator: _Generator) -> Iterator[SampleRecord]:
    """The generator's records merged across its sessions in event time (then as generated).
    A session starts no earlier than the one before it, and none of its records is more than
    a second (CloudTrail's whole seconds) before its start: what is before that is final."""
    pending: list[tuple[float, int, SampleRecord]] = []
    made = 0
    for session in generator.sessions():
        final = generator.t / 1000 - 1
        while pending and pending[0][0] < final:
            yield heapq.heappop(pending)[2]
        for record in session.records:
            heapq.heappush(pending, (_seconds_of(record), made, record))
            made += 1


def _seconds_of(sample: SampleRecord) -> float:
    return datetime.fromisoformat(_time_of(sample)).timestamp()


def _time_of(sample: SampleRecord) -> str:
    record = sample.record
    return str(record.get("published") or record.get("eventTime") or record.get("ts") or "")


def write_files(sessions: list[SampleSession], directory: Path) -> dict[str, Path]:
    """``okta.jsonl``, ``cloudtrail.json`` (``{"Records": [...]}`` as delivered to S3) and
    ``mcp.jsonl`` in ``directory``, each in time order across sessions; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    by_source: dict[str, list[SampleRecord]] = {"okta": [], "cloudtrail": [], "mcp": []}
    for session in sessions:
        for sample in session.records:
            by_source[sample.source].append(sample)
    for samples in by_source.values():
        samples.sort(key=_time_of)  # stable: ties keep session order
    paths = {
        "okta": directory / "okta.jsonl",
        "cloudtrail": directory / "cloudtrail.json",
        "mcp": directory / "mcp.jsonl",
    }
    for source in ("okta", "mcp"):
        lines = b"".join(orjson.dumps(s.record) + b"\n" for s in by_source[source])
        paths[source].write_bytes(lines)
    trail = {"Records": [s.record for s in by_source["cloudtrail"]]}
    paths["cloudtrail"].write_bytes(orjson.dumps(trail, option=orjson.OPT_INDENT_2))
    return paths
