"""Microsoft Entra ID (Azure AD) sign-in and audit logs.

Three shapes of the same data: the Azure Monitor resource-log record (diagnostic settings to
Event Hubs or storage: ``time``, ``category``, ``operationName``, ``properties{…}``), alone or
in an Event Hubs batch ``{"records": [...]}``; and the Microsoft Graph ``signIn`` and
``directoryAudit`` objects, which are that ``properties`` object at top level.

User sign-ins are identity events. Service principal, managed identity and agent sign-ins
issue a token to a workload: token grants. Audit records are calls against the directory.
``uniqueTokenIdentifier`` identifies the issued token (Graph activity logs repeat it as
``signInActivityId``), so it is the ``jti`` key; ``sessionId`` and ``correlationId`` are
the IdP's session and transaction. The record's own ``id`` (the sign-in's request id, the
audit entry's id) is its source id. ``correlationId`` is no second source id: several
records share it (the sign-ins and audit entries of one request), so it stays what it is,
the ``idp_txn`` key that joins them, and leads to their session in ``session_keys``.

Agent identities (Entra Agent ID), what was checked: ``properties.agent`` with ``agentType``
and ``agentSubjectType`` seen in a real streamed sign-in record; ``agentSubjectParentId`` and
``parentAppId`` from the Graph beta ``agentic.agentSignIn`` resource; audit
``initiatedBy.user.agentType`` seen in real Graph output. ``initiatedBy.app.agentType`` and
``targetResources[].agentType`` are documented by Microsoft Learn but not seen in a record.
No ``isAgent`` is read: it is a portal filter, not a field found in any record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from ingest.base import Source, parse_time, require, require_object
from ingest.fields import add_key, obj, put, require_text, text
from kernel.errors import RecordError
from kernel.events import (
    API_CALL,
    FAILURE,
    IDENTITY,
    KEY_IDP_SESSION,
    KEY_IDP_TXN,
    KEY_JTI,
    SUCCESS,
    TOKEN_GRANT,
    UNKNOWN,
    Event,
)

# Sign-in categories in which the subject is a workload, not a person.
_APP_CATEGORIES = frozenset(
    {
        "ServicePrincipalSignInLogs",
        "ManagedIdentitySignInLogs",
        "MicrosoftServicePrincipalSignInLogs",
    }
)
_MANAGED_IDENTITY = "ManagedIdentitySignInLogs"
# Graph's signInEventTypes for the same sign-ins (Graph records carry no category).
_APP_EVENT_TYPES = frozenset({"servicePrincipal", "managedIdentity"})
_SIGN_IN_OPERATION = "Sign-in activity"  # Azure Monitor's operationName for every sign-in
_NOT_AGENTIC = "notAgentic"
_AUDIT_RESULTS = {"success": SUCCESS, "failure": FAILURE, "failed": FAILURE, "timeout": FAILURE}


def _envelope(record: Mapping[str, Any], name: str) -> Any:
    """An envelope field. Panther's exports lower-case some envelope keys (``operationname``,
    ``correlationid``, ``resulttype``) and keep their values; ``properties`` is untouched."""
    value = record.get(name)
    return record.get(name.lower()) if value is None else value


def _agentic(agent_type: str | None) -> bool:
    return agent_type is not None and agent_type != _NOT_AGENTIC


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


class EntraSource(Source):
    name: ClassVar[str] = "entra"

    def unwrap(self, document: Any) -> list[Any] | None:
        if isinstance(document, dict) and "time" not in document:
            records = document.get("records")
            if isinstance(records, list):
                return records
            if isinstance(records, dict):  # a batch of one, written as an object
                return [records]
        return None

    def parse(self, record: Any, *, position: str, raw: str) -> list[Event]:
        entry = require_object(record)
        category: str | None = None
        if "properties" in entry or "time" in entry:
            envelope_time = parse_time(require(entry, "time"), "time")
            category = require_text(entry, "category")
            operation = _envelope(entry, "operationName")
            if not isinstance(operation, str) or not operation:
                raise RecordError("required field is missing", field="operationName")
            body = obj(entry.get("properties"))
            sign_in = "SignIn" in category
            # The envelope's time is when the log was written, up to minutes later.
            own = "createdDateTime" if sign_in else "activityDateTime"
            own_time = body.get(own)
            event_time = parse_time(own_time, f"properties.{own}") if own_time else envelope_time
        else:
            body = entry
            sign_in = "activityDateTime" not in entry and "activityDisplayName" not in entry
            if sign_in:
                event_time = parse_time(require(entry, "createdDateTime"), "createdDateTime")
                operation = _SIGN_IN_OPERATION
            else:
                event_time = parse_time(require(entry, "activityDateTime"), "activityDateTime")
                operation = require_text(entry, "activityDisplayName")
        build = self._sign_in if sign_in else self._audit
        event = build(entry, body, category, event_time, operation, position, raw)
        put(event.attributes, "category", category or text(body.get("category")))
        put(event.attributes, "tenant_id", text(_envelope(entry, "tenantId")))
        return [event]

    def _sign_in(
        self,
        entry: Mapping[str, Any],
        body: Mapping[str, Any],
        category: str | None,
        event_time: datetime,
        operation: str,
        position: str,
        raw: str,
    ) -> Event:
        event_types = _strings(body.get("signInEventTypes"))
        app_only = category in _APP_CATEGORIES or not _APP_EVENT_TYPES.isdisjoint(event_types)
        agent = obj(body.get("agent"))
        agent_type = text(agent.get("agentType"))
        app_name = text(body.get("servicePrincipalName")) or text(body.get("appDisplayName"))
        app_id = text(body.get("appId"))
        if app_only:
            principal = app_name or text(body.get("servicePrincipalId")) or app_id
            managed = category == _MANAGED_IDENTITY or "managedIdentity" in event_types
            principal_type = "ManagedIdentity" if managed else "ServicePrincipal"
        else:
            principal = text(body.get("userPrincipalName")) or text(body.get("userId"))
            principal_type = "User"

        keys: list[tuple[str, str]] = []
        add_key(keys, KEY_IDP_SESSION, text(body.get("sessionId")))
        # The Entra object's own correlation id first: the same sign-in pulled from Graph
        # then keys alike (Panther's envelope copies sometimes differ from it).
        txn = text(body.get("correlationId")) or text(_envelope(entry, "correlationId"))
        add_key(keys, KEY_IDP_TXN, txn)
        add_key(keys, KEY_JTI, text(body.get("uniqueTokenIdentifier")))

        attributes: dict[str, str] = {}
        ip = text(body.get("ipAddress")) or text(_envelope(entry, "callerIpAddress"))
        put(attributes, "ip", ip)
        put(attributes, "user_agent", text(body.get("userAgent")))
        put(attributes, "app_name", text(body.get("appDisplayName")))
        put(attributes, "service_principal_id", text(body.get("servicePrincipalId")))
        put(attributes, "authentication_protocol", text(body.get("authenticationProtocol")))
        put(attributes, "client_credential_type", text(body.get("clientCredentialType")))
        put(attributes, "credential_key_id", text(body.get("servicePrincipalCredentialKeyId")))
        put(attributes, "incoming_token_type", text(body.get("incomingTokenType")))
        put(attributes, "original_request_id", text(body.get("originalRequestId")))
        msi = obj(body.get("managedServiceIdentity"))
        federated = text(msi.get("federatedTokenId"))
        put(attributes, "federated_token_id", federated)
        # A federated credential sign-in took in an outside token: its id is that token's
        # jti, the key the session that held the token is known by (an exact link).
        add_key(keys, KEY_JTI, federated)
        put(attributes, "federated_token_issuer", text(msi.get("federatedTokenIssuer")))
        put(attributes, "agent_type", agent_type)
        put(attributes, "agent_subject_type", text(agent.get("agentSubjectType")))
        put(attributes, "agent_subject_parent_id", text(agent.get("agentSubjectParentId")))
        put(attributes, "agent_parent_app_id", text(agent.get("parentAppId")))

        agentic = _agentic(agent_type)
        event = Event(
            event_id=self.event_id(raw),
            source=self.name,
            kind=TOKEN_GRANT if app_only or agentic else IDENTITY,
            event_time=event_time,
            operation=operation,
            position=position,
            raw=raw,
            principal=principal,
            principal_type=principal_type,
            client_id=app_id,
            service="entra",
            resource=text(body.get("resourceDisplayName")) or text(body.get("resourceId")),
            keys=keys,
            attributes=attributes,
            source_id=text(body.get("id")) or "",
        )
        if agentic:
            # The agent identity is the app that signed in; its blueprint is parentAppId.
            event.agent_name = app_name
            event.agent_instance = app_id
        event.outcome, event.outcome_detail = _sign_in_outcome(entry, obj(body.get("status")))
        return event

    def _audit(
        self,
        entry: Mapping[str, Any],
        body: Mapping[str, Any],
        category: str | None,
        event_time: datetime,
        operation: str,
        position: str,
        raw: str,
    ) -> Event:
        initiated = obj(body.get("initiatedBy"))
        user = obj(initiated.get("user"))
        app = obj(initiated.get("app"))
        user_name = text(user.get("userPrincipalName")) or text(user.get("id"))
        app_name = (
            text(app.get("servicePrincipalName"))
            or text(app.get("displayName"))
            or text(app.get("servicePrincipalId"))
        )
        principal: str | None = user_name or app_name
        principal_type: str | None = None
        actor_agent_type: str | None = None
        if user_name:
            principal_type, actor_agent_type = "User", text(user.get("agentType"))
        elif app_name:
            principal_type, actor_agent_type = "ServicePrincipal", text(app.get("agentType"))
        else:  # the envelope's display name is all there is
            principal = text(entry.get("identity"))
        resources = body.get("targetResources")
        target = obj(resources[0]) if isinstance(resources, list) and resources else obj(None)

        keys: list[tuple[str, str]] = []
        txn = text(body.get("correlationId")) or text(_envelope(entry, "correlationId"))
        add_key(keys, KEY_IDP_TXN, txn)

        attributes: dict[str, str] = {}
        ip = text(user.get("ipAddress")) or text(_envelope(entry, "callerIpAddress"))
        put(attributes, "ip", ip)
        put(attributes, "user_agent", text(body.get("userAgent")))
        put(attributes, "operation_type", text(body.get("operationType")))
        put(attributes, "target_type", text(target.get("type")))
        put(attributes, "target_id", text(target.get("id")))
        put(attributes, "actor_agent_type", actor_agent_type)
        put(attributes, "target_agent_type", text(target.get("agentType")))

        result = text(body.get("result")) or text(_envelope(entry, "result"))
        event = Event(
            event_id=self.event_id(raw),
            source=self.name,
            kind=API_CALL,
            event_time=event_time,
            operation=operation,
            position=position,
            raw=raw,
            principal=principal,
            principal_type=principal_type,
            client_id=text(app.get("appId")),
            service=text(body.get("loggedByService")) or "entra",
            resource=(
                text(target.get("userPrincipalName"))
                or text(target.get("displayName"))
                or text(target.get("id"))
            ),
            outcome=_AUDIT_RESULTS.get((result or "").lower(), UNKNOWN),
            outcome_detail=text(body.get("resultReason")),
            keys=keys,
            attributes=attributes,
            source_id=text(body.get("id")) or "",
        )
        if _agentic(actor_agent_type):
            event.agent_name = principal
            event.agent_instance = (
                text(app.get("appId"))
                or text(app.get("servicePrincipalId"))
                or text(user.get("id"))
            )
        return event


def _sign_in_outcome(entry: Mapping[str, Any], status: Mapping[str, Any]) -> tuple[str, str | None]:
    """``status.errorCode`` 0 is success; without a status, the envelope's ``resultType``."""
    code = status.get("errorCode")
    if code is None:
        code = _envelope(entry, "resultType")
    if code is None or code == "":
        return UNKNOWN, None
    code_text = str(code).strip()
    if code_text.lower() in ("0", "success"):  # Panther writes "Success" / "Failure"
        return SUCCESS, None
    reason = text(status.get("failureReason")) or text(_envelope(entry, "resultDescription"))
    return FAILURE, f"{code_text}: {reason}" if reason else code_text
