"""CloudTrail records: role assumptions (web identity, SAML) and the API calls that follow."""

from __future__ import annotations

import base64
import random
from typing import Any

import orjson

from agentledger.sampledata.aws_ops import AwsOp, Ctx
from agentledger.sampledata.common import REGION, iso_s, random_uuid, upper16
from agentledger.sampledata.organisation import Directory, Instance, Person

BOTO_UA = (
    "Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#6.1.112 md/arch#x86_64 "
    "lang/python#3.12.7 md/pyimpl#CPython cfg/retry-mode#standard Botocore/1.35.36"
)
CLI_UA = (
    "aws-cli/2.18.4 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.12.6 "
    "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off"
)


def _credentials(rng: random.Random, t: int) -> tuple[str, dict[str, Any]]:
    key = "ASIA" + upper16(rng)
    blob = "IQoJb3JpZ2luX2VjE" + base64.b64encode(rng.randbytes(288)).decode()
    return key, {"accessKeyId": key, "sessionToken": blob, "expiration": iso_s(t + 3_600_000)}


def _ct_base(
    rng: random.Random,
    t: int,
    d: Directory,
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
        "eventTime": iso_s(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": request,
        "responseElements": response,
        "requestID": random_uuid(rng),
        "eventID": random_uuid(rng),
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


def assume_web_identity(
    rng: random.Random,
    t: int,
    d: Directory,
    inst: Instance,
    sub: str,
    audience: str,
    session_name: str,
) -> tuple[str, dict[str, Any]]:
    """The MCP server exchanges the agent's token (issuer ``d.issuer``, subject ``sub``,
    audience ``audience``) for the role's keys, under ``session_name``."""
    key, creds = _credentials(rng, t)
    role_arn = f"arn:aws:iam::{d.account}:role/{inst.role}"
    provider = d.issuer.removeprefix("https://")
    identity = {
        "type": "WebIdentityUser",
        "principalId": f"{provider}:{audience}:{sub}",
        "userName": sub,
        "identityProvider": provider,
    }
    request = {"roleArn": role_arn, "roleSessionName": session_name, "durationSeconds": 3600}
    response = {
        "credentials": creds,
        "subjectFromWebIdentityToken": sub,
        "assumedRoleUser": {
            "assumedRoleId": f"{inst.role_id}:{session_name}",
            "arn": f"arn:aws:sts::{d.account}:assumed-role/{inst.role}/{session_name}",
        },
        "provider": provider,
        "audience": audience,
    }
    resources = [{"ARN": role_arn, "accountId": d.account, "type": "AWS::IAM::Role"}]
    record = _ct_base(
        rng, t, d, identity, "sts.amazonaws.com", "AssumeRoleWithWebIdentity", inst.server_ip,
        BOTO_UA, request, response, True, True, resources,
    )  # fmt: skip
    return key, record


def assume_saml(
    rng: random.Random, t: int, d: Directory, person: Person, role: str, role_id: str
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
        rng, t, d, identity, "sts.amazonaws.com", "AssumeRoleWithSAML", person.ip, CLI_UA,
        request, response, True, True, resources,
    )  # fmt: skip
    return key, record


def assumed_role_identity(
    d: Directory, role: str, role_id: str, session_name: str, key: str, created: int, web: bool
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
            "federatedProvider": (
                f"arn:aws:iam::{d.account}:oidc-provider/{d.issuer.removeprefix('https://')}"
            ),
            "attributes": {},
        }
    context["attributes"] = {"creationDate": iso_s(created), "mfaAuthenticated": "false"}
    return {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session_name}",
        "arn": f"arn:aws:sts::{d.account}:assumed-role/{role}/{session_name}",
        "accountId": d.account,
        "accessKeyId": key,
        "sessionContext": context,
    }


def api_call(
    rng: random.Random,
    t: int,
    d: Directory,
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
