"""Ledger actions as OCSF 1.8.0 events: what a SIEM or a data lake reads.

Calls (MCP tool calls and messages, provider API calls) become **API Activity** (class_uid
6003, category 6) with the ``ai_operation`` profile: the agent in ``message_context`` and
``actor``, the model in ``ai_model``, the ledger session in ``actor.session`` and
``metadata.correlation_uid``, and, for a scored action, the ``security_control`` profile's
``risk_score`` (the drift score × 100) and ``policy``. Identity-provider events (sign-ins,
MFA, token grants) become **Authentication** (class_uid 3002, category 3).

OCSF has no attribute for a declared intent or an attribution label: the label goes to
``metadata.labels`` as ``attribution:<label>``, and the intent, the label's rule and
evidence, the origin, the exact drift and the policy's decision go to ``unmapped``.

Pure functions: an action as ``ledger.queries.action_record`` reads it, the attributes its
source's parser gives its raw record again (``ip``, ``user_agent``, ``model``, ``jti``…),
and the ``credentials`` row of a grant, in; one OCSF event (a dict) out. Nothing here
reads a credential: the ledger keeps token ids (``jti``), key ids and keyed fingerprints.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from agentledger import __version__
from kernel import events as ev
from kernel.vocabulary import ATTR_EXPIRES_AT, ATTR_JTI, ATTR_TOKEN_ISSUER

OCSF_VERSION: Final = "1.8.0"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
PRODUCT: Final = {"name": "Agent Ledger", "vendor_name": "Agent Ledger", "version": __version__}

API_ACTIVITY: Final = 6003
AUTHENTICATION: Final = 3002
_CLASSES: Final = {
    API_ACTIVITY: ("API Activity", 6, "Application Activity"),
    AUTHENTICATION: ("Authentication", 3, "Identity & Access Management"),
}
# The kinds an identity provider reports: a sign-in (and MFA, session events) and a grant.
AUTHENTICATION_KINDS: Final = frozenset({ev.IDENTITY, ev.TOKEN_GRANT})

# API Activity's activity_id.
_API_ACTIVITIES: Final = {0: "Unknown", 1: "Create", 2: "Read", 3: "Update", 4: "Delete"}
_CREATE_WORDS: Final = ("create", "add", "insert", "post", "put", "upload")
# Authentication's activity_id.
_AUTH_ACTIVITIES: Final = {1: "Logon", 2: "Logoff", 99: "Other"}
_LOGOFF_WORDS: Final = ("session.end", "logout", "signout", "sign_out", "logoff")
# status_id: the ledger's outcomes (pending: no answer seen yet, so unknown).
_STATUS: Final = {ev.SUCCESS: (1, "Success"), ev.FAILURE: (2, "Failure")}
_SEVERITY: Final = {1: "Informational", 3: "Medium", 4: "High"}
# ai_model.ai_provider is required; the records name a model, not its maker.
_PROVIDERS: Final = (
    (("claude",), "Anthropic"),
    (("gpt-", "gpt4", "o1", "o3", "o4", "chatgpt", "text-embedding"), "OpenAI"),
    (("gemini", "gemma"), "Google"),
    (("llama",), "Meta"),
    (("mistral", "mixtral", "codestral"), "Mistral AI"),
    (("command",), "Cohere"),
)


def ocsf_event(
    action: Mapping[str, Any],
    attributes: Mapping[str, str] | None = None,
    credential: Mapping[str, Any] | None = None,
    session: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``action`` as Authentication when an identity provider reported it, else API Activity;
    ``session`` (its ``sessions`` row) names the agent where the action's record did not."""
    action = with_session_agent(action, session)
    if action["kind"] in AUTHENTICATION_KINDS:
        return authentication(action, attributes or {}, credential)
    return api_activity(action, attributes or {})


def api_activity(action: Mapping[str, Any], attributes: Mapping[str, str]) -> dict[str, Any]:
    """An action (tool call, MCP message, provider API call) as OCSF API Activity."""
    activity = _api_activity_id(action)
    agent, drift = action["agent"], action.get("drift")
    profiles = ["ai_operation"] + (["security_control"] if drift else [])
    event: dict[str, Any] = {
        **_base(action, API_ACTIVITY, activity, _API_ACTIVITIES[activity], profiles),
        "actor": _actor(action, attributes),
        "api": {
            "operation": action["operation"] or action["kind"],
            "service": _named(action["service"]),
            "request": {"uid": action["source_id"] or action["action_id"]},
            "response": _response(action),
        },
        "src_endpoint": _src_endpoint(action, attributes),
        "resources": [{"name": action["resource"]}] if action["resource"] else None,
        "ai_model": _ai_model(attributes.get("model", "")),
        "message_context": _message_context(action) if agent["name"] else None,
        "unmapped": _unmapped(action),
    }
    if drift:
        event["risk_score"] = max(0, min(100, round(float(drift["score"]) * 100)))
        event["risk_details"] = "; ".join(drift["reasons"])
        event["policy"] = _named(action.get("policy_rule") or "")
    return _compact_event(event)


def authentication(
    action: Mapping[str, Any],
    attributes: Mapping[str, str],
    credential: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """A sign-in, MFA or session event, or a token grant, as OCSF Authentication."""
    activity = _auth_activity_id(action)
    scope = action["scope"]
    grant = action["kind"] == ev.TOKEN_GRANT
    token_id = attributes.get(ATTR_JTI) or (credential or {}).get("credential_id", "")
    event: dict[str, Any] = {
        **_base(action, AUTHENTICATION, activity, _AUTH_ACTIVITIES[activity], []),
        "user": _user(action) or {"name": scope["client_id"] or "unknown"},
        "actor": {"app_name": scope["client_id"], "app_uid": scope["client_id"]}
        if scope["client_id"]
        else None,
        # Authentication needs a service or a destination: the one signed in to, else the
        # identity provider itself.
        "service": _named(action["service"] or action["source"]),
        "session": {
            "uid": action["session"]["session_id"],
            "credential_uid": token_id,
            "issuer": attributes.get(ATTR_TOKEN_ISSUER, ""),
            "created_time": _ms(credential["issued_at"]) if credential else None,
            "expiration_time": _expiry_ms(
                attributes.get(ATTR_EXPIRES_AT) or (credential or {}).get("expires_at", "")
            ),
        },
        "src_endpoint": _ip_endpoint(attributes),
        "http_request": {"user_agent": attributes["user_agent"]}
        if attributes.get("user_agent")
        else None,
        "auth_protocol_id": 6 if grant and _is_oauth(action, attributes) else None,
        "unmapped": _unmapped(action),
    }
    if event["auth_protocol_id"] == 6:
        event["auth_protocol"] = "OAUTH 2.0"
    return _compact_event(event)


def with_session_agent(
    action: Mapping[str, Any], session: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """``action`` with its agent's name, version and instance taken from its session where
    its own record named none (an MCP call names the agent's instance, the session the
    agent that instance is)."""
    if session is None:
        return action
    agent = dict(action["agent"])
    for field in ("name", "version", "instance"):
        agent[field] = agent[field] or session.get(f"agent_{field}", "")
    return {**action, "agent": agent}


# -- the parts --------------------------------------------------------------------------------


def _base(
    action: Mapping[str, Any], class_uid: int, activity_id: int, activity: str, profiles: list[str]
) -> dict[str, Any]:
    class_name, category_uid, category_name = _CLASSES[class_uid]
    status_id, status = _STATUS.get(action["outcome"]["status"], (0, "Unknown"))
    severity_id = _severity_id(action)
    labels = []
    if action["attribution"]["label"]:
        labels.append(f"attribution:{action['attribution']['label']}")
    if action["attribution"]["confused_deputy"]:
        labels.append("confused_deputy")
    return {
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": activity,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{class_name}: {activity}",
        "time": _ms(action["event_time"]),
        "timezone_offset": 0,
        "severity_id": severity_id,
        "severity": _SEVERITY[severity_id],
        "status_id": status_id,
        "status": status,
        "status_detail": action["outcome"]["detail"],
        "message": _message(action),
        "metadata": {
            "version": OCSF_VERSION,
            "product": dict(PRODUCT),
            "profiles": profiles,
            "uid": action["action_id"],
            "original_event_uid": action["source_id"],
            "event_code": action["operation"],
            "log_provider": action["source"],
            # Every event of one ledger session shares it.
            "correlation_uid": action["session"]["session_id"],
            "labels": labels,
        },
    }


def _severity_id(action: Mapping[str, Any]) -> int:
    """Informational; Medium for a drifting action; High when the policy halted or revoked."""
    if action.get("decision") in ("halt", "revoke"):
        return 4
    drift = action.get("drift")
    if (drift and (drift["flagged"] or drift["out_of_bounds"])) or action["attribution"][
        "confused_deputy"
    ]:
        return 3
    return 1


def _message(action: Mapping[str, Any]) -> str:
    who = action["agent"]["name"] or action["scope"]["principal"] or "unknown"
    what = " ".join(p for p in (action["operation"], action["resource"]) if p)
    return f"{who}: {what or action['kind']} ({action['outcome']['status']})"


def _api_activity_id(action: Mapping[str, Any]) -> int:
    access = action["access"]
    if access == ev.READ:
        return 2
    if access == ev.DELETE:
        return 4
    if access == ev.WRITE:
        # CloudTrail's CreateBucket, PutObject; a tool named crm.create_note.
        verbs = (action["operation"].lower(), action["resource"].lower().rsplit(".", 1)[-1])
        return 1 if any(verb.startswith(_CREATE_WORDS) for verb in verbs) else 3
    return 0


def _auth_activity_id(action: Mapping[str, Any]) -> int:
    if action["kind"] == ev.TOKEN_GRANT:
        return 99  # a credential issued: no OCSF activity for it but Other
    operation = action["operation"].lower()
    return 2 if any(word in operation for word in _LOGOFF_WORDS) else 1


def _user(action: Mapping[str, Any]) -> dict[str, Any] | None:
    scope = action["scope"]
    if not scope["principal"]:
        return None
    return {"name": scope["principal"], "type": scope["principal_type"]}


def _actor(action: Mapping[str, Any], attributes: Mapping[str, str]) -> dict[str, Any]:
    """Who acted: the agent instance as the application, the principal whose credential it
    used as the user, and the ledger session the action was stitched into."""
    agent, scope, link = action["agent"], action["scope"], action["link"]
    return {
        "user": _user(action),
        "app_name": agent["name"] or scope["client_id"],
        "app_uid": agent["instance"] or scope["client_id"],
        "session": {
            "uid": action["session"]["session_id"],
            # The token the action presented, by its id (never the token).
            "credential_uid": link["key"] if link["key_type"] == ev.KEY_JTI else "",
            "issuer": attributes.get(ATTR_TOKEN_ISSUER, ""),
        },
    }


def _response(action: Mapping[str, Any]) -> dict[str, Any] | None:
    outcome = action["outcome"]
    if outcome["status"] != ev.FAILURE:
        return {"message": outcome["detail"]} if outcome["detail"] else None
    return {"error": "failure", "error_message": outcome["detail"]}


def _ip(attributes: Mapping[str, str]) -> str:
    """The caller's IP address as the source recorded it; "" when it is none (CloudTrail
    names an AWS service there for calls a service made)."""
    text = attributes.get("ip", "")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


def _ip_endpoint(attributes: Mapping[str, str]) -> dict[str, Any] | None:
    ip = _ip(attributes)
    if ip:
        return {"ip": ip}
    named = attributes.get("ip", "")
    return {"svc_name": named} if named else None


def _src_endpoint(action: Mapping[str, Any], attributes: Mapping[str, str]) -> dict[str, Any]:
    """Where the call came from (required by API Activity): the caller's address when the
    source recorded one, and the agent instance or client that made it."""
    agent, scope = action["agent"], action["scope"]
    endpoint = _ip_endpoint(attributes) or {}
    name = agent["instance"] or agent["name"] or scope["client_id"] or scope["principal"]
    if name:
        endpoint["name"] = name
    return endpoint or {"name": action["source"]}


def _ai_model(model: str) -> dict[str, Any] | None:
    if not model:
        return None
    lowered = model.lower()
    provider = next(
        (name for prefixes, name in _PROVIDERS if lowered.startswith(prefixes)), "Unknown"
    )
    return {"name": model, "ai_provider": provider}


def _message_context(action: Mapping[str, Any]) -> dict[str, Any]:
    """The agent's conversation: the ledger session, the agent as the application that
    sent the call, the service it called."""
    agent = action["agent"]
    return {
        "uid": action["session"]["session_id"],
        "ai_role_id": 4,
        "ai_role": "Agent",
        "application": {
            "name": agent["name"],
            "version": agent["version"],
            "uid": agent["instance"],
        },
        "service": _named(action["service"] or action["source"]),
    }


def _unmapped(action: Mapping[str, Any]) -> dict[str, Any]:
    """What OCSF has no attribute for: the five attribution fields' rest and the label's why."""
    unmapped: dict[str, Any] = {
        "source": action["source"],
        "kind": action["kind"],
        "session": dict(action["session"]),
        "attribution": dict(action["attribution"]),
        "attributed_agent": action["agent"]["attributed"],
        "actors": action["agent"]["actors"],
        "origin": dict(action["origin"]),
        "scopes": action["scope"]["scopes"],
        "outcome": action["outcome"]["status"],
        "outcome_event_id": action["outcome"]["event_id"],
        "link": dict(action["link"]),
        "access": action["access"],
        "arguments": action["arguments"],
    }
    if action.get("drift"):
        unmapped["drift"] = {
            **action["drift"],
            "decision": action.get("decision"),
            "policy_rule": action.get("policy_rule"),
            "contraction_id": action.get("contraction_id"),
        }
    return unmapped


def _named(name: str) -> dict[str, Any] | None:
    return {"name": name} if name else None


def _is_oauth(action: Mapping[str, Any], attributes: Mapping[str, str]) -> bool:
    """A grant of an OAuth token (it has a ``jti`` or an OAuth client), not STS keys."""
    return bool(attributes.get(ATTR_JTI) or attributes.get("grant_type")) or (
        action["source"] != "cloudtrail" and bool(action["scope"]["client_id"])
    )


# -- values -----------------------------------------------------------------------------------


def parse_utc(text: str) -> datetime:
    """A ledger time (``DateTime64(6, 'UTC')`` text, or ISO 8601) as an aware UTC datetime;
    text without an offset is UTC, as the ledger writes it."""
    value = datetime.fromisoformat(text.strip().replace(" ", "T", 1).replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _ms(value: str | datetime) -> int:
    """OCSF ``timestamp_t``: milliseconds since the epoch, UTC."""
    moment = parse_utc(value) if isinstance(value, str) else value.astimezone(UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)  # exact: no float on the way


def _expiry_ms(text: str) -> int | None:
    """An expiry as sources give it (ISO 8601, or epoch seconds as a JWT ``exp`` does)."""
    if not text:
        return None
    if text.isdigit():
        return int(text) * 1000
    try:
        return _ms(text)
    except ValueError:
        return None


def _compact_event(event: dict[str, Any]) -> dict[str, Any]:
    compacted: dict[str, Any] = compact(event)
    return compacted


def compact(value: Any) -> Any:
    """``value`` without ``None``, ``""``, ``[]`` and ``{}`` (OCSF validators reject nulls,
    and an empty object would claim an attribute the record does not have); ``0`` and
    ``False`` stay. ``unmapped`` keeps its keys as the ledger has them."""
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            item = compact(item)
            if item is None or item == "" or item == [] or item == {}:
                continue
            kept[key] = item
        return kept
    if isinstance(value, list):
        return [compact(item) for item in value if item is not None]
    return value
