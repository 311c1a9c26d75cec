"""Raw topics: the ``--raw-topic SOURCE=TOPIC`` setting, and a Kafka message framed and parsed
into the records, events and dead letters that ``ingest`` makes of the same text."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
import pytest

from ingest.base import Source
from ingest.cloudtrail import CloudTrailSource
from ingest.envoy import EnvoyAccessLogSource
from ingest.framing import Framed, Unframed, frame_lines, frame_message
from ingest.normalizer import (
    ORIGIN_HEADER,
    ORIGIN_KEY_HEADER,
    NormalizerStats,
    TopicCounts,
    parse_message,
    raw_sources,
)
from ingest.okta import OktaSource
from ingest.otel import OtelTraceSource
from ingest.pipeline import IngestReport, Parsed, parse_all
from kernel.config import RawTopic, load_settings, parse_raw_topic
from kernel.errors import ConfigError
from kernel.events import Event
from kernel.tokens import fingerprint
from tests.jwt import unsigned_jwt
from tests.unit.test_otel import agent_run

FIX = "; set them as options or AGENTLEDGER_* variables"
TOKEN = unsigned_jwt({"sub": "00u1", "jti": "AT.raw-topic-1"})
OKTA = {
    "uuid": "f1b2c3d4-raw-topic",
    "published": "2024-08-01T12:00:00.000Z",
    "eventType": "user.session.start",
    "actor": {"id": "00u1", "type": "User", "alternateId": "sam@acme.example"},
    "outcome": {"result": "SUCCESS"},
    "authenticationContext": {"externalSessionId": "idx-raw-1"},
}
TRAIL = {
    "eventTime": "2024-08-01T12:00:00Z",
    "eventName": "GetCallerIdentity",
    "eventSource": "sts.amazonaws.com",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/sam"},
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AGENTLEDGER_"):
            monkeypatch.delenv(name)


@dataclass
class Message:
    """A consumed Kafka message as the normalizer reads it."""

    value: bytes | None
    key: bytes | None = None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    topic: str = "okta-logs"
    partition: int = 1
    offset: int = 17


def framed(source: Source, value: bytes, name: str = "okta-logs/1/17") -> list[Any]:
    return list(frame_message(source, value, name))


def positions(items: list[Any]) -> list[str]:
    return [i.position if isinstance(i, Framed) else f"!{i.error.position}" for i in items]


def event_ids(items: list[Parsed | dict[str, Any]]) -> list[str]:
    return [e.event_id for i in items if isinstance(i, Parsed) for e in i.events]


# -- the setting ----------------------------------------------------------------------------


def test_raw_topics_come_as_options_or_as_one_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    given = load_settings(raw_topics=["okta=okta-logs", " cloudtrail = ct-raw "]).raw_topics
    assert given == [RawTopic("okta", "okta-logs"), RawTopic("cloudtrail", "ct-raw")]
    # Event Hubs keeps sign-ins and audit logs in two hubs: one source, two topics.
    monkeypatch.setenv("AGENTLEDGER_RAW_TOPICS", "entra=signin-logs, entra=audit-logs,")
    from_env = load_settings().raw_topics
    assert [str(raw) for raw in from_env] == ["entra=signin-logs", "entra=audit-logs"]
    assert load_settings(raw_topics=None).raw_topics == from_env  # no option: the variable
    assert load_settings(raw_topics=["okta=o"]).raw_topics == [RawTopic("okta", "o")]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("okta", "'okta' is not SOURCE=TOPIC (example: okta=okta-logs)"),
        ("=okta-logs", "'=okta-logs' is not SOURCE=TOPIC (example: okta=okta-logs)"),
        ("okta=", "'okta=' is not SOURCE=TOPIC (example: okta=okta-logs)"),
        ("Okta=x", "'Okta=x': 'Okta' is not a source name (example: okta=okta-logs)"),
        (
            "okta=okta logs",
            "'okta=okta logs': 'okta logs' is not a Kafka topic name (letters, digits, "
            "'.', '_', '-', at most 249)",
        ),
        ("okta=..", "'okta=..': '..' is not a Kafka topic name"),
    ],
)
def test_a_malformed_raw_topic_is_named_with_the_form_it_needs(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(problem)):
        parse_raw_topic(value)
    with pytest.raises(ConfigError) as caught:
        load_settings(raw_topics=[value])
    assert str(caught.value).startswith(f"invalid settings (raw_topics: Value error, {problem}")
    assert str(caught.value).endswith(FIX)


def test_a_topic_of_the_ledgers_own_is_refused() -> None:
    # The normalizer writes ledger.raw.okta: reading it again would loop for ever.
    with pytest.raises(ConfigError) as caught:
        load_settings(raw_topics=["okta=ledger.raw.okta"])
    assert str(caught.value) == (
        "invalid settings (raw_topics: Value error, okta=ledger.raw.okta: topics under "
        f"'ledger.' are the ledger's own; name the topic the shippers write to){FIX}"
    )
    with pytest.raises(ConfigError, match=re.escape("under 'tenant-a.' are the ledger's own")):
        load_settings(topic_prefix="tenant-a", raw_topics=["okta=tenant-a.okta"])
    assert load_settings(topic_prefix="tenant-a", raw_topics=["okta=ledger.okta"]).raw_topics


def test_a_topic_named_twice_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(raw_topics=["okta=logs", "entra=logs"])
    assert "topic 'logs' is named twice (okta=logs, entra=logs)" in str(caught.value)


def test_an_unknown_source_is_named_with_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        raw_sources([RawTopic("okta", "okta-logs"), RawTopic("okat", "okta-2")])
    assert str(caught.value) == (
        "raw topic okat=okta-2: unknown source 'okat'; known sources: "
        "cloudtrail, entra, envoy, github, mcp, okta, otel"
    )
    sources = raw_sources([RawTopic("okta", "okta-logs"), RawTopic("entra", "audit")])
    assert {topic: source.name for topic, source in sources.items()} == {
        "okta-logs": "okta",
        "audit": "entra",
    }


# -- a message framed as a file of its source is ----------------------------------------------


def test_a_message_holding_one_record_is_named_by_its_topic_partition_and_offset() -> None:
    [item] = framed(OktaSource(), orjson.dumps(OKTA))
    assert isinstance(item, Framed) and item.position == "okta-logs/1/17"
    # The very record, and text, that ingest frames from a line of a file.
    [line] = frame_lines(OktaSource(), [orjson.dumps(OKTA).decode() + "\n"], "okta.jsonl")
    assert isinstance(line, Framed) and (item.record, item.raw) == (line.record, line.raw)


def test_a_batch_document_is_split_as_its_file_would_be() -> None:
    delivery = orjson.dumps({"Records": [TRAIL, {**TRAIL, "eventName": "ListBuckets"}]})
    items = framed(CloudTrailSource(), delivery, "ct-raw/0/4")
    assert positions(items) == ["ct-raw/0/4[0]", "ct-raw/0/4[1]"]
    from_file = list(frame_lines(CloudTrailSource(), [delivery.decode()], "trail.json"))
    raw_texts = [i.raw for i in items if isinstance(i, Framed)]
    assert len(raw_texts) == 2 and raw_texts == [i.raw for i in from_file if isinstance(i, Framed)]
    okta_array = orjson.dumps([OKTA, {**OKTA, "uuid": "second"}], option=orjson.OPT_INDENT_2)
    assert positions(framed(OktaSource(), okta_array)) == ["okta-logs/1/17[0]", "okta-logs/1/17[1]"]


def test_an_otlp_export_request_is_a_record_per_span() -> None:
    request = orjson.dumps(agent_run('[{"role": "user", "parts": []}]'))
    items = parse_message(OtelTraceSource(), Message(request, topic="otlp", offset=3))
    assert all(isinstance(item, Parsed) for item in items)
    assert [item.framed.position for item in items if isinstance(item, Parsed)] == [
        f"otlp/1/3[{i}]" for i in range(4)
    ]
    assert [len(item.events) for item in items if isinstance(item, Parsed)] == [1, 1, 1, 1]


def test_json_lines_in_one_message_keep_their_line_numbers() -> None:
    text = orjson.dumps(OKTA) + b"\n\n" + orjson.dumps({**OKTA, "uuid": "b"}) + b"\r\n"
    assert positions(framed(OktaSource(), text)) == ["okta-logs/1/17:1", "okta-logs/1/17:3"]


def test_a_text_format_line_is_a_record() -> None:
    line = (
        '[2024-04-25T17:51:55.294Z] "GET /v1/tools HTTP/1.1" 200 - 0 89 5 4 "-" "curl/8" '
        '"rid-1" "api.example.com" "-"'
    )
    [item] = framed(EnvoyAccessLogSource(), f"{line}\n".encode(), "envoy/0/9")
    assert isinstance(item, Framed) and item.position == "envoy/0/9"
    assert item.record == {"message": line}  # as ingest frames the line of a file
    [parsed] = parse_message(EnvoyAccessLogSource(), Message(line.encode()))
    assert isinstance(parsed, Parsed) and len(parsed.events) == 1


def test_a_message_that_is_no_json_is_unframed_at_its_offset_with_secrets_masked() -> None:
    [item] = framed(OktaSource(), f'{{"eventType": "x", "auth": "Bearer {TOKEN}"'.encode())
    assert isinstance(item, Unframed)
    assert item.error.position == "okta-logs/1/17" and item.error.source == "okta"
    assert item.error.reason.startswith("invalid JSON")
    assert TOKEN not in item.text and fingerprint(TOKEN) in item.text


@pytest.mark.parametrize("value", [b"", b"  \n", b"\n\n"])
def test_an_empty_message_holds_no_record(value: bytes) -> None:
    assert framed(OktaSource(), value) == []
    assert parse_message(OktaSource(), Message(value)) == []
    assert parse_message(OktaSource(), Message(None)) == []  # a tombstone


# -- parsed, with where each record came from -------------------------------------------------


def test_a_message_gives_the_event_ids_ingest_gives_the_same_record() -> None:
    items = parse_message(OktaSource(), Message(orjson.dumps(OKTA)))
    line = orjson.dumps(OKTA).decode() + "\n"
    ingested = list(
        parse_all(OktaSource(), frame_lines(OktaSource(), [line], "a.jsonl"), IngestReport())
    )
    assert event_ids(items) and event_ids(items) == event_ids(ingested)


def test_key_and_headers_go_with_the_raw_record_secrets_fingerprinted() -> None:
    message = Message(
        orjson.dumps(OKTA),
        key=b"host-7",
        headers=[
            ("x-shipper", b"vector"),
            ("Authorization", f"Bearer {TOKEN}".encode()),
            ("x-api-key", b"k3y-0paque-value"),
            ("x-empty", None),
        ],
    )
    [parsed] = parse_message(OktaSource(), message)
    assert isinstance(parsed, Parsed)
    headers = dict(parsed.headers)
    assert headers[ORIGIN_HEADER] == b"okta-logs/1/17"
    assert headers[ORIGIN_KEY_HEADER] == b"host-7"
    assert (headers["x-shipper"], headers["x-empty"]) == (b"vector", b"")
    authorization = orjson.loads(headers["Authorization"])
    assert authorization["fingerprint"] == fingerprint(TOKEN)
    assert authorization["scheme"] == "Bearer"
    assert orjson.loads(headers["x-api-key"])["fingerprint"] == fingerprint("k3y-0paque-value")
    joined = b"".join(headers.values())
    assert TOKEN.encode() not in joined and b"k3y-0paque-value" not in joined


def test_a_key_shaped_like_a_credential_is_masked() -> None:
    [parsed] = parse_message(OktaSource(), Message(orjson.dumps(OKTA), key=TOKEN.encode()))
    assert isinstance(parsed, Parsed)
    assert dict(parsed.headers)[ORIGIN_KEY_HEADER] == fingerprint(TOKEN).encode()


def test_dead_letters_name_the_message_and_carry_its_origin() -> None:
    batch = orjson.dumps({"Records": [TRAIL, {"eventName": "NoTime"}]})
    good, bad = parse_message(
        CloudTrailSource(), Message(batch, key=b"trail", topic="ct-raw", partition=0, offset=4)
    )
    assert isinstance(good, Parsed) and isinstance(bad, dict)
    assert (bad["source"], bad["position"], bad["field"]) == (
        "cloudtrail",
        "ct-raw/0/4[1]",
        "eventTime",
    )
    assert bad["origin"] == [[ORIGIN_HEADER, "ct-raw/0/4"], [ORIGIN_KEY_HEADER, "trail"]]


class BrokenSource(Source):
    """A parser with a bug: it raises what no parser means to raise."""

    name: ClassVar[str] = "broken"

    def parse(self, record: Any, *, position: str, raw: str) -> list[Event]:
        events: list[Event] = [] if record.get("fine") else record["missing"]
        return events


def test_a_message_that_breaks_the_parser_is_one_dead_letter_and_not_a_crash() -> None:
    text = b'{"fine": true}\n{"token": "Bearer ' + TOKEN.encode() + b'"}\n'
    [entry] = parse_message(BrokenSource(), Message(text, topic="t", partition=2, offset=8))
    assert isinstance(entry, dict)
    assert (entry["source"], entry["position"]) == ("broken", "t/2/8")
    assert entry["reason"] == "parser failed: KeyError: 'missing'"
    assert TOKEN not in entry["record"] and fingerprint(TOKEN) in entry["record"]


# -- counts ------------------------------------------------------------------------------------


def test_counts_per_topic_carry_on_across_a_restart() -> None:
    sources = raw_sources([RawTopic("okta", "okta-logs"), RawTopic("cloudtrail", "ct-raw")])
    stats = NormalizerStats.start(sources, None)
    items = parse_message(OktaSource(), Message(orjson.dumps(OKTA)))
    items += parse_message(OktaSource(), Message(b"{"))
    stats.topics["okta-logs"].add(2, items)
    stats.batches += 1
    saved = orjson.loads(orjson.dumps(stats.as_json()))
    assert saved["topics"]["okta-logs"] == {
        "source": "okta",
        "messages": 2,
        "records": 1,
        "events": 1,
        "dead_lettered": 1,
    }
    assert saved["topics"]["ct-raw"] == {
        **saved["topics"]["okta-logs"],
        "source": "cloudtrail",
        "messages": 0,
        "records": 0,
        "events": 0,
        "dead_lettered": 0,
    }
    again = NormalizerStats.start(sources, saved)
    assert again.as_json() == saved
    # A topic now read as another source starts again from nothing.
    other = raw_sources([RawTopic("entra", "okta-logs")])
    assert NormalizerStats.start(other, saved).topics == {"okta-logs": TopicCounts("entra")}
