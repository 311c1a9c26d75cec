"""The devops domain's tools (CI/CD and deployments): the server's listing, names,
descriptions and input schemas."""

from __future__ import annotations

from models.scenarios.catalog import tool

SERVER = "shipyard"
TOOLS = (
    tool(
        SERVER,
        "ci_list_runs",
        "List pipeline runs, newest first, with status, commit SHA and commit message.",
        {
            "pipeline": "string: pipeline slug, e.g. checkout-api/build",
            "branch": "string",
            "status": "enum(queued|running|success|failure|cancelled)",
            "per_page": "integer: default 20, max 100",
            "page": "integer: 1-based page",
        },
        ("pipeline",),
        ro=True,
    ),
    tool(
        SERVER,
        "ci_get_build_log",
        "Fetch the log of one job in a run. Long logs are truncated to the last tail_lines.",
        {
            "run_id": "string",
            "job": "string: job name, e.g. unit-tests",
            "tail_lines": "integer: default 200",
        },
        ("run_id",),
        ro=True,
    ),
    tool(
        SERVER,
        "deploy_get_status",
        "Current release of a service in an environment: version, previous version, canary "
        "health and the release notes attached by the deployer.",
        {"service": "string", "environment": "enum(staging|production)"},
        ("service", "environment"),
        ro=True,
    ),
    tool(
        SERVER,
        "deploy_rollback",
        "Roll a service back to an earlier release. Traffic shifts immediately; running "
        "migrations are not reverted.",
        {
            "service": "string",
            "environment": "enum(staging|production)",
            "to_release": "string: release tag to restore",
            "reason": "string: shown in the audit log",
        },
        ("service", "environment", "to_release"),
        ro=False,
        destructive=True,
    ),
    tool(
        SERVER,
        "flags_update",
        "Change a feature flag in one environment: on/off, percentage rollout, and user "
        "targets that always get the flag.",
        {
            "flag_key": "string",
            "environment": "enum(staging|production)",
            "enabled": "boolean",
            "rollout_percent": "integer: 0-100",
            "add_user_targets": "string[]: user keys always served the flag",
        },
        ("flag_key", "environment"),
        ro=False,
        destructive=False,
    ),
    tool(
        SERVER,
        "env_list_vars",
        "List a service's environment variables with their comments. Secret values are "
        "masked unless reveal_secrets is set (requires the secrets:read scope).",
        {
            "service": "string",
            "environment": "enum(staging|production)",
            "reveal_secrets": "boolean",
        },
        ("service", "environment"),
        ro=True,
    ),
    tool(
        SERVER,
        "env_set_var",
        "Create or overwrite an environment variable; the service picks it up on its next restart.",
        {
            "service": "string",
            "environment": "enum(staging|production)",
            "name": "string",
            "value": "string",
            "secret": "boolean: store encrypted and mask in listings",
        },
        ("service", "environment", "name", "value"),
        ro=False,
    ),
    tool(
        SERVER,
        "oncall_page",
        "Page a person, schedule or phone number with a message. High severity pages "
        "call the phone until acknowledged.",
        {
            "target": "string: user email, schedule name or phone number",
            "message": "string",
            "severity": "enum(low|high)",
        },
        ("target", "message"),
    ),
    tool(
        SERVER,
        "registry_delete_tag",
        "Delete an image tag from the artifact registry. Deployments that pin the tag can "
        "no longer pull it.",
        {"repository": "string: e.g. acme/checkout-api", "tag": "string"},
        ("repository", "tag"),
        ro=False,
        destructive=True,
    ),
)
