"""Envoy access-log parser, on Elastic's Envoy test log and hand-built JSON access logs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.envoy import EnvoyAccessLogSource, parse_text_line
from ingest.framing import Framed, Unframed, frame_lines
from kernel.errors import RecordError
from kernel.events import (
    API_CALL,
    FAILURE,
    KEY_JTI,
    KEY_TOKEN_FP,
    KEY_TRACE,
    KEY_TXN,
    SUCCESS,
    UNKNOWN,
    Event,
    canonical_json,
    event_id_for,
)
from kernel.tokens import fingerprint
from tests.jwt import unsigned_jwt

ELASTIC_LOG = "api_gateway_envoy/elastic-integrations/envoyproxy-test-log.log"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def parse(record: Any, position: str = "test:1") -> Event:
    [event] = EnvoyAccessLogSource().parse(record, position=position, raw=canonical_json(record))
    assert event.source == "envoy" and event.kind == API_CALL
    assert event.event_time.tzinfo is UTC
    return event


def test_elastic_sample(real_data: Path) -> None:
    """Five bare default-format lines (one with Ambassador's ACCESS prefix), then two inside
    Kubernetes container-log JSON: only those two can reach ``parse`` through framing."""
    lines = (real_data / ELASTIC_LOG).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 7
    events = [parse(parse_text_line(line), f"log:{n}") for n, line in enumerate(lines[:5], 1)]
    framed = [f for f in frame_lines(EnvoyAccessLogSource(), lines[5:], "k8s.log")]
    assert all(isinstance(f, Framed) for f in framed)
    for item in framed:
        assert isinstance(item, Framed)
        [event] = EnvoyAccessLogSource().parse(item.record, position=item.position, raw=item.raw)
        assert event.raw == item.raw and event.event_id == event_id_for("envoy", item.raw)
        events.append(event)

    summary = [
        (e.event_time, e.operation, e.service, e.resource, e.outcome, e.outcome_detail)
        for e in events
    ]
    assert summary == [
        (
            datetime(2019, 4, 8, 16, 50, 12, 533000, UTC),
            "connection",
            None,
            None,
            UNKNOWN,
            None,
        ),
        (
            datetime(2019, 4, 8, 16, 16, 55, 931000, UTC),
            "GET /service/1",
            "localhost:8000",
            "/service/1",
            SUCCESS,
            None,
        ),
        (
            datetime(2019, 4, 11, 0, 31, 55, 439000, UTC),
            "GET /elastic",
            "192.168.99.107:30901",
            "/elastic",
            FAILURE,
            "404 NR",
        ),
        (
            datetime(2019, 4, 11, 0, 51, 7, 980000, UTC),
            "GET /elastic/",
            "www.elastic.co",
            "/elastic/",
            SUCCESS,
            None,
        ),
        (
            datetime(2024, 4, 25, 17, 51, 55, 294000, UTC),
            "GET /backend/",
            "localhost:9001",
            "/backend/",
            SUCCESS,
            None,
        ),
        (
            datetime(2019, 4, 10, 3, 49, 34, 451000, UTC),
            "GET /httpbin/status/501",
            "httpbin.org",
            "/httpbin/status/501",
            FAILURE,
            "501",
        ),
        (
            datetime(2019, 4, 6, 6, 20, 5, 972000, UTC),
            "connection",
            None,
            None,
            FAILURE,
            "0 UF,URX",
        ),
    ]
    # The request id (%REQ(X-REQUEST-ID)%) is the source id; a TCP connection has none.
    assert [e.source_id for e in events] == [
        "",
        "c219f6da-2b7f-483e-9ced-ec323d9330a9",
        "58436667-bf70-4fd0-9fe9-cdadadecfd55",
        "078d1daa-b786-4d6d-85a5-7e4366adaa19",
        "b7ba9b4c-f4b7-47c2-9718-c23aa1465f49",
        "413bf460-bd56-4515-ada4-2a69c5e78e54",
        "",
    ]
    assert [e.attributes["log_format"] for e in events] == ["json"] * 5 + ["text"] * 2
    assert all(e.keys == [] and e.principal is None for e in events)
    assert events[1].attributes == {
        "log_format": "json",  # parse_text_line's dict: the shape the JSON formatter writes
        "protocol": "HTTP/1.1",
        "response_code": "200",
        "bytes_received": "0",
        "bytes_sent": "89",
        "duration_ms": "5",
        "upstream_service_time_ms": "4",
        "user_agent": "curl/7.54.0",
        "upstream_host": "172.27.0.3:80",
    }
    assert events[5].attributes["forwarded_for"] == "172.17.0.3"


def test_text_line_fields() -> None:
    line = (
        '[2024-04-25T17:51:55.294Z] "POST /v1/tools?x=1 HTTP/2" 503 UF,URX 12 0 30 - '
        '"10.0.0.1, 10.0.0.2" "agent/1.0 (\\"quoted\\")" "rid-1" "api.example.com" "-"\n'
    )
    assert parse_text_line(line) == {
        "start_time": "2024-04-25T17:51:55.294Z",
        "method": "POST",
        "path": "/v1/tools?x=1",
        "protocol": "HTTP/2",
        "response_code": 503,
        "response_flags": "UF,URX",
        "bytes_received": 12,
        "bytes_sent": 0,
        "duration": 30,
        "x_forwarded_for": "10.0.0.1, 10.0.0.2",
        "user_agent": 'agent/1.0 (\\"quoted\\")',
        "request_id": "rid-1",
        "authority": "api.example.com",
    }


def access_log(**overrides: Any) -> dict[str, Any]:
    """A typed JSON access log entry with the commonly configured keys."""
    entry: dict[str, Any] = {
        "start_time": "2026-03-04T05:06:07.123Z",
        "method": "POST",
        "path": "/v1/accounts/ACME?fields=tier",
        "protocol": "HTTP/1.1",
        "response_code": 200,
        "response_flags": "-",
        "response_code_details": "via_upstream",
        "bytes_received": 154,
        "bytes_sent": 2210,
        "duration": 37,
        "upstream_service_time": "35",
        "x_forwarded_for": "203.0.113.9",
        "user_agent": "crm-agent/2.3.1",
        "request_id": "9b1c0e52-3f0e-4a7c-9d55-0b3a8e1e2f10",
        "authority": "crm.internal.example.com",
        "upstream_host": "10.4.2.17:8080",
        "upstream_cluster": "outbound|8080||crm.default.svc.cluster.local",
        "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
    }
    entry.update(overrides)
    return entry


def test_json_line_with_bearer_token_through_framing() -> None:
    claims = {
        "iss": "https://idp.example.com",
        "sub": "alice@example.com",
        "jti": "jti-5f2c",
        "client_id": "crm-agent-client",
        "scope": "crm.read crm.write",
        "txn": "txn-77",
        "act": {"sub": "agent-instance-9"},
    }
    token = unsigned_jwt(claims)
    line = orjson.dumps(access_log(authorization=f"Bearer {token}")).decode()
    [framed] = frame_lines(EnvoyAccessLogSource(), [line], "access.log")
    assert isinstance(framed, Framed)
    assert token not in framed.raw
    assert token.split(".")[1] not in framed.raw  # nor its payload alone
    [event] = EnvoyAccessLogSource().parse(framed.record, position=framed.position, raw=framed.raw)
    assert event.raw == framed.raw and event.position == "access.log:1"
    assert event.event_time == datetime(2026, 3, 4, 5, 6, 7, 123000, UTC)
    assert (event.operation, event.resource) == ("POST /v1/accounts/ACME", "/v1/accounts/ACME")
    assert event.service == "crm.internal.example.com"
    assert (event.outcome, event.outcome_detail) == (SUCCESS, None)
    assert event.keys == [
        (KEY_TRACE, TRACE_ID),
        (KEY_JTI, "jti-5f2c"),
        (KEY_TOKEN_FP, fingerprint(token)),
        (KEY_TXN, "txn-77"),
    ]
    assert (event.principal, event.client_id, event.agent_instance) == (
        "alice@example.com",
        "crm-agent-client",
        "agent-instance-9",
    )
    assert event.scopes == ["crm.read", "crm.write"]
    assert event.source_id == "9b1c0e52-3f0e-4a7c-9d55-0b3a8e1e2f10"  # request_id
    assert event.attributes == {
        "act_chain": '["agent-instance-9"]',
        "token_issuer": "idp.example.com",  # whose token, for a later exchange of it
        "token_subject": "alice@example.com",
        "log_format": "json",
        "protocol": "HTTP/1.1",
        "response_code": "200",
        "response_code_details": "via_upstream",
        "bytes_received": "154",
        "bytes_sent": "2210",
        "duration_ms": "37",
        "upstream_service_time_ms": "35",
        "forwarded_for": "203.0.113.9",
        "user_agent": "crm-agent/2.3.1",
        "upstream_host": "10.4.2.17:8080",
        "upstream_cluster": "outbound|8080||crm.default.svc.cluster.local",
    }


def test_opaque_token_and_denied_request() -> None:
    line = orjson.dumps(
        access_log(
            authorization="Bearer opaque-token-value",
            response_code="403",  # untyped json_format writes every value as a string
            response_flags="UAEX",
            response_code_details="ext_authz_denied",
        )
    ).decode()
    [framed] = frame_lines(EnvoyAccessLogSource(), [line], "access.log")
    assert isinstance(framed, Framed) and "opaque-token-value" not in framed.raw
    [event] = EnvoyAccessLogSource().parse(framed.record, position=framed.position, raw=framed.raw)
    assert event.keys == [
        (KEY_TRACE, TRACE_ID),
        (KEY_TOKEN_FP, fingerprint("opaque-token-value")),
    ]
    assert (event.outcome, event.outcome_detail) == (FAILURE, "403 UAEX ext_authz_denied")
    assert event.principal is None and event.scopes == []


@pytest.mark.parametrize(
    ("headers", "trace"),
    [
        ({"x-b3-traceid": TRACE_ID}, TRACE_ID),
        ({"x-b3-traceid": "a3ce929d0e0e4736"}, "0" * 16 + "a3ce929d0e0e4736"),  # 64-bit B3
        ({"b3": f"{TRACE_ID}-00f067aa0ba902b7-1"}, TRACE_ID),
        ({"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"}, None),
        ({"traceparent": "00-a3ce929d0e0e4736-00f067aa0ba902b7-01"}, None),
        ({"traceparent": "-"}, None),
        ({"x-b3-traceid": "not-hex-at-all-not-hex-at-all-00"}, None),
    ],
)
def test_trace_ids(headers: dict[str, str], trace: str | None) -> None:
    entry = access_log(**headers)
    if "traceparent" not in headers:
        del entry["traceparent"]
    event = parse(entry)
    assert event.keys == ([(KEY_TRACE, trace)] if trace else [])


@pytest.mark.parametrize(
    ("code", "flags", "outcome", "detail"),
    [
        (101, "-", SUCCESS, None),
        (399, "-", SUCCESS, None),
        (400, "-", FAILURE, "400 via_upstream"),
        (429, "RL", FAILURE, "429 RL via_upstream"),
        (0, "-", UNKNOWN, None),
        (0, "DC", FAILURE, "0 DC via_upstream"),
    ],
)
def test_outcome_by_response_code(code: int, flags: str, outcome: str, detail: str | None) -> None:
    event = parse(access_log(response_code=code, response_flags=flags))
    assert (event.outcome, event.outcome_detail) == (outcome, detail)


@pytest.mark.parametrize(
    ("record", "field_name"),
    [
        ({k: v for k, v in access_log().items() if k != "start_time"}, "start_time"),
        (access_log(start_time="yesterday"), "start_time"),
        ({k: v for k, v in access_log().items() if k != "response_code"}, "response_code"),
        (access_log(response_code="OK"), "response_code"),
        (access_log(response_code=True), "response_code"),
        ({"message": "GET / 200", "stream": "stdout"}, "message"),
        (
            {"message": '[not a time] "GET / HTTP/1.1" 200 - 0 0 1 - "-" "-" "-" "-" "-"'},
            "start_time",
        ),
    ],
)
def test_bad_record_names_the_field(record: dict[str, Any], field_name: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse(record)
    assert caught.value.field == field_name


def test_bad_text_line_names_the_field() -> None:
    with pytest.raises(RecordError) as caught:
        parse_text_line("2019-04-08 GET /service/1 200")
    assert caught.value.field == "message"


def test_the_whole_real_file_frames_text_and_json_lines(real_data: Path) -> None:
    """Bare default-format text lines and container-wrapped ones, in one file: every line
    frames (the text ones through ``frame_text``) and parses."""
    source = EnvoyAccessLogSource()
    with (real_data / ELASTIC_LOG).open(encoding="utf-8") as lines:
        items = list(frame_lines(source, lines, "envoy.log"))
    framed = [i for i in items if isinstance(i, Framed)]
    assert [i.error.position for i in items if isinstance(i, Unframed)] == []
    assert len(framed) == 7
    events = [e for f in framed for e in source.parse(f.record, position=f.position, raw=f.raw)]
    assert len(events) == 7
    assert {e.attributes["log_format"] for e in events} == {"text"}


def _parsed_with(claims: dict[str, Any]) -> Any:
    line = orjson.dumps(access_log(authorization=f"Bearer {unsigned_jwt(claims)}")).decode()
    [framed] = frame_lines(EnvoyAccessLogSource(), [line], "access.log")
    assert isinstance(framed, Framed)
    [event] = EnvoyAccessLogSource().parse(framed.record, position=framed.position, raw=framed.raw)
    return event


def test_a_token_exchange_chain_names_every_actor_outermost_first() -> None:
    event = _parsed_with(
        {
            "sub": "bob@example.com",
            "jti": "jti-x",
            "act": {"sub": "crm-worker-3", "act": {"sub": "orchestrator-1", "act": {}}},
        }
    )
    assert event.agent_instance == "crm-worker-3"  # RFC 8693: the outermost acts now
    assert orjson.loads(event.attributes["act_chain"]) == ["crm-worker-3", "orchestrator-1"]
    assert event.principal == "bob@example.com"


def test_a_transaction_token_states_its_purpose_as_intent() -> None:
    event = _parsed_with(
        {
            "sub": "alice@example.com",
            "txn": "97053963-771d-49cc-a4e3-20aad399c312",
            "scope": "update_shipping_address",
            "req_wl": "spiffe://example.com/gateway",
            "tctx": {"customer": "globex"},
        }
    )
    assert event.intent == 'update_shipping_address; context {"customer":"globex"}'
    assert event.attributes["intent_source"] == "txn_token"
    assert event.attributes["requesting_workload"] == "spiffe://example.com/gateway"


def test_an_access_token_with_a_txn_claim_is_not_a_transaction_token() -> None:
    event = _parsed_with({"sub": "alice@example.com", "txn": "t-1", "scope": "crm.read"})
    assert event.intent is None and "intent_source" not in event.attributes


@pytest.mark.parametrize("key", ["request_id", "x-request-id", "x_request_id"])
def test_the_request_id_is_the_source_id_under_each_usual_key(key: str) -> None:
    entry = access_log()
    request_id = entry.pop("request_id")
    assert parse(entry).source_id == ""  # no request id logged: none is made up
    assert parse({**entry, key: request_id}).source_id == request_id
    assert parse({**entry, key: "-"}).source_id == ""  # Envoy's "no value"


@pytest.mark.parametrize("code", ["0" * 10_000, "²00", "2000", "", 1000, -1])
def test_a_status_that_is_no_status_is_a_bad_field(code: object) -> None:
    with pytest.raises(RecordError) as caught:
        parse(access_log(response_code=code))
    assert caught.value.field == "response_code"
