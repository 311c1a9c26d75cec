"""Agent Ledger: an event-sourced attribution ledger for AI-agent activity."""

__version__ = "0.1.0"
