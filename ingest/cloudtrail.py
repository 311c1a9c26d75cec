"""AWS CloudTrail: one event record, alone or inside a delivered ``{"Records": [...]}`` file.

STS calls that issue temporary credentials become token-grant events carrying the issued
``ASIA…`` key and the caller-chosen session name, so that the API calls made later with
those credentials join the same session.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from ingest.base import Source, parse_time, require, require_object
from ingest.fields import add_key, issuer_name, obj, put, require_text, text
from kernel.events import (
    API_CALL,
    FAILURE,
    IDENTITY,
    KEY_AWS_ACCESS_KEY,
    KEY_AWS_SESSION_NAME,
    SUCCESS,
    TOKEN_GRANT,
    Event,
)
from kernel.vocabulary import (
    ATTR_EXCHANGED_AUDIENCE,
    ATTR_EXCHANGED_ISSUER,
    ATTR_EXCHANGED_SUBJECT,
    ATTR_ISSUED_ACCESS_KEY,
    ATTR_READ_ONLY,
)

_STS = "sts.amazonaws.com"
_SIGNIN = "signin.amazonaws.com"
_GRANTS = frozenset(
    {
        "AssumeRole",
        "AssumeRoleWithWebIdentity",
        "AssumeRoleWithSAML",
        "GetSessionToken",
        "GetFederationToken",
    }
)
# For these the arn names the role or account, not the person: the federated subject is
# in userName.
_FEDERATED = frozenset({"WebIdentityUser", "SAMLUser"})
# requestParameters fields that name what a call acted on, most specific first.
_RESOURCE_PARAMS = (
    "bucketName",
    "tableName",
    "functionName",
    "secretId",
    "roleArn",
    "policyArn",
    "roleName",
    "userName",
    "groupName",
    "name",
    "instanceId",
    "trailName",
    "keyId",
)


def _temporary(key: Any) -> str | None:
    """An STS-issued key. Long-term AKIA keys are never keys: they span all of a user's work."""
    found = text(key)
    return found if found is not None and found.startswith("ASIA") else None


# The session names AWS SDKs make from the clock when the caller gives none: botocore's
# (boto3, the AWS CLI) ``botocore-session-<epoch s>``, the Go SDK's ``aws-go-sdk-<ns>`` (v1: the
# bare nanoseconds), Java's ``aws-sdk-java-<ms>``, JavaScript's ``aws-sdk-js-session-<ms>`` (a
# web identity) and ``aws-sdk-js-<ms>`` (a profile's role), .NET's
# ``aws-dotnet-sdk-session-<ticks>``. They name a moment, not a session: every process
# exchanging a token in the same second shares one, so they link nothing.
_CLOCK_NAMED = re.compile(
    r"(?:(?:botocore-session|aws-go-sdk|aws-sdk-java|aws-sdk-js-session|aws-sdk-js"
    r"|aws-dotnet-sdk-session)-\d{9,}|\d{18,})"
)


def _named(name: str | None) -> str | None:
    """A caller-chosen session name, or None for one an SDK made from the clock."""
    if name is None or _CLOCK_NAMED.fullmatch(name):
        return None
    return name


def _session_name(arn: str | None) -> str | None:
    """SESSION from ``arn:<partition>:sts::ACCOUNT:assumed-role/ROLE/SESSION``, unless an SDK
    made it from the clock."""
    if arn is None:
        return None
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "sts":
        return None
    path = parts[5].split("/")
    if len(path) == 3 and path[0] == "assumed-role" and path[2]:
        return _named(path[2])
    return None


def _kind(source: str, name: str) -> str:
    if source == _STS and name in _GRANTS:
        return TOKEN_GRANT
    if source == _SIGNIN or name == "ConsoleLogin":
        return IDENTITY
    return API_CALL


def _resource(record: Mapping[str, Any], params: Mapping[str, Any]) -> str | None:
    resources = record.get("resources")
    if isinstance(resources, list):
        for item in resources:
            entry = obj(item)
            # CloudTrail writes "ARN"; some exporters (Panther) lower-case it.
            arn = text(entry.get("ARN")) or text(entry.get("arn"))
            if arn is not None:
                return arn
    for field in _RESOURCE_PARAMS:
        found = text(params.get(field))
        if found is not None:
            return found
    return None


class CloudTrailSource(Source):
    name: ClassVar[str] = "cloudtrail"

    def unwrap(self, document: Any) -> list[Any] | None:
        if isinstance(document, dict):
            records = document.get("Records")
            if isinstance(records, list):
                return records
        return None

    def parse(self, record: Any, *, position: str, raw: str) -> list[Event]:
        trail = require_object(record)
        event_time = parse_time(require(trail, "eventTime"), "eventTime")
        name = require_text(trail, "eventName")
        source = require_text(trail, "eventSource")
        kind = _kind(source, name)

        identity = obj(trail.get("userIdentity"))
        identity_type = text(identity.get("type"))
        arn = text(identity.get("arn"))
        user_name = text(identity.get("userName"))
        if identity_type in _FEDERATED:
            principal = user_name or text(identity.get("principalId"))
        else:
            principal = (
                arn
                or user_name
                or text(identity.get("principalId"))
                or text(identity.get("invokedBy"))  # AWSService callers have only this
            )
        params = obj(trail.get("requestParameters"))
        response = obj(trail.get("responseElements"))

        # The caller's own session: its temporary key, and the name it was issued under.
        keys: list[tuple[str, str]] = []
        add_key(keys, KEY_AWS_ACCESS_KEY, _temporary(identity.get("accessKeyId")))
        add_key(keys, KEY_AWS_SESSION_NAME, _session_name(arn))
        session_context = obj(identity.get("sessionContext"))
        add_key(keys, KEY_AWS_SESSION_NAME, text(session_context.get("sourceIdentity")))

        attributes: dict[str, str] = {}
        put(attributes, "request_id", text(trail.get("requestID")))
        put(attributes, "region", text(trail.get("awsRegion")))
        put(attributes, "ip", text(trail.get("sourceIPAddress")))
        put(attributes, "user_agent", text(trail.get("userAgent")))
        put(attributes, "account_id", text(identity.get("accountId")))
        read_only = trail.get("readOnly")
        if isinstance(read_only, bool):
            attributes[ATTR_READ_ONLY] = "true" if read_only else "false"
        elif isinstance(read_only, str) and read_only.lower() in ("true", "false"):
            attributes[ATTR_READ_ONLY] = read_only.lower()

        event = Event(
            event_id=self.event_id(raw),
            source=self.name,
            kind=kind,
            event_time=event_time,
            operation=name,
            position=position,
            raw=raw,
            principal=principal,
            principal_type=identity_type,
            service=source,
            resource=_resource(trail, params),
            keys=keys,
            attributes=attributes,
            source_id=text(trail.get("eventID")) or "",
        )
        event.outcome, event.outcome_detail = _outcome(trail, name, response)
        if kind == TOKEN_GRANT:
            _add_grant(event, name, params, response)
        return [event]


def _outcome(
    trail: Mapping[str, Any], name: str, response: Mapping[str, Any]
) -> tuple[str, str | None]:
    error_code = text(trail.get("errorCode"))
    error_message = text(trail.get("errorMessage"))
    if error_code is not None:
        detail = f"{error_code}: {error_message}" if error_message else error_code
        return FAILURE, detail
    # A failed console sign-in has no errorCode: only the response says so.
    if name == "ConsoleLogin" and response.get("ConsoleLogin") == "Failure":
        return FAILURE, error_message
    return SUCCESS, None


def _add_grant(
    event: Event, name: str, params: Mapping[str, Any], response: Mapping[str, Any]
) -> None:
    """What the STS call issued: the new key and the names the new session carries."""
    issued = text(obj(response.get("credentials")).get("accessKeyId"))
    put(event.attributes, ATTR_ISSUED_ACCESS_KEY, issued)
    add_key(event.keys, KEY_AWS_ACCESS_KEY, _temporary(issued))
    add_key(event.keys, KEY_AWS_SESSION_NAME, _named(text(params.get("roleSessionName"))))
    add_key(event.keys, KEY_AWS_SESSION_NAME, text(params.get("sourceIdentity")))
    put(event.attributes, "role_arn", text(params.get("roleArn")))
    if name == "AssumeRoleWithWebIdentity":
        # The OIDC client the web identity token was issued to, and the subject it names.
        event.client_id = text(response.get("audience"))
        put(event.attributes, "subject", text(response.get("subjectFromWebIdentityToken")))
        put(event.attributes, "provider", text(response.get("provider")))
        # Whose web identity token was exchanged: the stitcher looks for the session that
        # held it, since CloudTrail names the identity but not the token.
        put(event.attributes, ATTR_EXCHANGED_ISSUER, issuer_name(text(response.get("provider"))))
        put(
            event.attributes,
            ATTR_EXCHANGED_SUBJECT,
            text(response.get("subjectFromWebIdentityToken")),
        )
        put(event.attributes, ATTR_EXCHANGED_AUDIENCE, text(response.get("audience")))
    elif name == "AssumeRoleWithSAML":
        put(event.attributes, "subject", text(response.get("subject")))
        put(event.attributes, "provider", text(response.get("issuer")))
