"""Realistic agent sessions as raw Okta, CloudTrail and MCP records (for ``demo`` and ``bench``).

One agent session is one chain a stitcher must be able to join: an Okta access-token grant
(``target[].id`` is the token's ``jti``), MCP capture lines whose bearer JWT carries the same
``jti``, and CloudTrail events where the MCP server assumed a role with that token and named the
AWS session after it (``roleSessionName`` = ``jti``), followed by API calls made with the ASIA key
it received. About one session in ten is a person acting directly (no agent, no token), the
case the product must tell apart.

Everything comes from ``random.Random`` seeded with ``seed`` and ``run_id``, so output is
deterministic for the same arguments, and two runs with different ``run_id`` share no event,
session, token or key id. The directory (people, agents, their Okta/AWS ids) depends on ``seed``
only: the same organisation appears in every run. Records are built as plain dicts for speed
(the bench generates hundreds of thousands of them).
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

# A fixed recent instant, so that output depends only on the arguments.
DEFAULT_START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DIRECT_SHARE = 0.10  # sessions where a person acts without an agent
TOOL_ERROR_RATE = 0.05  # tools/call results with isError true
RPC_ERROR_RATE = 0.02  # tools/call answered with a JSON-RPC error
ACCESS_DENIED_RATE = 0.03  # AWS API calls refused

ORG_DOMAIN = "acme.example"
OKTA_HOST = "acme.okta.com"
MCP_PROTOCOL = "2025-11-25"
REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class SampleRecord:
    source: str  # "okta" | "cloudtrail" | "mcp"
    record: dict[str, Any]  # the raw record exactly as that source writes it


@dataclass(frozen=True, slots=True)
class SampleSession:
    session_label: str  # e.g. "alice / support-agent: Update the shipping address of ..."
    jti: str  # the access token id linking the chain; "" for a person acting directly
    records: list[SampleRecord]  # in time order


# ---------------------------------------------------------------------------------------------
# Time: integer milliseconds since the epoch, formatted without datetime on the hot path.

_DAY_MS = 86_400_000
_day_prefix: dict[int, str] = {}


def _prefix(day: int) -> str:
    prefix = _day_prefix.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")
        _day_prefix[day] = prefix
    return prefix


def _iso_ms(ms: int) -> str:
    """``2026-11-20T10:00:01.123Z`` (Okta, MCP capture)."""
    day, rem = divmod(ms, _DAY_MS)
    sec, milli = divmod(rem, 1000)
    hour, sec = divmod(sec, 3600)
    minute, sec = divmod(sec, 60)
    return f"{_prefix(day)}{hour:02d}:{minute:02d}:{sec:02d}.{milli:03d}Z"


def _iso_s(ms: int) -> str:
    """``2026-11-20T10:00:01Z`` (CloudTrail writes whole seconds)."""
    day, rem = divmod(ms, _DAY_MS)
    sec = rem // 1000
    hour, sec = divmod(sec, 3600)
    minute, sec = divmod(sec, 60)
    return f"{_prefix(day)}{hour:02d}:{minute:02d}:{sec:02d}Z"


# ---------------------------------------------------------------------------------------------
# Ids.

_VARIANT = "89ab"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[rng.getrandbits(2)]}{h[17:20]}-{h[20:]}"


def _urlsafe(rng: random.Random, nbytes: int) -> str:
    """``4 * nbytes / 3`` base64url characters (``nbytes`` a multiple of 3: no padding)."""
    return base64.urlsafe_b64encode(rng.randbytes(nbytes)).decode()


def _upper16(rng: random.Random) -> str:
    return base64.b32encode(rng.randbytes(10)).decode()


def _b64url_json(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()


def _okta_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choices(_ALNUM, k=17))


# ---------------------------------------------------------------------------------------------
# What the agents do: MCP servers, their tools, the AWS call behind each tool, and tasks.

Ctx = dict[str, Any]
# (eventSource, eventName, readOnly, managementEvent, requestParameters, responseElements,
#  resources or None)
AwsCall = tuple[str, str, bool, bool, dict[str, Any], Any, list[dict[str, str]] | None]
AwsOp = Callable[[Ctx, str, int], AwsCall]


def _ddb(action: str, table: str, key_field: str, ctx_key: str) -> AwsOp:
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


def _s3(action: str, bucket: str, key_template: str) -> AwsOp:
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


def _secret(secret_template: str) -> AwsOp:
    def op(c: Ctx, acct: str, t: int) -> AwsCall:
        req = {"secretId": secret_template.format_map(c)}
        return ("secretsmanager.amazonaws.com", "GetSecretValue", True, True, req, None, None)

    return op


def _describe_instances(c: Ctx, acct: str, t: int) -> AwsCall:
    filters = [
        {"name": "tag:service", "valueSet": {"items": [{"value": c["service"]}]}},
        {"name": "tag:env", "valueSet": {"items": [{"value": c["env"]}]}},
    ]
    req = {"instancesSet": {}, "filterSet": {"items": filters}}
    return ("ec2.amazonaws.com", "DescribeInstances", True, True, req, None, None)


def _reboot_instances(c: Ctx, acct: str, t: int) -> AwsCall:
    req = {"instancesSet": {"items": [{"instanceId": c["instance_id"]}]}}
    resp = {"requestId": c["query_id"], "_return": True}
    return ("ec2.amazonaws.com", "RebootInstances", False, True, req, resp, None)


def _filter_log_events(c: Ctx, acct: str, t: int) -> AwsCall:
    req = {
        "logGroupName": f"/ecs/{c['service']}-{c['env']}",
        "startTime": t - 900_000,
        "endTime": t,
        "filterPattern": '"502"',
    }
    return ("logs.amazonaws.com", "FilterLogEvents", True, True, req, None, None)


def _get_parameter(c: Ctx, acct: str, t: int) -> AwsCall:
    req = {"name": f"/{c['env']}/{c['service']}/config-version", "withDecryption": True}
    return ("ssm.amazonaws.com", "GetParameter", True, True, req, None, None)


def _start_query(c: Ctx, acct: str, t: int) -> AwsCall:
    req = {
        "queryString": c["sql"],
        "queryExecutionContext": {"database": "analytics"},
        "workGroup": "analysts",
        "clientRequestToken": c["query_id"],
    }
    resp = {"queryExecutionId": c["query_id"]}
    return ("athena.amazonaws.com", "StartQueryExecution", False, True, req, resp, None)


def _get_query_results(c: Ctx, acct: str, t: int) -> AwsCall:
    req = {"queryExecutionId": c["query_id"], "maxResults": 1000}
    return ("athena.amazonaws.com", "GetQueryResults", True, True, req, None, None)


def _get_tables(c: Ctx, acct: str, t: int) -> AwsCall:
    req = {"databaseName": "analytics", "maxResults": 100}
    return ("glue.amazonaws.com", "GetTables", True, True, req, None, None)


_INT_ARGS = frozenset({"percent", "minutes"})


@dataclass(frozen=True, slots=True)
class _Tool:
    name: str
    description: str
    args: dict[str, str]  # argument -> template over the session context
    result: str  # template of the result text
    aws: AwsOp | None = None  # the AWS call the server makes to run it

    def arguments(self, c: Ctx) -> dict[str, Any]:
        return {
            k: int(v.format_map(c)) if k in _INT_ARGS else v.format_map(c)
            for k, v in self.args.items()
        }

    def schema(self) -> dict[str, Any]:
        properties = {
            k: {
                "type": "integer" if k in _INT_ARGS else "string",
                "description": k.replace("_", " "),
            }
            for k in self.args
        }
        return {
            "name": self.name,
            "description": self.description,
            "inputSchema": {
                "type": "object",
                "properties": properties,
                "required": list(self.args),
            },
        }


# fmt: off
_CRM_TOOLS = (
    _Tool("get_customer", "Fetch a customer record by id", {"customer_id": "{customer_id}"},
          '{{"customer_id": "{customer_id}", "name": "{customer_title}", "tier": "{tier}", '
          '"shipping_address": "{old_address}"}}',
          _ddb("GetItem", "customers", "customer_id", "customer_id")),
    _Tool("update_shipping_address", "Replace the shipping address of a customer",
          {"customer_id": "{customer_id}", "address": "{new_address}"},
          "Shipping address of {customer_title} set to {new_address}.",
          _ddb("UpdateItem", "customers", "customer_id", "customer_id")),
    _Tool("search_tickets", "List support tickets of a customer",
          {"customer_id": "{customer_id}", "status": "open"},
          "3 open tickets for {customer_title}: {ticket_id} (shipping delay), "
          "TCK-{n5} (invoice question), TCK-{n5b} (SSO setup)",
          _ddb("Query", "tickets", "customer_id", "customer_id")),
    _Tool("add_ticket_note", "Append an internal note to a ticket",
          {"ticket_id": "{ticket_id}", "note": "{note}"}, "Note added to {ticket_id}.",
          _ddb("PutItem", "ticket_notes", "ticket_id", "ticket_id")),
    _Tool("get_order", "Fetch an order with its fulfilment status", {"order_id": "{order_id}"},
          '{{"order_id": "{order_id}", "customer_id": "{customer_id}", '
          '"status": "awaiting_stock", "warehouse": "RNO1"}}',
          _ddb("GetItem", "orders", "order_id", "order_id")),
    _Tool("search_knowledge_base", "Search internal help articles", {"query": "{kb_query}"},
          "Top article: KB-{n5} '{kb_query}' (updated 2026-10-02)"),
    _Tool("list_opportunities", "List open sales opportunities of an account",
          {"customer_id": "{customer_id}"},
          "{opportunity_id}: {customer_title} renewal, stage {stage}, ${amount}k ARR",
          _ddb("Query", "opportunities", "customer_id", "customer_id")),
    _Tool("update_opportunity", "Update the stage and next step of an opportunity",
          {"opportunity_id": "{opportunity_id}", "stage": "{stage}", "next_step": "Follow-up call"},
          "Opportunity {opportunity_id} moved to {stage}.",
          _ddb("UpdateItem", "opportunities", "opportunity_id", "opportunity_id")),
    _Tool("get_contract", "Fetch the signed contract of a customer",
          {"customer_id": "{customer_id}"},
          "MSA for {customer_title}: 3-year term, renews 2027-01-31, net 45.",
          _s3("GetObject", "acme-contracts", "{customer}/msa-2024.pdf")),
    _Tool("draft_email", "Save an email draft in the user's outbox",
          {"to": "procurement@{customer}.example", "subject": "{customer_title}: next steps",
           "body": "Thanks for the call today. As discussed, ..."},
          "Draft saved (drf_{n5})."),
)

_BILLING_TOOLS = (
    _Tool("get_invoice", "Fetch an invoice with its line items and payments",
          {"invoice_id": "{invoice_id}"},
          '{{"invoice_id": "{invoice_id}", "customer_id": "{customer_id}", '
          '"total": "{amount}.00", "currency": "USD", "payments": 2}}',
          _ddb("GetItem", "invoices", "invoice_id", "invoice_id")),
    _Tool("list_invoices", "List invoices of a customer for a month",
          {"customer_id": "{customer_id}", "month": "{month}"},
          "2 invoices for {customer_title} in {month}: {invoice_id}, in_{n5}",
          _ddb("Query", "invoices", "customer_id", "customer_id")),
    # The server fetches the payment provider's key to run the refund.
    _Tool("issue_refund", "Refund an amount of an invoice through the payment provider",
          {"invoice_id": "{invoice_id}", "amount": "{amount}.00", "reason": "duplicate"},
          "Refund re_{n5} of ${amount}.00 issued on {invoice_id}.",
          _secret("prod/billing/stripe-api-key")),
    _Tool("apply_discount", "Apply a discount to a customer's subscription",
          {"customer_id": "{customer_id}", "percent": "15"},
          "15% annual-plan discount applied to {customer_title}.",
          _ddb("UpdateItem", "subscriptions", "customer_id", "customer_id")),
    _Tool("export_invoices", "Export a month of invoices as CSV for finance",
          {"customer_id": "{customer_id}", "month": "{month}"},
          "Exported to s3://acme-finance-exports/invoices/{customer}/{month}.csv",
          _s3("PutObject", "acme-finance-exports", "invoices/{customer}/{month}.csv")),
)

_INFRA_TOOLS = (
    _Tool("describe_instances", "List the EC2 instances of a service",
          {"service": "{service}", "env": "{env}"},
          "{instance_id} running (unhealthy), i-0{hex16} running (healthy), 3 more healthy",
          _describe_instances),
    _Tool("get_service_logs", "Search the last minutes of a service's logs",
          {"service": "{service}", "pattern": "502", "minutes": "15"},
          "412 matches; most frequent: 'upstream connect error' from {instance_id}",
          _filter_log_events),
    _Tool("reboot_instance", "Reboot one EC2 instance", {"instance_id": "{instance_id}"},
          "Reboot of {instance_id} requested.", _reboot_instances),
    _Tool("get_parameter", "Read a configuration parameter",
          {"name": "/{env}/{service}/config-version"},
          "/{env}/{service}/config-version = v{n2}", _get_parameter),
    _Tool("get_deploy_manifest", "Fetch the deployed manifest of a service",
          {"service": "{service}", "env": "{env}"},
          "{service} {env}: image sha256:{hex16}, deployed 2026-11-19",
          _s3("GetObject", "acme-deploy-artifacts", "{service}/{env}/manifest.json")),
)

_WAREHOUSE_TOOLS = (
    _Tool("list_tables", "List the tables of the analytics database", {"database": "analytics"},
          "orders, subscriptions, churn_events, revenue_daily, accounts (+14 more)", _get_tables),
    _Tool("run_query", "Start a SQL query in the warehouse", {"sql": "{sql}"},
          "Query {query_id} started.", _start_query),
    _Tool("get_query_results", "Fetch the rows of a finished query",
          {"query_execution_id": "{query_id}"}, "{n2} rows; first: ('{segment}', 0.0{n2})",
          _get_query_results),
    _Tool("read_dataset", "Read a curated dataset from the lake",
          {"path": "curated/{dataset}/latest.parquet"},
          "curated/{dataset}/latest.parquet: 1.2M rows, 18 columns",
          _s3("GetObject", "acme-analytics-lake", "curated/{dataset}/latest.parquet")),
    _Tool("save_report", "Save a report for sharing",
          {"name": "{report}", "content": "# Summary\n..."}, "Saved reports/{report}.md",
          _s3("PutObject", "acme-reports", "reports/{report}.md")),
)
# fmt: on


@dataclass(frozen=True, slots=True)
class _Task:
    text: str  # template over the session context
    scopes: str  # space-separated, as Okta logs grantedScopes
    core: tuple[tuple[str, str], ...]  # (tool, why) always called
    extra: tuple[tuple[str, str], ...] = ()  # called in order when the session runs longer


@dataclass(frozen=True, slots=True)
class _AgentKind:
    agent_id: str
    display: str
    version: str
    server: str
    audience: str
    department: str  # whose people use it
    weight: int  # how often it runs, relative to the others
    tools: tuple[_Tool, ...]
    tasks: tuple[_Task, ...]


# fmt: off
_AGENT_KINDS = (
    _AgentKind("support-agent", "Support Agent", "2.4.1", "crm-mcp", "api://crm", "support", 5,
               _CRM_TOOLS, (
        _Task("Update the shipping address of customer {customer}", "crm.read crm.write",
              (("get_customer", "Look up the current record of {customer}"),
               ("update_shipping_address", "Write the address the customer gave")),
              (("get_customer", "Check that the new address was saved"),
               ("add_ticket_note", "Record the change on {ticket_id}"))),
        _Task("Summarise the open tickets of {customer} before the escalation call",
              "crm.read tickets.write",
              (("get_customer", "Get the account context of {customer}"),
               ("search_tickets", "Find the open tickets")),
              (("search_knowledge_base", "Look for a known fix for the shipping delay"),
               ("add_ticket_note", "Leave the summary on {ticket_id}"))),
        _Task("Find out why order {order_id} for {customer} has not shipped", "crm.read",
              (("get_order", "Read the fulfilment status of {order_id}"),
               ("search_knowledge_base", "Check what awaiting_stock means for RNO1")),
              (("search_tickets", "See whether the customer already complained"),
               ("get_customer", "Confirm the shipping address"))),
    )),
    _AgentKind("billing-agent", "Billing Agent", "1.9.0", "billing-mcp", "api://billing",
               "finance", 3, _BILLING_TOOLS, (
        _Task("Refund the duplicate charge on invoice {invoice_id} for {customer}",
              "billing.read billing.refund",
              (("get_invoice", "Confirm the duplicate payment on {invoice_id}"),
               ("issue_refund", "Refund the second payment")),
              (("get_invoice", "Check the refund is recorded"),
               ("list_invoices", "Make sure no other invoice was charged twice"))),
        _Task("Export the {month} invoices of {customer} for finance",
              "billing.read billing.export",
              (("list_invoices", "Find the invoices of {month}"),
               ("export_invoices", "Write the CSV finance asked for"))),
        _Task("Apply the annual-plan discount to {customer}", "billing.read billing.write",
              (("list_invoices", "Check the current plan and billing cycle"),
               ("apply_discount", "Apply the agreed 15% discount")),
              (("get_invoice", "Verify the next invoice shows the discount"),)),
    )),
    _AgentKind("devops-agent", "DevOps Agent", "3.1.0", "infra-mcp", "api://infra",
               "engineering", 3, _INFRA_TOOLS, (
        _Task("Find why the {service} service is returning 502s in {env}", "infra.read",
              (("describe_instances", "See which {service} instances are unhealthy"),
               ("get_service_logs", "Read the recent 502 errors")),
              (("get_deploy_manifest", "Check whether a deploy preceded the errors"),
               ("get_parameter", "Compare the running config version"))),
        _Task("Restart the unhealthy {service} workers in {env}", "infra.read infra.operate",
              (("describe_instances", "Find the unhealthy workers"),
               ("reboot_instance", "Reboot {instance_id}")),
              (("get_service_logs", "Confirm the errors stopped after the reboot"),
               ("describe_instances", "Check the instance is healthy again"))),
        _Task("Check which config version {service} runs in {env}", "infra.read",
              (("get_parameter", "Read the configured version"),
               ("get_deploy_manifest", "Compare with the deployed manifest"))),
    )),
    _AgentKind("data-analyst", "Data Analyst", "0.8.2", "warehouse-mcp", "api://warehouse",
               "data", 2, _WAREHOUSE_TOOLS, (
        _Task("Build the weekly churn report for the {segment} segment",
              "warehouse.read reports.write",
              (("run_query", "Count churned accounts in {segment} last week"),
               ("get_query_results", "Read the churn numbers")),
              (("save_report", "Publish the weekly report"),
               ("list_tables", "Check for a newer churn_events table"))),
        _Task("Compare {quarter} revenue by region", "warehouse.read reports.write",
              (("run_query", "Sum revenue by region for {quarter}"),
               ("get_query_results", "Read the totals")),
              (("read_dataset", "Cross-check against the curated revenue dataset"),
               ("save_report", "Save the comparison"))),
        _Task("Check the row counts of yesterday's {dataset} load", "warehouse.read",
              (("list_tables", "Find the {dataset} table"),
               ("run_query", "Count yesterday's rows")),
              (("get_query_results", "Read the count"),)),
    )),
    _AgentKind("sales-assistant", "Sales Assistant", "1.2.5", "crm-mcp", "api://crm", "sales", 3,
               _CRM_TOOLS, (
        _Task("Prepare the renewal brief for {customer}", "crm.read",
              (("get_customer", "Get the account overview of {customer}"),
               ("list_opportunities", "Find the renewal opportunity")),
              (("get_contract", "Read the renewal terms of the contract"),
               ("search_tickets", "Note open support issues before the call"))),
        _Task("Log the call notes with {customer} and schedule a follow-up",
              "crm.read opportunities.write",
              (("list_opportunities", "Find the opportunity the call was about"),
               ("update_opportunity", "Move it to {stage}")),
              (("draft_email", "Prepare the follow-up email"),)),
        _Task("Draft a follow-up email to {customer} about the pricing proposal",
              "crm.read email.draft",
              (("list_opportunities", "Get the proposed pricing"),
               ("draft_email", "Write the follow-up")),
              (("get_customer", "Find the procurement contact"),)),
    )),
)
# fmt: on

# What a person does directly in AWS, by department: (label, AWS ops).
# The role each department's people assume through Okta's AWS app (SAML).
_HUMAN_ROLES = {
    "support": "SupportReadOnly",
    "finance": "FinanceAnalyst",
    "engineering": "PlatformEngineer",
    "data": "DataAnalyst",
    "sales": "SalesOps",
}

# fmt: off
_DIRECT_WORK: dict[str, tuple[tuple[str, tuple[AwsOp, ...]], ...]] = {
    "support": (
        ("look up {customer} in the console",
         (_ddb("GetItem", "customers", "customer_id", "customer_id"),)),
    ),
    "finance": (
        ("download the {month} finance export",
         (_s3("GetObject", "acme-finance-exports", "invoices/{customer}/{month}.csv"),)),
    ),
    "engineering": (
        ("inspect {service} instances in {env}", (_describe_instances, _filter_log_events)),
        ("read the {env} config of {service}", (_get_parameter, _secret("{env}/{service}/db"))),
        ("reboot a {service} worker in {env}", (_describe_instances, _reboot_instances)),
    ),
    "data": (
        ("query {dataset} in Athena", (_start_query, _get_query_results)),
        ("download the {dataset} dataset",
         (_s3("GetObject", "acme-analytics-lake", "curated/{dataset}/latest.parquet"),)),
    ),
    "sales": (
        ("open the contract of {customer}",
         (_s3("GetObject", "acme-contracts", "{customer}/msa-2024.pdf"),)),
    ),
}
# fmt: on


def _check_tables() -> None:
    """Plans stay within the brief: 2-6 tool calls, 1-4 of them calling AWS, first one AWS."""
    for kind in _AGENT_KINDS:
        tools = {t.name: t for t in kind.tools}
        for task in kind.tasks:
            steps = [tools[name] for name, _ in task.core + task.extra]
            aws_steps = [t for t in steps if t.aws is not None]
            assert len(task.core) >= 2 and len(steps) <= 6, task.text
            assert 1 <= len(aws_steps) <= 4 and tools[task.core[0][0]].aws, task.text


_check_tables()

# ---------------------------------------------------------------------------------------------
# Context values that fill the templates.

_CUSTOMERS = (
    ("globex", "Globex Corporation"),
    ("initech", "Initech"),
    ("umbrella", "Umbrella Health"),
    ("hooli", "Hooli"),
    ("soylent", "Soylent Foods"),
    ("stark", "Stark Industries"),
    ("wayne", "Wayne Enterprises"),
    ("wonka", "Wonka Confectionery"),
    ("tyrell", "Tyrell Corporation"),
    ("cyberdyne", "Cyberdyne Systems"),
    ("vandelay", "Vandelay Industries"),
    ("piedpiper", "Pied Piper"),
    ("massive", "Massive Dynamic"),
    ("aperture", "Aperture Science"),
    ("bluesun", "Blue Sun"),
    ("oscorp", "Oscorp"),
    ("duff", "Duff Beverages"),
    ("gringotts", "Gringotts Bank"),
    ("prestige", "Prestige Worldwide"),
    ("dunder", "Dunder Mifflin"),
)
_ADDRESSES = (
    "221B Baker Street, London NW1 6XE, GB",
    "1600 Amphitheatre Pkwy, Mountain View, CA 94043, US",
    "350 Fifth Avenue, New York, NY 10118, US",
    "Unter den Linden 77, 10117 Berlin, DE",
    "1 Infinite Loop, Cupertino, CA 95014, US",
    "100 Queen St W, Toronto, ON M5H 2N2, CA",
    "Rue de Rivoli 99, 75001 Paris, FR",
    "500 Terry Francine St, San Francisco, CA 94158, US",
)
_TIERS = ("enterprise", "growth", "starter")
_STAGES = ("Discovery", "Proposal", "Negotiation", "Closed Won")
_SERVICES = ("checkout", "payments", "search", "auth-gateway", "notifications")
_ENVS = ("prod", "prod", "staging")
_SEGMENTS = ("enterprise", "mid-market", "smb")
_QUARTERS = ("Q2 2026", "Q3 2026")
_DATASETS = ("orders", "subscriptions", "revenue_daily", "web_sessions")
_MONTHS = ("2026-09", "2026-10")
_KB_QUERIES = ("shipping delay awaiting stock", "change billing contact", "sso setup okta")
_SQL = {
    "churn": (
        "SELECT segment, count(*) AS churned FROM churn_events "
        "WHERE event_date >= date_add('day', -7, current_date) AND segment = '{segment}' "
        "GROUP BY segment"
    ),
    "revenue": (
        "SELECT region, sum(amount_usd) AS revenue FROM revenue_daily "
        "WHERE quarter = '{quarter}' GROUP BY region ORDER BY revenue DESC"
    ),
    "rows": "SELECT count(*) FROM {dataset} WHERE load_date = current_date - interval '1' day",
}


def _context(rng: random.Random, customers: tuple[tuple[str, str, str], ...]) -> Ctx:
    slug, title, customer_id = customers[int(rng.random() * len(customers))]
    r = rng.random
    c: Ctx = {
        "customer": slug,
        "customer_title": title,
        "customer_id": customer_id,
        "tier": _TIERS[int(r() * 3)],
        "old_address": _ADDRESSES[int(r() * len(_ADDRESSES))],
        "new_address": _ADDRESSES[int(r() * len(_ADDRESSES))],
        "order_id": f"ord_{rng.getrandbits(40):012d}",
        "invoice_id": "in_" + _urlsafe(rng, 9).replace("-", "A").replace("_", "b"),
        "ticket_id": f"TCK-{int(r() * 90000) + 10000}",
        "opportunity_id": f"opp_{rng.getrandbits(32):08x}",
        "stage": _STAGES[int(r() * 4)],
        "amount": str(int(r() * 480) + 20),
        "month": _MONTHS[int(r() * 2)],
        "service": _SERVICES[int(r() * len(_SERVICES))],
        "env": _ENVS[int(r() * 3)],
        "instance_id": f"i-0{rng.getrandbits(64):016x}",
        "hex16": f"{rng.getrandbits(64):016x}",
        "segment": _SEGMENTS[int(r() * 3)],
        "quarter": _QUARTERS[int(r() * 2)],
        "dataset": _DATASETS[int(r() * 4)],
        "query_id": _uuid(rng),
        "kb_query": _KB_QUERIES[int(r() * 3)],
        "n5": str(int(r() * 90000) + 10000),
        "n5b": str(int(r() * 90000) + 10000),
        "n2": str(int(r() * 90) + 10),
    }
    c["note"] = f"Customer asked to ship future orders to {c['new_address']}."
    c["report"] = f"churn-{c['segment']}-{c['month']}"
    c["sql"] = _SQL[("churn", "revenue", "rows")[int(r() * 3)]].format_map(c)
    return c


# ---------------------------------------------------------------------------------------------
# The organisation: people, agent instances, Okta and AWS ids (stable for a seed).

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


class _Generator:
    """An endless, deterministic stream of sessions for one (seed, start, run_id)."""

    def __init__(self, seed: int, start: datetime | None, run_id: str) -> None:
        start = DEFAULT_START if start is None else start
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        # Not for secrets: sample data must be reproducible from the seed.
        self.rng = random.Random(f"agentledger-sampledata:{seed}:{run_id}")  # noqa: S311
        self.d = _directory(seed)
        self.t = int(start.timestamp() * 1000)
        self.tools = {
            kind.agent_id: (
                {t.name: t for t in kind.tools},
                orjson.dumps([t.schema() for t in kind.tools]),
            )
            for kind in _AGENT_KINDS
        }
        # Cumulative weights make rng.choices cheap on the hot path.
        total = 0
        self.cum_weights: list[int] = []
        for w in self.d.instance_weights:
            total += w
            self.cum_weights.append(total)

    def sessions(self) -> Iterator[SampleSession]:
        rng = self.rng
        while True:
            self.t += 2_000 + int(rng.expovariate(1 / 40_000))
            if rng.random() < DIRECT_SHARE:
                yield self._direct_session()
            else:
                yield self._agent_session()

    def _agent_session(self) -> SampleSession:
        rng, d = self.rng, self.d
        r = rng.random
        inst = rng.choices(d.instances, cum_weights=self.cum_weights)[0]
        kind = inst.kind
        person = inst.users[int(r() * len(inst.users))]
        task = kind.tasks[int(r() * len(kind.tasks))]
        ctx = _context(rng, d.customers)
        task_text = task.text.format_map(ctx)
        scopes = task.scopes
        jti = "AT." + _urlsafe(rng, 24)
        sid = "idx" + _urlsafe(rng, 18)
        txn = _urlsafe(rng, 18)
        records: list[SampleRecord] = []
        add = records.append
        t = self.t

        # 1. Okta: the person's sign-in (often outside the window), then the token grant.
        if r() < 0.7:
            add(SampleRecord("okta", _session_start(rng, t, person, sid, txn)))
            t += 3_000 + int(r() * 20_000)
        grant_t = t
        add(SampleRecord("okta", _token_grant(rng, t, d, inst, person, sid, txn, jti, scopes)))

        # 2. MCP: the bearer JWT carries the same jti.
        iat = grant_t // 1000
        claims = {
            "ver": 1,
            "jti": jti,
            "iss": d.issuer,
            "aud": kind.audience,
            "iat": iat,
            "exp": iat + 3600,
            "cid": inst.client_id,
            "client_id": inst.client_id,
            "uid": person.user_id,
            "scp": task.scopes.split(),
            "scope": scopes,
            "auth_time": iat - 30,
            "sub": person.user_id,
            "act": {"sub": f"spiffe://{ORG_DOMAIN}/agents/{kind.agent_id}/{inst.instance}"},
        }
        signature = _urlsafe(rng, 255) + "Ag"  # 256 bytes, like an RS256 signature
        bearer = f"Bearer {_JWT_HEADER}.{_b64url_json(claims)}.{signature}"
        mcp_session = _uuid(rng)
        trace = f"{rng.getrandbits(128):032x}"
        server = kind.server

        def request(ts: int, message: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
            traceparent = f"00-{trace}-{rng.getrandbits(64):016x}-01"
            if meta is not None:  # the same span in the header and in params._meta
                meta["traceparent"] = traceparent
            line = {
                "ts": _iso_ms(ts),
                "direction": "client_to_server",
                "server": server,
                "headers": {
                    "Mcp-Session-Id": mcp_session,
                    "Authorization": bearer,
                    "traceparent": traceparent,
                },
                "message": message,
            }
            add(SampleRecord("mcp", line))

        def reply(ts: int, message: dict[str, Any]) -> None:
            line = {
                "ts": _iso_ms(ts),
                "direction": "server_to_client",
                "server": server,
                "headers": {"Mcp-Session-Id": mcp_session},
                "message": message,
            }
            add(SampleRecord("mcp", line))

        t += 300 + int(r() * 1_500)
        request(
            t,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": MCP_PROTOCOL,
                    "capabilities": {},
                    "clientInfo": {"name": kind.agent_id, "version": kind.version},
                },
            },
        )
        t += 40 + int(r() * 200)
        reply(
            t,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "result": {
                    "protocolVersion": MCP_PROTOCOL,
                    "capabilities": {"tools": {"listChanged": False}, "logging": {}},
                    "serverInfo": {"name": server, "version": "1.4.0"},
                },
            },
        )
        t += 10 + int(r() * 60)
        request(t, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        t += 20 + int(r() * 100)
        request(t, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        tools, schemas = self.tools[kind.agent_id]
        t += 20 + int(r() * 120)
        # Records share no objects: a consumer may change one without touching another.
        reply(t, {"jsonrpc": "2.0", "id": 2, "result": {"tools": orjson.loads(schemas)}})

        # 3. tools/call; the server assumes the agent's role before its first AWS call.
        steps = task.core
        if task.extra:
            steps = steps + task.extra[: int(r() * (len(task.extra) + 1))]
        key = ""
        identity: dict[str, Any] = {}
        first_aws = True
        for number, (tool_name, why) in enumerate(steps, start=3):
            tool = tools[tool_name]
            t += 800 + int(r() * 6_000)  # the model thinks
            args = tool.arguments(ctx)
            meta: dict[str, Any] = {
                "traceparent": "",
                "io.modelcontextprotocol/aiInvocation": {
                    "userIntent": {"text": task_text},
                    "invocationReason": {"text": why.format_map(ctx)},
                    "model": {"name": "claude-sonnet-4"},
                    "turnId": f"turn_{rng.getrandbits(64):016x}",
                },
            }
            params = {"name": tool_name, "arguments": args, "_meta": meta}
            message = {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": params}
            request(t, message, meta)
            protected = tool.aws is not None and first_aws
            roll = 1.0 if protected else r()
            if roll < RPC_ERROR_RATE:
                t += 5 + int(r() * 30)
                message = {
                    "jsonrpc": "2.0",
                    "id": number,
                    "error": {
                        "code": -32602,
                        "message": f"Invalid params: unexpected value for "
                        f"'{next(iter(args))}' in {tool_name}",
                    },
                }
                reply(t, message)
                continue
            is_error = False
            text = ""
            if tool.aws is not None:
                if first_aws:
                    first_aws = False
                    t += 80 + int(r() * 300)
                    key, assume = _assume_web_identity(rng, t, d, inst, person.user_id, jti)
                    add(SampleRecord("cloudtrail", assume))
                    identity = _assumed_role_identity(
                        d, inst.role, inst.role_id, jti, key, t, web=True
                    )
                t += 30 + int(r() * 250)
                denied = r() < ACCESS_DENIED_RATE
                call = _api_call(
                    rng, t, d, identity, inst.server_ip, _BOTO_UA, tool.aws, ctx, denied
                )
                add(SampleRecord("cloudtrail", call))
                if denied:
                    is_error = True
                    text = f"AccessDenied: {call['errorMessage']}"
            if not is_error and roll < RPC_ERROR_RATE + TOOL_ERROR_RATE:
                is_error = True
                text = "Upstream request timed out after 30s"
            t += 40 + int(r() * 500)
            reply(
                t,
                {
                    "jsonrpc": "2.0",
                    "id": number,
                    "result": {
                        "content": [{"type": "text", "text": text or tool.result.format_map(ctx)}],
                        "isError": is_error,
                    },
                },
            )
        label = f"{person.login} / {kind.agent_id}: {task_text}"
        return SampleSession(label, jti, records)

    def _direct_session(self) -> SampleSession:
        rng, d = self.rng, self.d
        r = rng.random
        people = d.people
        person = people[int(r() * len(people))]
        work = _DIRECT_WORK[person.department]
        label_template, ops = work[int(r() * len(work))]
        ctx = _context(rng, d.customers)
        sid = "idx" + _urlsafe(rng, 18)
        txn = _urlsafe(rng, 18)
        t = self.t
        records = [SampleRecord("okta", _session_start(rng, t, person, sid, txn))]
        add = records.append
        t += 2_000 + int(r() * 15_000)
        if person.iam_key and r() < 0.4:
            # An engineer's long-term access key: an IAM user, no session at all.
            identity: dict[str, Any] = {
                "type": "IAMUser",
                "principalId": person.iam_user_id,
                "arn": f"arn:aws:iam::{d.account}:user/{person.login}",
                "accountId": d.account,
                "accessKeyId": person.iam_key,
                "userName": person.login,
            }
        else:
            add(SampleRecord("okta", _aws_sso(rng, t, d, person, sid, txn)))
            t += 1_000 + int(r() * 3_000)
            role = _HUMAN_ROLES[person.department]
            role_id = d.human_role_ids[person.department]
            key, assume = _assume_saml(rng, t, d, person, role, role_id)
            add(SampleRecord("cloudtrail", assume))
            identity = _assumed_role_identity(d, role, role_id, person.email, key, t, web=False)
        for op in ops:
            t += 2_000 + int(r() * 20_000)
            denied = r() < ACCESS_DENIED_RATE
            call = _api_call(rng, t, d, identity, person.ip, _CLI_UA, op, ctx, denied)
            add(SampleRecord("cloudtrail", call))
        label = f"{person.login} (direct): {label_template.format_map(ctx)}"
        return SampleSession(label, "", records)


# ---------------------------------------------------------------------------------------------
# Public API.


def generate_sessions(
    count: int, *, seed: int = 7, start: datetime | None = None, run_id: str = ""
) -> list[SampleSession]:
    """``count`` sessions, deterministic for the same ``seed``, ``start`` and ``run_id``."""
    stream = _Generator(seed, start, run_id).sessions()
    return [next(stream) for _ in range(count)]


def iter_records(
    total_records: int, *, seed: int = 7, start: datetime | None = None, run_id: str = ""
) -> Iterator[SampleRecord]:
    """Exactly ``total_records`` records, session after session (the last one cut short)."""
    remaining = total_records
    if remaining <= 0:
        return
    for session in _Generator(seed, start, run_id).sessions():
        records = session.records
        if len(records) >= remaining:
            yield from records[:remaining]
            return
        yield from records
        remaining -= len(records)


def _time_of(sample: SampleRecord) -> str:
    record = sample.record
    return str(record.get("published") or record.get("eventTime") or record.get("ts") or "")


def write_files(sessions: list[SampleSession], directory: Path) -> dict[str, Path]:
    """``okta.jsonl``, ``cloudtrail.json`` (``{"Records": [...]}`` as delivered to S3) and
    ``mcp.jsonl`` in ``directory``, each in time order across sessions; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    by_source: dict[str, list[SampleRecord]] = {"okta": [], "cloudtrail": [], "mcp": []}
    for session in sessions:
        for sample in session.records:
            by_source[sample.source].append(sample)
    for samples in by_source.values():
        samples.sort(key=_time_of)  # stable: ties keep session order
    paths = {
        "okta": directory / "okta.jsonl",
        "cloudtrail": directory / "cloudtrail.json",
        "mcp": directory / "mcp.jsonl",
    }
    for source in ("okta", "mcp"):
        lines = b"".join(orjson.dumps(s.record) + b"\n" for s in by_source[source])
        paths[source].write_bytes(lines)
    trail = {"Records": [s.record for s in by_source["cloudtrail"]]}
    paths["cloudtrail"].write_bytes(orjson.dumps(trail, option=orjson.OPT_INDENT_2))
    return paths
