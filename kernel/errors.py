"""One root exception for the whole product, each subclass keeping where it happened."""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error Agent Ledger raises on purpose."""


class ConfigError(LedgerError):
    """A setting is missing or wrong; the message says how to fix it."""


class RecordError(LedgerError):
    """A raw record cannot be parsed.

    Carries the source, the position (``file:line`` or ``topic/partition/offset``) and,
    where known, the field that was wrong, so the dead-letter entry says exactly where
    to look.
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str = "",
        position: str = "",
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.source = source
        self.position = position
        self.field = field
        super().__init__(self.describe())

    def describe(self) -> str:
        where = " ".join(p for p in (self.source, self.position) if p)
        what = f"{self.field}: {self.reason}" if self.field else self.reason
        return f"{where}: {what}" if where else what

    def located(self, *, source: str, position: str) -> RecordError:
        """The same error with its source and position filled in."""
        return RecordError(self.reason, source=source, position=position, field=self.field)


class StackError(LedgerError):
    """The embedded stack (broker, worker, ledger) cannot start or cannot be reached."""


class StackGoneError(StackError):
    """The running stack a command was using exited under it; the message names what the
    command had sent and what is at risk, ``details`` the same as numbers."""

    def __init__(self, message: str, details: dict[str, object] | None = None) -> None:
        self.details = details or {}
        super().__init__(message)


class StoreError(LedgerError):
    """The ledger store refused a query; keeps the engine's code and name where given."""

    def __init__(self, message: str, *, code: int | None = None, name: str | None = None) -> None:
        self.code = code
        self.name = name
        super().__init__(message)


class RefusedError(StoreError):
    """The ledger answered, and refused the rows themselves (a constraint they violate, a
    value it cannot parse or store): sending them again cannot help, unlike an outage."""


class EvidenceError(LedgerError):
    """The ledger's records do not verify against their hash chains and signed digests."""
