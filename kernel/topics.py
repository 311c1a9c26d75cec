"""Topic names, all under one prefix so that tests and tenants can each have their own."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = "ledger"

    def raw(self, source: str) -> str:
        return f"{self.prefix}.raw.{source}"

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def calls(self) -> str:
        """Agents' tool traffic (the events of sources whose ``Source.tool_traffic`` is
        set: MCP calls and results): the worker reads it ahead of ``events``, so that a
        drifting call is scored and contracted without waiting behind other traffic."""
        return f"{self.prefix}.events.calls"

    def events_of(self, tool_traffic: bool) -> str:
        """The topic a source's events go to."""
        return self.calls if tool_traffic else self.events

    @property
    def event_topics(self) -> list[str]:
        """Every topic of typed events the worker reads."""
        return [self.events, self.calls]

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.dlq"

    @property
    def declared(self) -> str:
        return f"{self.prefix}.sessions.declared"

    @property
    def contractions(self) -> str:
        return f"{self.prefix}.contractions"

    @property
    def digests(self) -> str:
        """The signed digests of the raw events' hash chains (``processors.evidence``)."""
        return f"{self.prefix}.digests"

    def all(self, sources: list[str]) -> list[str]:
        return [
            *(self.raw(s) for s in sources),
            self.events,
            self.calls,
            self.dlq,
            self.declared,
            self.contractions,
            self.digests,
        ]

    @property
    def worker_group(self) -> str:
        return f"{self.prefix}.worker"

    @property
    def signals_group(self) -> str:
        """The consumer group of the Shared Signals transmitter that reads contractions."""
        return f"{self.prefix}.ssf"

    @property
    def normalizer_group(self) -> str:
        """The consumer group of the normalizer that reads shippers' raw topics."""
        return f"{self.prefix}.normalizer"
