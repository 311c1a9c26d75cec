"""Okta System Log records: a person's sign-in, their SSO into AWS, an agent's token grant."""

from __future__ import annotations

import random
from typing import Any

from agentledger.sampledata.common import iso_ms, random_uuid, urlsafe
from agentledger.sampledata.organisation import PLACES, Directory, Instance, Person

_AGENT_HTTP_UA = "python-httpx/0.27.2"


def _geo(place: tuple[str, str, str, str, float, float]) -> dict[str, Any]:
    city, state, country, postal, lat, lon = place
    return {
        "city": city,
        "state": state,
        "country": country,
        "postalCode": postal,
        "geolocation": {"lat": lat, "lon": lon},
    }


# Okta's network enrichment: people sign in from an ISP, agents call from a cloud provider.
_HOME_NETWORK = {
    "asNumber": 7922,
    "asOrg": "comcast",
    "isp": "comcast cable communications llc",
    "domain": "comcast.net",
    "isProxy": False,
}
_CLOUD_NETWORK = {
    "asNumber": 16509,
    "asOrg": "amazon.com  inc.",
    "isp": "amazon.com inc.",
    "domain": "amazonaws.com",
    "isProxy": False,
}


def _okta_event(
    rng: random.Random,
    t: int,
    event_type: str,
    legacy: str,
    message: str,
    person: Person,
    client: dict[str, Any],
    ip: str,
    external_session: str,
    transaction: str,
    debug: dict[str, Any],
    target: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    return {
        "uuid": random_uuid(rng),
        "published": iso_ms(t),
        "eventType": event_type,
        "version": "0",
        "severity": "INFO",
        "legacyEventType": legacy,
        "displayMessage": message,
        "actor": {
            "id": person.user_id,
            "type": "User",
            "alternateId": person.email,
            "displayName": person.display,
            "detailEntry": None,
        },
        "client": client,
        "device": None,
        "authenticationContext": {
            "authenticationProvider": None,
            "credentialProvider": None,
            "credentialType": None,
            "issuer": None,
            "interface": None,
            "authenticationStep": 0,
            "externalSessionId": external_session,
        },
        "outcome": {"result": "SUCCESS", "reason": None},
        "securityContext": dict(_CLOUD_NETWORK if client["id"] else _HOME_NETWORK),
        "debugContext": {"debugData": debug},
        "transaction": {"type": "WEB", "id": transaction, "detail": {}},
        "request": {"ipChain": [{"ip": ip, "version": "V4", "source": None}]},
        "target": target,
    }


def _person_client(person: Person) -> dict[str, Any]:
    raw, os_name, browser = person.browser
    return {
        "userAgent": {"rawUserAgent": raw, "os": os_name, "browser": browser},
        "zone": "null",
        "device": "Computer",
        "id": None,
        "ipAddress": person.ip,
        "geographicalContext": _geo(person.place),
    }


def session_start(rng: random.Random, t: int, person: Person, sid: str, txn: str) -> dict[str, Any]:
    debug = {
        "requestId": urlsafe(rng, 18),
        "requestUri": "/idp/idx/authenticators/poll",
        "url": "/idp/idx/authenticators/poll?",
        "behaviors": "{New Geo-Location=NEGATIVE, New Device=NEGATIVE, New IP=NEGATIVE}",
        "threatSuspected": "false",
    }
    return _okta_event(
        rng, t, "user.session.start", "core.user_auth.login_success", "User login to Okta",
        person, _person_client(person), person.ip, sid, txn, debug, None,
    )  # fmt: skip


def aws_sso(
    rng: random.Random, t: int, d: Directory, person: Person, sid: str, txn: str
) -> dict[str, Any]:
    """The person signs in to the AWS account federation app (SAML), before the STS call."""
    debug = {
        "requestId": urlsafe(rng, 18),
        "requestUri": f"/app/amazon_aws/{d.saml_app_key}/sso/saml",
        "initiationType": "IDP_INITIATED",
        "signOnMode": "SAML 2.0",
    }
    app = {
        "id": d.saml_app_id,
        "type": "AppInstance",
        "alternateId": "AWS Account Federation",
        "displayName": "AWS Account Federation",
        "detailEntry": {"signOnModeType": "SAML_2_0"},
    }
    app_user = {
        "id": "0ua" + person.user_id[3:],
        "type": "AppUser",
        "alternateId": person.email,
        "displayName": person.display,
        "detailEntry": None,
    }
    return _okta_event(
        rng, t, "user.authentication.sso", "app.auth.sso", "User single sign on to app",
        person, _person_client(person), person.ip, sid, txn, debug, [app, app_user],
    )  # fmt: skip


def token_grant(
    rng: random.Random,
    t: int,
    d: Directory,
    inst: Instance,
    person: Person,
    sid: str,
    txn: str,
    jti: str,
    scopes: str,
    *,
    client_credentials: bool = False,
) -> dict[str, Any]:
    """The token grant of an agent's session: for the person (authorization code), or, with
    ``client_credentials``, for the agent's OAuth client itself (its own subject)."""
    client = {
        "userAgent": {"rawUserAgent": _AGENT_HTTP_UA, "os": "Unknown", "browser": "UNKNOWN"},
        "zone": "null",
        "device": "Computer",
        "id": inst.client_id,
        "ipAddress": inst.ip,
        "geographicalContext": _geo(PLACES[0]),
    }
    debug = {
        "requestId": urlsafe(rng, 18),
        "requestUri": f"/oauth2/{d.auth_server}/v1/token",
        "url": f"/oauth2/{d.auth_server}/v1/token?",
        "grantType": "client_credentials" if client_credentials else "authorization_code",
        "grantedScopes": scopes,
        "requestedScopes": scopes + " offline_access" if rng.random() < 0.3 else scopes,
        "clientAuthType": "client_secret_basic",
        "threatSuspected": "false",
    }
    token = {
        "expires": iso_ms(t - t % 1000 + 3_600_000),
        "subject": inst.client_id if client_credentials else person.user_id,
        "hash": urlsafe(rng, 15),
    }
    target: list[dict[str, Any]] = [
        {
            "id": d.auth_server,
            "type": "AuthorizationServer",
            "alternateId": "default",
            "displayName": "default",
            "detailEntry": None,
        },
        {
            "id": inst.client_id,
            "type": "PublicClientApp",
            "alternateId": inst.kind.agent_id,
            "displayName": inst.kind.display,
            "detailEntry": None,
        },
        {
            "id": jti,
            "type": "access_token",
            "alternateId": "unknown",
            "displayName": "Access Token",
            "detailEntry": token,
        },
    ]
    record = _okta_event(
        rng, t, "app.oauth2.as.token.grant.access_token",
        "app.oauth2.as.token.grant.access_token_success", "OAuth2 access token is granted",
        person, client, inst.ip, sid, txn, debug, target,
    )  # fmt: skip
    if client_credentials:  # the client authenticates as itself: it is the actor
        record["actor"] = {
            "id": inst.client_id,
            "type": "PublicClientApp",
            "alternateId": inst.kind.agent_id,
            "displayName": inst.kind.display,
            "detailEntry": None,
        }
    return record
