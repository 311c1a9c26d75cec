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

from agentledger.sampledata.common import SampleRecord, SampleSession
from agentledger.sampledata.generator import generate_sessions, iter_records, write_files

__all__ = ["SampleRecord", "SampleSession", "generate_sessions", "iter_records", "write_files"]
