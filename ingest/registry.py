"""The sources Agent Ledger reads, by name. Adding one is one import and one line here."""

from __future__ import annotations

from ingest.base import Source
from ingest.cloudtrail import CloudTrailSource
from ingest.entra import EntraSource
from ingest.envoy import EnvoyAccessLogSource
from ingest.github import GitHubAuditSource
from ingest.mcp import McpSource
from ingest.okta import OktaSource
from ingest.otel import OtelTraceSource
from kernel.errors import ConfigError

SOURCES: dict[str, type[Source]] = {
    source.name: source
    for source in (
        OktaSource,
        CloudTrailSource,
        McpSource,
        EntraSource,
        OtelTraceSource,
        EnvoyAccessLogSource,
        GitHubAuditSource,
    )
}


def get_source(name: str) -> Source:
    try:
        return SOURCES[name]()
    except KeyError:
        known = ", ".join(sorted(SOURCES))
        raise ConfigError(f"unknown source {name!r}; known sources: {known}") from None
