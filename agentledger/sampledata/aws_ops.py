"""The AWS call behind each tool, as CloudTrail records it, from the session's context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentledger.sampledata.common import REGION

Ctx = dict[str, Any]  # a session's template values (see ``context.draw_context``)
# (eventSource, eventName, readOnly, managementEvent, requestParameters, responseElements,
#  resources or None)
AwsCall = tuple[str, str, bool, bool, dict[str, Any], Any, list[dict[str, str]] | None]
AwsOp = Callable[[Ctx, str, int], AwsCall]


def ddb(action: str, table: str, key_field: str, ctx_key: str) -> AwsOp:
    read_only = action in ("GetItem", "Query")

    def op(c: Ctx, acct: str, t: int) -> AwsCall:
        req: dict[str, Any]
        if action == "Query":
            req = {
                "tableName": table,
                "keyConditionExpression": f"{key_field} = :v",
                "limit": 50,
            }
        else:
            req = {"tableName": table, "key": {key_field: c[ctx_key]}}
            if action == "UpdateItem":
                req["updateExpression"] = "SET #f = :v, updated_at = :now"
                req["returnValues"] = "UPDATED_NEW"
        arn = f"arn:aws:dynamodb:{REGION}:{acct}:table/{table}"
        resources = [{"accountId": acct, "type": "AWS::DynamoDB::Table", "ARN": arn}]
        return ("dynamodb.amazonaws.com", action, read_only, False, req, None, resources)

    return op


def s3(action: str, bucket: str, key_template: str) -> AwsOp:
    read_only = action == "GetObject"

    def op(c: Ctx, acct: str, t: int) -> AwsCall:
        key = key_template.format_map(c)
        req = {"bucketName": bucket, "Host": f"{bucket}.s3.{REGION}.amazonaws.com", "key": key}
        resp = None if read_only else {"x-amz-server-side-encryption": "aws:kms"}
        resources = [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {"accountId": acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ]
        return ("s3.amazonaws.com", action, read_only, False, req, resp, resources)

    return op


def get_secret(secret_template: str) -> AwsOp:
    def op(c: Ctx, acct: str, t: int) -> AwsCall:
        req = {"secretId": secret_template.format_map(c)}
        return ("secretsmanager.amazonaws.com", "GetSecretValue", True, True, req, None, None)

    return op


def describe_instances(c: Ctx, acct: str, t: int) -> AwsCall:
    filters = [
        {"name": "tag:service", "valueSet": {"items": [{"value": c["service"]}]}},
        {"name": "tag:env", "valueSet": {"items": [{"value": c["env"]}]}},
    ]
    req = {"instancesSet": {}, "filterSet": {"items": filters}}
    return ("ec2.amazonaws.com", "DescribeInstances", True, True, req, None, None)


def reboot_instances(c: Ctx, acct: str, t: int) -> AwsCall:
    req = {"instancesSet": {"items": [{"instanceId": c["instance_id"]}]}}
    resp = {"requestId": c["query_id"], "_return": True}
    return ("ec2.amazonaws.com", "RebootInstances", False, True, req, resp, None)


def filter_log_events(c: Ctx, acct: str, t: int) -> AwsCall:
    req = {
        "logGroupName": f"/ecs/{c['service']}-{c['env']}",
        "startTime": t - 900_000,
        "endTime": t,
        "filterPattern": '"502"',
    }
    return ("logs.amazonaws.com", "FilterLogEvents", True, True, req, None, None)


def get_parameter(c: Ctx, acct: str, t: int) -> AwsCall:
    req = {"name": f"/{c['env']}/{c['service']}/config-version", "withDecryption": True}
    return ("ssm.amazonaws.com", "GetParameter", True, True, req, None, None)


def start_query(c: Ctx, acct: str, t: int) -> AwsCall:
    req = {
        "queryString": c["sql"],
        "queryExecutionContext": {"database": "analytics"},
        "workGroup": "analysts",
        "clientRequestToken": c["query_id"],
    }
    resp = {"queryExecutionId": c["query_id"]}
    return ("athena.amazonaws.com", "StartQueryExecution", False, True, req, resp, None)


def get_query_results(c: Ctx, acct: str, t: int) -> AwsCall:
    req = {"queryExecutionId": c["query_id"], "maxResults": 1000}
    return ("athena.amazonaws.com", "GetQueryResults", True, True, req, None, None)


def get_tables(c: Ctx, acct: str, t: int) -> AwsCall:
    req = {"databaseName": "analytics", "maxResults": 100}
    return ("glue.amazonaws.com", "GetTables", True, True, req, None, None)
