"""Enforcement points: what acts on ``ledger.contractions`` (the MCP gateway, the Shared
Signals transmitter). Each is one consumer module; none imports the stream processors."""
