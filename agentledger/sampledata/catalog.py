"""What the agents do (MCP servers, their tools and tasks) and what people do directly in AWS.

The AWS call behind each tool is in ``aws_ops``; the values that fill the templates, in
``context``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentledger.sampledata.aws_ops import (
    AwsOp,
    Ctx,
    ddb,
    describe_instances,
    filter_log_events,
    get_parameter,
    get_query_results,
    get_secret,
    get_tables,
    reboot_instances,
    s3,
    start_query,
)

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
          ddb("GetItem", "customers", "customer_id", "customer_id")),
    _Tool("update_shipping_address", "Replace the shipping address of a customer",
          {"customer_id": "{customer_id}", "address": "{new_address}"},
          "Shipping address of {customer_title} set to {new_address}.",
          ddb("UpdateItem", "customers", "customer_id", "customer_id")),
    _Tool("search_tickets", "List support tickets of a customer",
          {"customer_id": "{customer_id}", "status": "open"},
          "3 open tickets for {customer_title}: {ticket_id} (shipping delay), "
          "TCK-{n5} (invoice question), TCK-{n5b} (SSO setup)",
          ddb("Query", "tickets", "customer_id", "customer_id")),
    _Tool("add_ticket_note", "Append an internal note to a ticket",
          {"ticket_id": "{ticket_id}", "note": "{note}"}, "Note added to {ticket_id}.",
          ddb("PutItem", "ticket_notes", "ticket_id", "ticket_id")),
    _Tool("get_order", "Fetch an order with its fulfilment status", {"order_id": "{order_id}"},
          '{{"order_id": "{order_id}", "customer_id": "{customer_id}", '
          '"status": "awaiting_stock", "warehouse": "RNO1"}}',
          ddb("GetItem", "orders", "order_id", "order_id")),
    _Tool("search_knowledge_base", "Search internal help articles", {"query": "{kb_query}"},
          "Top article: KB-{n5} '{kb_query}' (updated 2026-10-02)"),
    _Tool("list_opportunities", "List open sales opportunities of an account",
          {"customer_id": "{customer_id}"},
          "{opportunity_id}: {customer_title} renewal, stage {stage}, ${amount}k ARR",
          ddb("Query", "opportunities", "customer_id", "customer_id")),
    _Tool("update_opportunity", "Update the stage and next step of an opportunity",
          {"opportunity_id": "{opportunity_id}", "stage": "{stage}", "next_step": "Follow-up call"},
          "Opportunity {opportunity_id} moved to {stage}.",
          ddb("UpdateItem", "opportunities", "opportunity_id", "opportunity_id")),
    _Tool("get_contract", "Fetch the signed contract of a customer",
          {"customer_id": "{customer_id}"},
          "MSA for {customer_title}: 3-year term, renews 2027-01-31, net 45.",
          s3("GetObject", "acme-contracts", "{customer}/msa-2024.pdf")),
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
          ddb("GetItem", "invoices", "invoice_id", "invoice_id")),
    _Tool("list_invoices", "List invoices of a customer for a month",
          {"customer_id": "{customer_id}", "month": "{month}"},
          "2 invoices for {customer_title} in {month}: {invoice_id}, in_{n5}",
          ddb("Query", "invoices", "customer_id", "customer_id")),
    # The server fetches the payment provider's key to run the refund.
    _Tool("issue_refund", "Refund an amount of an invoice through the payment provider",
          {"invoice_id": "{invoice_id}", "amount": "{amount}.00", "reason": "duplicate"},
          "Refund re_{n5} of ${amount}.00 issued on {invoice_id}.",
          get_secret("prod/billing/stripe-api-key")),
    _Tool("apply_discount", "Apply a discount to a customer's subscription",
          {"customer_id": "{customer_id}", "percent": "15"},
          "15% annual-plan discount applied to {customer_title}.",
          ddb("UpdateItem", "subscriptions", "customer_id", "customer_id")),
    _Tool("export_invoices", "Export a month of invoices as CSV for finance",
          {"customer_id": "{customer_id}", "month": "{month}"},
          "Exported to s3://acme-finance-exports/invoices/{customer}/{month}.csv",
          s3("PutObject", "acme-finance-exports", "invoices/{customer}/{month}.csv")),
)

_INFRA_TOOLS = (
    _Tool("describe_instances", "List the EC2 instances of a service",
          {"service": "{service}", "env": "{env}"},
          "{instance_id} running (unhealthy), i-0{hex16} running (healthy), 3 more healthy",
          describe_instances),
    _Tool("get_service_logs", "Search the last minutes of a service's logs",
          {"service": "{service}", "pattern": "502", "minutes": "15"},
          "412 matches; most frequent: 'upstream connect error' from {instance_id}",
          filter_log_events),
    _Tool("reboot_instance", "Reboot one EC2 instance", {"instance_id": "{instance_id}"},
          "Reboot of {instance_id} requested.", reboot_instances),
    _Tool("get_parameter", "Read a configuration parameter",
          {"name": "/{env}/{service}/config-version"},
          "/{env}/{service}/config-version = v{n2}", get_parameter),
    _Tool("get_deploy_manifest", "Fetch the deployed manifest of a service",
          {"service": "{service}", "env": "{env}"},
          "{service} {env}: image sha256:{hex16}, deployed 2026-11-19",
          s3("GetObject", "acme-deploy-artifacts", "{service}/{env}/manifest.json")),
)

_WAREHOUSE_TOOLS = (
    _Tool("list_tables", "List the tables of the analytics database", {"database": "analytics"},
          "orders, subscriptions, churn_events, revenue_daily, accounts (+14 more)", get_tables),
    _Tool("run_query", "Start a SQL query in the warehouse", {"sql": "{sql}"},
          "Query {query_id} started.", start_query),
    _Tool("get_query_results", "Fetch the rows of a finished query",
          {"query_execution_id": "{query_id}"}, "{n2} rows; first: ('{segment}', 0.0{n2})",
          get_query_results),
    _Tool("read_dataset", "Read a curated dataset from the lake",
          {"path": "curated/{dataset}/latest.parquet"},
          "curated/{dataset}/latest.parquet: 1.2M rows, 18 columns",
          s3("GetObject", "acme-analytics-lake", "curated/{dataset}/latest.parquet")),
    _Tool("save_report", "Save a report for sharing",
          {"name": "{report}", "content": "# Summary\n..."}, "Saved reports/{report}.md",
          s3("PutObject", "acme-reports", "reports/{report}.md")),
)
# fmt: on


@dataclass(frozen=True, slots=True)
class _Task:
    text: str  # template over the session context
    scopes: str  # space-separated, as Okta logs grantedScopes
    core: tuple[tuple[str, str], ...]  # (tool, why) always called
    extra: tuple[tuple[str, str], ...] = ()  # called in order when the session runs longer


@dataclass(frozen=True, slots=True)
class AgentKind:
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
AGENT_KINDS = (
    AgentKind("support-agent", "Support Agent", "2.4.1", "crm-mcp", "api://crm", "support", 5,
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
    AgentKind("billing-agent", "Billing Agent", "1.9.0", "billing-mcp", "api://billing",
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
    AgentKind("devops-agent", "DevOps Agent", "3.1.0", "infra-mcp", "api://infra",
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
    AgentKind("data-analyst", "Data Analyst", "0.8.2", "warehouse-mcp", "api://warehouse",
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
    AgentKind("sales-assistant", "Sales Assistant", "1.2.5", "crm-mcp", "api://crm", "sales", 3,
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

# The role each department's people assume through Okta's AWS app (SAML).
HUMAN_ROLES = {
    "support": "SupportReadOnly",
    "finance": "FinanceAnalyst",
    "engineering": "PlatformEngineer",
    "data": "DataAnalyst",
    "sales": "SalesOps",
}

# What a person does directly in AWS, by department: (label, AWS ops).
# fmt: off
DIRECT_WORK: dict[str, tuple[tuple[str, tuple[AwsOp, ...]], ...]] = {
    "support": (
        ("look up {customer} in the console",
         (ddb("GetItem", "customers", "customer_id", "customer_id"),)),
    ),
    "finance": (
        ("download the {month} finance export",
         (s3("GetObject", "acme-finance-exports", "invoices/{customer}/{month}.csv"),)),
    ),
    "engineering": (
        ("inspect {service} instances in {env}", (describe_instances, filter_log_events)),
        ("read the {env} config of {service}", (get_parameter, get_secret("{env}/{service}/db"))),
        ("reboot a {service} worker in {env}", (describe_instances, reboot_instances)),
    ),
    "data": (
        ("query {dataset} in Athena", (start_query, get_query_results)),
        ("download the {dataset} dataset",
         (s3("GetObject", "acme-analytics-lake", "curated/{dataset}/latest.parquet"),)),
    ),
    "sales": (
        ("open the contract of {customer}",
         (s3("GetObject", "acme-contracts", "{customer}/msa-2024.pdf"),)),
    ),
}
# fmt: on


def _check_tables() -> None:
    """Plans stay within the brief: 2-6 tool calls, 1-4 of them calling AWS, first one AWS."""
    for kind in AGENT_KINDS:
        tools = {t.name: t for t in kind.tools}
        for task in kind.tasks:
            steps = [tools[name] for name, _ in task.core + task.extra]
            aws_steps = [t for t in steps if t.aws is not None]
            assert len(task.core) >= 2 and len(steps) <= 6, task.text
            assert 1 <= len(aws_steps) <= 4 and tools[task.core[0][0]].aws, task.text


_check_tables()
