"""The organisation (people, agents, ids) and the raw records each source writes."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from agentledger.sampledata.catalog import (
    _AGENT_KINDS,
    _CUSTOMERS,
    _DIRECT_WORK,
    AwsOp,
    Ctx,
    _AgentKind,
)
from agentledger.sampledata.common import (
    _ALNUM,
    OKTA_HOST,
    ORG_DOMAIN,
    REGION,
    _b64url_json,
    _iso_ms,
    _iso_s,
    _okta_id,
    _upper16,
    _urlsafe,
    _uuid,
)

_PEOPLE = (
    ("alice", "Alice Martin", "support"),
    ("bob", "Bob Okafor", "support"),
    ("carol", "Carol Nguyen", "support"),
    ("dave", "Dave Kowalski", "support"),
    ("erin", "Erin Walsh", "finance"),
    ("frank", "Frank Moreau", "finance"),
    ("grace", "Grace Lindqvist", "finance"),
    ("heidi", "Heidi Schmidt", "engineering"),
    ("ivan", "Ivan Petrov", "engineering"),
    ("judy", "Judy Alvarez", "engineering"),
    ("ken", "Ken Tanaka", "engineering"),
    ("laura", "Laura Rossi", "data"),
    ("mike", "Mike Brennan", "data"),
    ("nina", "Nina Haddad", "data"),
    ("olivia", "Olivia Grant", "sales"),
    ("peter", "Peter Novak", "sales"),
    ("quinn", "Quinn Adeyemi", "sales"),
    ("rachel", "Rachel Cohen", "sales"),
    ("sam", "Sam Delgado", "sales"),
    ("tara", "Tara Singh", "support"),
)
_BROWSERS = (
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "Mac OS X",
        "CHROME",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "Windows 10",
        "EDGE_CHROMIUM",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
        "Linux",
        "FIREFOX",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Safari/605.1.15",
        "Mac OS X",
        "SAFARI",
    ),
)
_PLACES = (
    ("San Francisco", "California", "United States", "94107", 37.7697, -122.3933),
    ("New York", "New York", "United States", "10001", 40.7506, -73.9972),
    ("London", "England", "United Kingdom", "EC1A", 51.5164, -0.0930),
    ("Berlin", "Land Berlin", "Germany", "10115", 52.5323, 13.3846),
    ("Toronto", "Ontario", "Canada", "M5H", 43.6496, -79.3833),
)
_AGENT_HTTP_UA = "python-httpx/0.27.2"
_BOTO_UA = (
    "Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#6.1.112 md/arch#x86_64 "
    "lang/python#3.12.7 md/pyimpl#CPython cfg/retry-mode#standard Botocore/1.35.36"
)
_CLI_UA = (
    "aws-cli/2.18.4 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.12.6 "
    "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off"
)


@dataclass(frozen=True, slots=True)
class _Person:
    login: str
    email: str
    display: str
    department: str
    user_id: str
    ip: str
    browser: tuple[str, str, str]
    place: tuple[str, str, str, str, float, float]
    iam_user_id: str  # AIDA... for engineers with an IAM user, else ""
    iam_key: str  # their long-term AKIA key


@dataclass(frozen=True, slots=True)
class _Instance:
    kind: _AgentKind
    instance: str
    client_id: str
    ip: str  # egress address the agent calls Okta from
    server_ip: str  # the MCP server's address as AWS sees it
    role: str
    role_id: str  # AROA...
    users: tuple[_Person, ...]


@dataclass(frozen=True, slots=True)
class _Directory:
    account: str
    auth_server: str
    issuer: str
    saml_app_id: str  # the AWS Account Federation app in Okta
    saml_app_key: str
    saml_issuer: str
    saml_qualifier: str
    people: tuple[_Person, ...]
    instances: tuple[_Instance, ...]
    instance_weights: tuple[int, ...]
    customers: tuple[tuple[str, str, str], ...]
    human_role_ids: dict[str, str]  # department -> AROA... of its SAML role


@lru_cache(maxsize=8)
def _directory(seed: int) -> _Directory:
    rng = random.Random(f"agentledger-directory:{seed}")  # noqa: S311 (sample data)
    account = str(rng.randrange(100_000_000_000, 999_999_999_999))
    auth_server = _okta_id(rng, "aus")
    people = []
    for login, display, department in _PEOPLE:
        engineer = department == "engineering"
        people.append(
            _Person(
                login=login,
                email=f"{login}@{ORG_DOMAIN}",
                display=display,
                department=department,
                user_id=_okta_id(rng, "00u"),
                ip=f"198.51.100.{rng.randrange(2, 250)}",
                browser=rng.choice(_BROWSERS),
                place=rng.choice(_PLACES),
                iam_user_id="AIDA" + _upper16(rng)[:17] if engineer else "",
                iam_key="AKIA" + _upper16(rng) if engineer else "",
            )
        )
    instances = []
    weights = []
    for kind in _AGENT_KINDS:
        client_id = _okta_id(rng, "0oa")
        role_id = "AROA" + base64.b32encode(rng.randbytes(11)).decode()[:17]
        users = tuple(p for p in people if p.department == kind.department)
        for _ in range(rng.randrange(2, 4)):
            instances.append(
                _Instance(
                    kind=kind,
                    instance=f"{kind.agent_id}-{rng.getrandbits(12):03x}",
                    client_id=client_id,
                    ip=f"192.0.2.{rng.randrange(2, 250)}",
                    server_ip=f"203.0.113.{rng.randrange(2, 250)}",
                    role=f"{kind.agent_id}-role",
                    role_id=role_id,
                    users=users,
                )
            )
            weights.append(kind.weight)
    customers = tuple(
        (slug, title, "cus_" + "".join(rng.choices(_ALNUM, k=14))) for slug, title in _CUSTOMERS
    )
    human_role_ids = {
        d: "AROA" + base64.b32encode(rng.randbytes(11)).decode()[:17] for d in _DIRECT_WORK
    }
    saml_app_key = _okta_id(rng, "exk")
    return _Directory(
        account=account,
        auth_server=auth_server,
        issuer=f"https://{OKTA_HOST}/oauth2/{auth_server}",
        saml_app_id=_okta_id(rng, "0oa"),
        saml_app_key=saml_app_key,
        saml_issuer=f"http://www.okta.com/{saml_app_key}",
        saml_qualifier=base64.b64encode(rng.randbytes(21)).decode(),
        people=tuple(people),
        instances=tuple(instances),
        instance_weights=tuple(weights),
        customers=customers,
        human_role_ids=human_role_ids,
    )


# ---------------------------------------------------------------------------------------------
# Record builders.

_JWT_HEADER = _b64url_json({"alg": "RS256", "kid": "k1", "typ": "JWT"})


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
    person: _Person,
    client: dict[str, Any],
    ip: str,
    external_session: str,
    transaction: str,
    debug: dict[str, Any],
    target: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    return {
        "uuid": _uuid(rng),
        "published": _iso_ms(t),
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


def _person_client(person: _Person) -> dict[str, Any]:
    raw, os_name, browser = person.browser
    return {
        "userAgent": {"rawUserAgent": raw, "os": os_name, "browser": browser},
        "zone": "null",
        "device": "Computer",
        "id": None,
        "ipAddress": person.ip,
        "geographicalContext": _geo(person.place),
    }


def _session_start(
    rng: random.Random, t: int, person: _Person, sid: str, txn: str
) -> dict[str, Any]:
    debug = {
        "requestId": _urlsafe(rng, 18),
        "requestUri": "/idp/idx/authenticators/poll",
        "url": "/idp/idx/authenticators/poll?",
        "behaviors": "{New Geo-Location=NEGATIVE, New Device=NEGATIVE, New IP=NEGATIVE}",
        "threatSuspected": "false",
    }
    return _okta_event(
        rng, t, "user.session.start", "core.user_auth.login_success", "User login to Okta",
        person, _person_client(person), person.ip, sid, txn, debug, None,
    )  # fmt: skip


def _aws_sso(
    rng: random.Random, t: int, d: _Directory, person: _Person, sid: str, txn: str
) -> dict[str, Any]:
    """The person signs in to the AWS account federation app (SAML), before the STS call."""
    debug = {
        "requestId": _urlsafe(rng, 18),
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


def _token_grant(
    rng: random.Random,
    t: int,
    d: _Directory,
    inst: _Instance,
    person: _Person,
    sid: str,
    txn: str,
    jti: str,
    scopes: str,
) -> dict[str, Any]:
    client = {
        "userAgent": {"rawUserAgent": _AGENT_HTTP_UA, "os": "Unknown", "browser": "UNKNOWN"},
        "zone": "null",
        "device": "Computer",
        "id": inst.client_id,
        "ipAddress": inst.ip,
        "geographicalContext": _geo(_PLACES[0]),
    }
    debug = {
        "requestId": _urlsafe(rng, 18),
        "requestUri": f"/oauth2/{d.auth_server}/v1/token",
        "url": f"/oauth2/{d.auth_server}/v1/token?",
        "grantType": "authorization_code",
        "grantedScopes": scopes,
        "requestedScopes": scopes + " offline_access" if rng.random() < 0.3 else scopes,
        "clientAuthType": "client_secret_basic",
        "threatSuspected": "false",
    }
    token = {
        "expires": _iso_ms(t - t % 1000 + 3_600_000),
        "subject": person.user_id,
        "hash": _urlsafe(rng, 15),
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
    return _okta_event(
        rng, t, "app.oauth2.as.token.grant.access_token",
        "app.oauth2.as.token.grant.access_token_success", "OAuth2 access token is granted",
        person, client, inst.ip, sid, txn, debug, target,
    )  # fmt: skip


def _credentials(rng: random.Random, t: int) -> tuple[str, dict[str, Any]]:
    key = "ASIA" + _upper16(rng)
    blob = "IQoJb3JpZ2luX2VjE" + base64.b64encode(rng.randbytes(288)).decode()
    return key, {"accessKeyId": key, "sessionToken": blob, "expiration": _iso_s(t + 3_600_000)}


def _ct_base(
    rng: random.Random,
    t: int,
    d: _Directory,
    identity: dict[str, Any],
    source: str,
    name: str,
    ip: str,
    agent: str,
    request: dict[str, Any],
    response: Any,
    read_only: bool,
    management: bool,
    resources: list[dict[str, str]] | None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": identity,
        "eventTime": _iso_s(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": request,
        "responseElements": response,
        "requestID": _uuid(rng),
        "eventID": _uuid(rng),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": management,
        "recipientAccountId": d.account,
        "eventCategory": "Management" if management else "Data",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"{source.split('.')[0]}.{REGION}.amazonaws.com",
        },
    }
    if resources is not None:
        record["resources"] = resources
    return record


def _assume_web_identity(
    rng: random.Random, t: int, d: _Directory, inst: _Instance, sub: str, jti: str
) -> tuple[str, dict[str, Any]]:
    key, creds = _credentials(rng, t)
    role_arn = f"arn:aws:iam::{d.account}:role/{inst.role}"
    identity = {
        "type": "WebIdentityUser",
        "principalId": f"{OKTA_HOST}:{inst.client_id}:{sub}",
        "userName": sub,
        "identityProvider": OKTA_HOST,
    }
    request = {"roleArn": role_arn, "roleSessionName": jti, "durationSeconds": 3600}
    response = {
        "credentials": creds,
        "subjectFromWebIdentityToken": sub,
        "assumedRoleUser": {
            "assumedRoleId": f"{inst.role_id}:{jti}",
            "arn": f"arn:aws:sts::{d.account}:assumed-role/{inst.role}/{jti}",
        },
        "provider": OKTA_HOST,
        "audience": inst.client_id,
    }
    resources = [{"ARN": role_arn, "accountId": d.account, "type": "AWS::IAM::Role"}]
    record = _ct_base(
        rng, t, d, identity, "sts.amazonaws.com", "AssumeRoleWithWebIdentity", inst.server_ip,
        _BOTO_UA, request, response, True, True, resources,
    )  # fmt: skip
    return key, record


def _assume_saml(
    rng: random.Random, t: int, d: _Directory, person: _Person, role: str, role_id: str
) -> tuple[str, dict[str, Any]]:
    key, creds = _credentials(rng, t)
    role_arn = f"arn:aws:iam::{d.account}:role/{role}"
    provider_arn = f"arn:aws:iam::{d.account}:saml-provider/okta"
    identity = {
        "type": "SAMLUser",
        "principalId": f"{d.saml_qualifier}:{person.email}",
        "userName": person.email,
        "identityProvider": d.saml_qualifier,
    }
    request = {
        "sAMLAssertionID": "id" + f"{rng.getrandbits(128):032x}",
        "roleSessionName": person.email,
        "durationSeconds": 3600,
        "roleArn": role_arn,
        "principalArn": provider_arn,
    }
    response = {
        "subjectType": "persistent",
        "issuer": d.saml_issuer,
        "credentials": creds,
        "nameQualifier": d.saml_qualifier,
        "assumedRoleUser": {
            "assumedRoleId": f"{role_id}:{person.email}",
            "arn": f"arn:aws:sts::{d.account}:assumed-role/{role}/{person.email}",
        },
        "subject": person.email,
        "audience": "https://signin.aws.amazon.com/saml",
    }
    resources = [
        {"ARN": role_arn, "accountId": d.account, "type": "AWS::IAM::Role"},
        {"ARN": provider_arn, "accountId": d.account, "type": "AWS::IAM::SAMLProvider"},
    ]
    record = _ct_base(
        rng, t, d, identity, "sts.amazonaws.com", "AssumeRoleWithSAML", person.ip, _CLI_UA,
        request, response, True, True, resources,
    )  # fmt: skip
    return key, record


def _assumed_role_identity(
    d: _Directory, role: str, role_id: str, session_name: str, key: str, created: int, web: bool
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "sessionIssuer": {
            "type": "Role",
            "principalId": role_id,
            "arn": f"arn:aws:iam::{d.account}:role/{role}",
            "accountId": d.account,
            "userName": role,
        },
    }
    if web:
        context["webIdFederationData"] = {
            "federatedProvider": f"arn:aws:iam::{d.account}:oidc-provider/{OKTA_HOST}",
            "attributes": {},
        }
    context["attributes"] = {"creationDate": _iso_s(created), "mfaAuthenticated": "false"}
    return {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session_name}",
        "arn": f"arn:aws:sts::{d.account}:assumed-role/{role}/{session_name}",
        "accountId": d.account,
        "accessKeyId": key,
        "sessionContext": context,
    }


def _api_call(
    rng: random.Random,
    t: int,
    d: _Directory,
    identity: dict[str, Any],
    ip: str,
    agent: str,
    op: AwsOp,
    ctx: Ctx,
    denied: bool,
) -> dict[str, Any]:
    source, name, read_only, management, request, response, resources = op(ctx, d.account, t)
    record = _ct_base(
        rng, t, d, orjson.loads(orjson.dumps(identity)), source, name, ip, agent, request,
        None if denied else response,
        read_only, management, resources,
    )  # fmt: skip
    if denied:
        action = f"{source.split('.')[0]}:{name}"
        target = resources[0]["ARN"] if resources else "*"
        record["errorCode"] = "AccessDenied"
        record["errorMessage"] = (
            f"User: {identity['arn']} is not authorized to perform: {action} on resource: "
            f"{target} because no identity-based policy allows the {action} action"
        )
    return record


# ---------------------------------------------------------------------------------------------
# Sessions.
