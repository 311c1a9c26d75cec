"""Framing (JSON Lines, documents, arrays, wrapped records) and redaction before anything else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import orjson

from ingest.base import Source
from ingest.cloudtrail import CloudTrailSource
from ingest.framing import Framed, Unframed, frame_lines, mask_text
from ingest.redact import redact
from kernel.events import Event, canonical_json
from kernel.tokens import fingerprint
from tests.jwt import b64url, unsigned_jwt


class PlainSource(Source):
    """A source that wraps nothing: framing alone is under test."""

    name: ClassVar[str] = "plain"

    def parse(self, record: Any, *, position: str, raw: str) -> list[Event]:
        return []


def frame(text: str, name: str = "capture.jsonl", source: Source | None = None) -> list[Any]:
    return list(frame_lines(source or PlainSource(), text.splitlines(keepends=True), name))


def positions(items: Sequence[Framed | Unframed]) -> list[str]:
    return [i.position if isinstance(i, Framed) else f"!{i.error.position}" for i in items]


def sha(text: str) -> str:
    return fingerprint(text)


KEPT = {
    "iss": "https://example.okta.com/oauth2/default",
    "sub": "alice@example.com",
    "aud": "api://mcp",
    "exp": 1741946400,
    "iat": 1741942800,
    "jti": "AT.Zx7Hq1cJbYw",
    "cid": "0oa8f5j3ecb5w3dF35d7",
    "scp": ["mcp:tools", "openid"],
}
JWT = unsigned_jwt(
    {**KEPT, "email": "alice@example.com", "name": "Alice Example"},
    header={"alg": "RS256", "kid": "k1"},
    signature=b64url(b"signature-bytes"),
)


# -- framing ---------------------------------------------------------------------------------


def test_json_lines_keep_their_line_numbers_counting_blank_lines() -> None:
    items = frame('\n{"a": 1}\n\n\n{"b": [2, 3]}\n\n')
    assert [(i.position, i.record, i.raw) for i in items] == [
        ("capture.jsonl:2", {"a": 1}, '{"a":1}'),
        ("capture.jsonl:5", {"b": [2, 3]}, '{"b":[2,3]}'),
    ]


def test_an_array_on_one_line_of_json_lines_is_split_with_indexes() -> None:
    items = frame('{"a": 1}\n[{"b": 2}, {"c": 3}]\n')
    assert positions(items) == ["capture.jsonl:1", "capture.jsonl:2[0]", "capture.jsonl:2[1]"]
    assert [i.record for i in items] == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_a_json_array_document_is_split_with_indexes() -> None:
    items = frame('[\n  {"a": 1},\n  {"b": 2}\n]\n', "export.json")
    assert [(i.position, i.record) for i in items] == [
        ("export.json:1[0]", {"a": 1}),
        ("export.json:1[1]", {"b": 2}),
    ]


def test_a_pretty_printed_object_is_one_record() -> None:
    text = '{\n  "eventName": "GetObject",\n  "requestParameters": {\n    "key": "a.txt"\n  }\n}\n'
    items = frame(text, "event.json")
    assert [(i.position, i.record, i.raw) for i in items] == [
        (
            "event.json:1",
            {"eventName": "GetObject", "requestParameters": {"key": "a.txt"}},
            '{"eventName":"GetObject","requestParameters":{"key":"a.txt"}}',
        )
    ]


def _trail(name: str) -> dict[str, Any]:
    return {
        "eventTime": "2025-03-14T09:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": name,
    }


def test_cloudtrail_records_are_unwrapped_from_a_delivered_file() -> None:
    text = orjson.dumps(
        {"Records": [_trail("GetObject"), _trail("PutObject")]}, option=orjson.OPT_INDENT_2
    )
    items = frame(text.decode(), "111122223333_CloudTrail.json", CloudTrailSource())
    assert [(i.position, i.record["eventName"]) for i in items] == [
        ("111122223333_CloudTrail.json:1[0]", "GetObject"),
        ("111122223333_CloudTrail.json:1[1]", "PutObject"),
    ]
    assert items[0].raw == canonical_json(_trail("GetObject"))


def test_cloudtrail_records_on_json_lines_are_unwrapped_per_line() -> None:
    lines = [
        orjson.dumps({"Records": [_trail(n) for n in names]}).decode()
        for names in (["A"], ["B", "C"])
    ]
    items = frame("\n".join(lines) + "\n", "trail.jsonl", CloudTrailSource())
    assert positions(items) == ["trail.jsonl:1[0]", "trail.jsonl:2[0]", "trail.jsonl:2[1]"]


def test_a_broken_first_line_of_json_lines_does_not_lose_the_lines_after_it() -> None:
    items = frame('{"eventTime": "2025-03-14T09:00:00Z",\n{"a": 1}\n\n{"b": 2}\n')
    assert positions(items) == ["!capture.jsonl:1", "capture.jsonl:2", "capture.jsonl:4"]
    broken = items[0]
    assert isinstance(broken, Unframed)
    assert broken.error.source == "plain"
    assert broken.error.reason.startswith("invalid JSON: ")
    assert broken.text == '{"eventTime": "2025-03-14T09:00:00Z",'
    assert [i.record for i in items[1:]] == [{"a": 1}, {"b": 2}]


def test_a_broken_later_line_is_unframed_at_its_line() -> None:
    items = frame('{"a": 1}\n{"b": \n{"c": 3}\n')
    assert positions(items) == ["capture.jsonl:1", "!capture.jsonl:2", "capture.jsonl:3"]


BROKEN_DOCUMENT = """{
  "eventTime": "2025-03-14T09:00:00Z",
  "eventSource": "s3.amazonaws.com"
  "eventName": "DeleteBucket",
  "requestParameters": {
    "bucketName": "audit-logs"
  }
}
"""


def test_a_broken_pretty_printed_document_is_one_unframed_at_the_line() -> None:
    items = frame(BROKEN_DOCUMENT, "event.json")
    assert len(items) == 1
    (item,) = items
    assert isinstance(item, Unframed)
    assert (item.error.source, item.error.position) == ("plain", "event.json:4")
    assert item.error.reason == "invalid JSON: Expecting ',' delimiter (column 3)"
    assert item.text == BROKEN_DOCUMENT


def test_a_broken_document_with_a_one_line_nested_object_is_still_one_unframed() -> None:
    text = BROKEN_DOCUMENT.replace(
        '  "requestParameters": {\n    "bucketName": "audit-logs"\n  }\n',
        '  "resources": [\n    {"ARN": "arn:aws:s3:::audit-logs"}\n  ]\n',
    )
    assert positions(frame(text, "event.json")) == ["!event.json:4"]


def test_a_line_separator_inside_a_string_does_not_split_a_json_line() -> None:
    items = frame('{"a": \n{"msg": "one\u2028two"}\n{"c": 3}\n')
    assert positions(items) == ["!capture.jsonl:1", "capture.jsonl:2", "capture.jsonl:3"]


def test_a_document_only_python_json_accepts_is_unframed_not_raised() -> None:
    items = frame('{\n  "latency": NaN\n}\n', "metrics.json")
    assert positions(items) == ["!metrics.json:2"]


def test_nesting_orjson_reads_but_cannot_write_is_unframed_not_raised() -> None:
    """orjson reads 1,024 levels and writes 254; redaction walks by recursion. A record
    nested past either is a dead letter with the reason, and the next line goes on."""
    deep_list = '{"a": ' + "[" * 600 + "]" * 600 + "}"
    deep_object = '{"a": ' + '{"b": ' * 300 + "1" + "}" * 300 + "}"
    items = frame(f'{{"ok": 1}}\n{deep_list}\n{deep_object}\n[{deep_list}, {{"c": 3}}]\n')
    assert positions(items) == [
        "capture.jsonl:1",
        "!capture.jsonl:2",
        "!capture.jsonl:3",
        "!capture.jsonl:4[0]",
        "capture.jsonl:4[1]",
    ]
    unframed = [i for i in items if isinstance(i, Unframed)]
    assert all(i.error.reason == "cannot be kept as JSON: nested too deeply" for i in unframed)
    assert unframed[0].text.startswith('{"a": [[[')


def test_a_document_deeper_than_any_parser_reads_is_unframed_not_raised() -> None:
    text = '{"a":\n' * 1_100 + "1" + "}" * 1_100
    [item] = frame(text, "deep.json")
    assert isinstance(item, Unframed)
    assert item.error.reason == "invalid JSON: depth limit exceeded"


def test_a_lone_surrogate_is_named_as_such_not_as_nan() -> None:
    [item] = frame('{\n  "a": "\\ud800"\n}\n', "surrogate.json")
    assert isinstance(item, Unframed)
    assert "surrogate" in item.error.reason and "NaN" not in item.error.reason


def test_empty_input_frames_nothing() -> None:
    assert frame("") == []
    assert frame("\n  \n\n") == []


# -- redaction -------------------------------------------------------------------------------


def _capture(authorization: str) -> str:
    return orjson.dumps(
        {
            "direction": "client_to_server",
            "ts": "2025-03-14T09:00:00Z",
            "headers": {"Authorization": authorization, "Mcp-Session-Id": "1868a90c"},
            "message": {"jsonrpc": "2.0", "id": 7, "method": "tools/call"},
        }
    ).decode()


def test_a_bearer_jwt_becomes_its_fingerprint_claims_and_scheme() -> None:
    (item,) = frame(_capture(f"Bearer {JWT}") + "\n")
    assert item.record["headers"]["Authorization"] == {
        "redacted": True,
        "fingerprint": sha(JWT),
        "claims": KEPT,
        "scheme": "Bearer",
    }
    assert item.record["headers"]["Mcp-Session-Id"] == "1868a90c"
    assert JWT not in item.raw
    assert JWT.split(".")[1] not in item.raw and JWT.split(".")[2] not in item.raw
    assert "Alice Example" not in item.raw


def test_a_cloudtrail_session_token_is_replaced_by_its_fingerprint() -> None:
    token = "IQoJb3JpZ2luX2VjEBAaCXVzLWVhc3QtMSJHMEUCIQDExampleSessionToken"
    record = {
        **_trail("AssumeRole"),
        "responseElements": {
            "credentials": {
                "accessKeyId": "ASIAQNZGKIQY7EXAMPLE",
                "sessionToken": token,
                "expiration": "Mar 14, 2025, 10:00:00 AM",
            }
        },
    }
    text = orjson.dumps(record, option=orjson.OPT_INDENT_2).decode()
    (item,) = frame(text, "assumerole.json", CloudTrailSource())
    assert item.record["responseElements"]["credentials"] == {
        "accessKeyId": "ASIAQNZGKIQY7EXAMPLE",
        "sessionToken": {"redacted": True, "fingerprint": sha(token)},
        "expiration": "Mar 14, 2025, 10:00:00 AM",
    }
    assert token not in item.raw


def test_structured_and_numeric_secrets_are_fingerprinted_as_json() -> None:
    record = {
        "password": {"value": "hunter2"},
        "API_KEY": 12345678,
        "Set-Cookie": ["sid=abc", "theme=dark"],
        "refresh_token": None,
        "client_secret": "",
        "cookie": False,
    }
    assert redact(record) == {
        "password": {"value": {"redacted": True, "fingerprint": sha("hunter2")}},
        "API_KEY": {"redacted": True, "fingerprint": sha("12345678")},
        "Set-Cookie": [
            {"redacted": True, "fingerprint": sha("sid=abc")},
            {"redacted": True, "fingerprint": sha("theme=dark")},
        ],
        "refresh_token": None,
        "client_secret": "",
        "cookie": False,
    }


def test_documentation_placeholders_are_not_secrets() -> None:
    record = {"credentials": {"sessionToken": "<encoded session token blob>"}}
    assert redact(record) == {"credentials": {"sessionToken": "<encoded session token blob>"}}


def test_secrets_nested_in_lists_are_found() -> None:
    record = {"requests": [{"headers": {"x-api-key": "k-123"}}, {"headers": {"Accept": "*/*"}}]}
    assert redact(record) == {
        "requests": [
            {"headers": {"x-api-key": {"redacted": True, "fingerprint": sha("k-123")}}},
            {"headers": {"Accept": "*/*"}},
        ]
    }


def test_redacting_a_redacted_record_again_changes_nothing() -> None:
    (first,) = frame(_capture(f"Bearer {JWT}") + "\n")
    (second,) = frame(first.raw + "\n")
    assert second.raw == first.raw
    assert second.record == first.record


def test_mask_text_hides_a_bearer_token_in_unparseable_text() -> None:
    masked = mask_text(f"GET /mcp HTTP/1.1\nAuthorization: Bearer {JWT}\n")
    assert masked == f"GET /mcp HTTP/1.1\nAuthorization: Bearer {sha(JWT)}\n"


def test_mask_text_hides_a_quoted_token_field() -> None:
    masked = mask_text('{"access_token": "2YotnFZFEjr1zCsicMWpAA", "expires_in": 3600')
    assert masked == f'{{"access_token": "{sha("2YotnFZFEjr1zCsicMWpAA")}", "expires_in": 3600'


def test_a_broken_line_goes_out_with_its_bearer_token_masked() -> None:
    (item,) = frame(f'{{"note": "Bearer {JWT}"\n')
    assert isinstance(item, Unframed)
    assert JWT not in item.text
    assert item.text == f'{{"note": "Bearer {sha(JWT)}"\n'


def test_mask_text_hides_the_token_of_a_quoted_authorization_header() -> None:
    broken = _capture(f"Bearer {JWT}")[:-1]  # the capture lost its last brace
    (item,) = frame(broken + "\n")
    assert isinstance(item, Unframed)
    assert JWT not in item.text


def test_otlp_attributes_named_like_secrets_are_redacted() -> None:
    token = unsigned_jwt({"jti": "AT.1"}, header={"alg": "none"}, signature=b64url(b"sig"))
    record = {
        "attributes": [
            {
                "key": "http.request.header.authorization",
                "value": {"stringValue": f"Bearer {token}"},
            },
            {"key": "http.route", "value": {"stringValue": "/v1/x"}},
        ]
    }
    redacted = redact(record)
    header = redacted["attributes"][0]["value"]["stringValue"]
    assert header["fingerprint"] == fingerprint(token) and header["claims"] == {"jti": "AT.1"}
    assert redacted["attributes"][1]["value"]["stringValue"] == "/v1/x"
    assert token not in orjson.dumps(redacted).decode()


def test_credentials_in_url_query_strings_are_fingerprinted() -> None:
    record = {"path": "/api/orders?access_token=s3cr3t-value&page=2&sig=abc%2Fdef"}
    path = redact(record)["path"]
    assert path == (
        f"/api/orders?access_token={fingerprint('s3cr3t-value')}&page=2"
        f"&sig={fingerprint('abc%2Fdef')}"
    )
