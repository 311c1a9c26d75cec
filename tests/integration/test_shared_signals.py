"""The Shared Signals transmitter end to end: contractions produced to the real broker, read
by the transmitter the stack runs, delivered as signed SETs to a receiver process that finds
the transmitter's keys through its discovery document and verifies every SET with them, by
push (with a refusal and a retry on the way) and by poll; and the ledger outbox it keeps."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentledger.auth import ApiKeys
from enforce.ssf import SESSION_REVOKED, TOKEN_CLAIMS_CHANGE, set_jti
from enforce.ssf_delivery import OutgoingSet
from enforce.ssf_transmitter import LedgerOutbox
from kernel import contraction as codec
from kernel.contraction import Contraction
from kernel.kafka import producer
from kernel.procs import free_port
from kernel.topics import Topics
from ledger import signals
from ledger.chdb_store import ChdbStore
from tests.integration.conftest import RunningStack, make_settings
from tests.polling import wait_for

RECEIVER = Path(__file__).with_name("ssf_receiver.py")
AUDIENCE = "https://idp.example/ssf"
PUSH_AUTHORIZATION = "Bearer receiver-test-token"
T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def contraction(n: int, decision: str, **changes: Any) -> Contraction:
    values: dict[str, Any] = {
        "session_id": f"sess-{n}",
        "agent": "mail-agent/2.0",
        "cause_action_id": f"act-{n}",
        "cause_tool": "send_email",
        "decision": decision,
        "score": 0.93,
        "model_version": "drift-test",
        "event_time": T0 + timedelta(seconds=n),
        "decided_at": T0 + timedelta(seconds=n, milliseconds=40),
        "removed_tools": ("send_email",) if decision == "narrow" else (),
        "remaining_tools": ("read_inbox",) if decision == "narrow" else (),
        "remaining_scopes": ("mail.read",) if decision == "narrow" else (),
        "reasons": ("recipient never named in the intent",),
        "policy_rule": "mail-default",
        "keys": (("jti", f"token-{n}"), ("trace", f"trace-{n}")),
    }
    values.update(changes)
    return Contraction(**values)


async def produce(bootstrap: str, topic: str, contractions: list[Contraction]) -> None:
    client = producer(bootstrap)
    await client.start()
    try:
        for c in contractions:
            await client.send_and_wait(
                topic, codec.encode(c), key=c.session_id.encode(), headers=codec.headers()
            )
    finally:
        await client.stop()


def journal(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


def receiver_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


@contextlib.contextmanager
def push_receiver(
    tmp_path: Path, transmitter: str, port: int
) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A receiver process on ``port``, refusing its first request with a 503."""
    out, ready = tmp_path / "pushed.jsonl", tmp_path / "receiver.ready"
    proc = subprocess.Popen(
        [
            sys.executable, str(RECEIVER), "push", "--transmitter", transmitter,
            "--audience", AUDIENCE, "--out", str(out), "--port", str(port),
            "--ready", str(ready), "--fail-first", "1",
        ],
        env=receiver_env(SSF_RECEIVER_AUTHORIZATION=PUSH_AUTHORIZATION),
    )  # fmt: skip
    try:
        wait_for(ready.exists, timeout=20, what="the receiver to listen")
        yield out, proc
    finally:
        proc.terminate()
        proc.wait(10)


def test_receivers_verify_the_sets_of_contractions_pushed_and_polled(
    tmp_path: Path, chdb_ledger: ChdbStore
) -> None:
    receiver_port = free_port()
    endpoint = f"http://127.0.0.1:{receiver_port}/events"
    settings = make_settings(
        tmp_path,
        ssf_retry_base_s=0.2,
        ssf_poll_wait_s=2.0,
        ssf_receivers=[
            {"name": "idp", "audience": AUDIENCE, "url": endpoint,
             "authorization": PUSH_AUTHORIZATION},
            # The receiver does not answer to this audience: a 400, never tried again.
            {"name": "elsewhere", "audience": "https://elsewhere.example", "url": endpoint,
             "authorization": PUSH_AUTHORIZATION},
            {"name": "broker", "audience": "https://broker.example", "delivery": "poll",
             "pollers": ["key:broker-poller"]},
        ],
    )  # fmt: skip
    store = chdb_ledger.with_database(settings.database)
    running = RunningStack(settings, store, workers=0)
    running.start()
    try:
        api = running.stack.http_url
        with push_receiver(tmp_path, api, receiver_port) as (pushed, receiver):
            check_push_and_poll(running, tmp_path, api, pushed, receiver)
    finally:
        running.stop()


def check_push_and_poll(
    running: RunningStack,
    tmp_path: Path,
    api: str,
    pushed: Path,
    receiver: subprocess.Popen[bytes],
) -> None:
    settings, store = running.settings, running.store
    narrow, revoke, halt = (
        contraction(1, "narrow"),
        contraction(2, "revoke"),
        contraction(3, "halt"),
    )
    topic = Topics(settings.topic_prefix).contractions
    running.call(produce(running.bootstrap, topic, [narrow, revoke]))
    running.call(produce(running.bootstrap, topic, [narrow, halt, revoke]))  # a replay too

    def verified() -> list[dict[str, Any]]:
        return [e for e in journal(pushed) if e.get("answered") == 202]

    got = wait_for(verified, timeout=60, what="3 SETs verified", until=lambda v: len(v) >= 3)
    wait_for(
        lambda: [e for e in journal(pushed) if e.get("answered") == 400],
        timeout=30,
        what="the other audience's 3 refusals",
        until=lambda refused: len(refused) >= 3,
    )
    assert receiver.poll() is None
    expected = {c.contraction_id: c for c in (narrow, revoke, halt)}
    by_txn = {e["claims"]["txn"]: e for e in got}
    assert set(by_txn) == set(expected)
    assert len(got) == 3  # the replayed contractions made no second SET
    jwks = orjson.loads(urllib.request.urlopen(f"{api}/.well-known/jwks.json").read())
    (public,) = jwks["keys"]
    for txn, entry in by_txn.items():
        c = expected[txn]
        header, claims = entry["header"], entry["claims"]
        assert header == {"typ": "secevent+jwt", "alg": "ES256", "kid": public["kid"]}
        assert claims["iss"] == api and claims["aud"] == AUDIENCE
        assert claims["jti"] == set_jti(c.contraction_id, "idp")
        assert claims["sub_id"]["session"] == {"format": "opaque", "id": c.session_id}
        assert claims["sub_id"]["token"] == {"format": "opaque", "id": f"token-{c.session_id[5:]}"}
        (event_type,) = claims["events"]
        event = claims["events"][event_type]
        assert event["initiating_entity"] == "policy"
        if c.decision == "narrow":
            assert event_type == TOKEN_CLAIMS_CHANGE
            assert event["claims"]["scope"] == "mail.read"
            assert event["claims"]["removed_tools"] == ["send_email"]
        else:
            assert event_type == SESSION_REVOKED
    assert {"answered": 503} in journal(pushed)  # the first try failed and was retried

    def states(stream: str) -> dict[str, tuple[str, int, str]]:
        return {
            r["contraction_id"]: (r["state"], int(r["attempts"]), r["last_error"])
            for r in signals.set_rows(store, stream)
        }

    idp = wait_for(
        lambda: states("idp"),
        timeout=20,
        what="idp SETs recorded delivered",
        until=lambda s: {v[0] for v in s.values()} == {"delivered"} and len(s) == 3,
    )
    assert sum(v[1] for v in idp.values()) >= 3
    elsewhere = wait_for(
        lambda: states("elsewhere"),
        timeout=20,
        what="elsewhere SETs recorded failed",
        until=lambda s: {v[0] for v in s.values()} == {"failed"} and len(s) == 3,
    )
    assert all("invalid_audience" in v[2] for v in elsewhere.values())
    assert len([e for e in journal(pushed) if e.get("answered") == 400]) == 3

    # Poll: who may poll, then a real receiver's round trip.
    poll_url = f"{api}/ssf/poll/broker"
    analyst, _ = ApiKeys(settings.data_dir).create("reader", ["analyst"])
    other, _ = ApiKeys(settings.data_dir).create("someone", ["signals"])
    for key, status in ((None, 401), (analyst, 403), (other, 403)):
        request = urllib.request.Request(poll_url, data=b"{}", method="POST")
        request.add_header("Content-Type", "application/json")
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == status
    poller, _ = ApiKeys(settings.data_dir).create("broker-poller", ["signals"])
    polled = tmp_path / "polled.jsonl"
    done = subprocess.run(
        [
            sys.executable, str(RECEIVER), "poll", "--transmitter", api,
            "--audience", "https://broker.example", "--out", str(polled),
            "--poll-url", poll_url, "--expect", "3", "--timeout", "60",
        ],
        env=receiver_env(SSF_POLL_KEY=poller),
        timeout=90,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0
    entries = journal(polled)
    polled_sets = [e for e in entries if e.get("polled")]
    assert {e["claims"]["txn"] for e in polled_sets} == set(expected)
    assert all(e["claims"]["aud"] == "https://broker.example" for e in polled_sets)
    assert entries[-1]["final_reply"] == {"sets": {}, "moreAvailable": False}
    broker = states("broker")
    assert {v[0] for v in broker.values()} == {"acked"} and len(broker) == 3
    status = running.stack.status()["signals"]
    assert status["consumer_alive"] and status["sets_made"] == 9


def test_the_outbox_in_the_ledger_keeps_sets_and_their_latest_state(
    chdb_ledger: ChdbStore,
) -> None:
    store = chdb_ledger.with_database("t_ssf_outbox")
    store.ensure_schema()
    outbox = LedgerOutbox(store)
    now = datetime.now(UTC)
    items = [
        OutgoingSet("idp", f"c{n}", f"j{n}", f"s{n}", "push", f"token.{n}", now) for n in range(3)
    ]

    async def scenario() -> None:
        await outbox.write(items)
        assert await outbox.known("idp", ["c0", "c2", "c9"]) == {"c0", "c2"}
        assert await outbox.known("broker", ["c0"]) == set()
        items[0].state, items[0].attempts = "delivered", 1
        items[1].state, items[1].attempts, items[1].last_error = "pending", 2, "HTTP 503"
        await outbox.write(items[:2])
        reopened = await outbox.open_sets()
        assert [(i.jti, i.attempts, i.last_error, i.token) for i in reopened] == [
            ("j1", 2, "HTTP 503", "token.1"),
            ("j2", 0, "", "token.2"),
        ]
        assert reopened[0].created_at == now.replace(microsecond=now.microsecond)

    asyncio.run(scenario())
    assert signals.state_counts(store) == {"idp": {"delivered": 1, "pending": 2}}
