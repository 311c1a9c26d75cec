"""Signed-in browsers: the chain page's sessions, kept on the server.

A browser signs in once by posting an API key (or a JWT) in a form; the key is checked and
then forgotten. The browser gets a cookie holding a random session id (256 bits), never the
key; the server keeps only the id's SHA-256, with who signed in and until when. A session
ends at its absolute expiry, after a spell of idleness, when the API key it was opened with
is revoked, when a JWT's own ``exp`` passes, or at sign-out. Sessions live in the memory of
the process that serves the API: restarting the ledger signs everyone out.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from agentledger.auth import Caller

COOKIE = "agentledger_session"
LIFETIME_S = 8 * 3600.0
IDLE_S = 3600.0
MOST_SESSIONS = 10_000  # beyond this, the session used least recently is ended first


@dataclass(slots=True)
class _Session:
    caller: Caller
    key_id: str | None  # the API key it was opened with (its public id), if it was one
    expires_at: float
    last_used: float


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class BrowserSessions:
    """The signed-in browsers of one API process. ``still_issued(key_id)`` says whether an
    API key is still valid (``ApiKeys.holds``); ``clock`` gives UTC epoch seconds."""

    def __init__(
        self,
        still_issued: Callable[[str], bool],
        *,
        lifetime_s: float = LIFETIME_S,
        idle_s: float = IDLE_S,
        most: int = MOST_SESSIONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.still_issued = still_issued
        self.lifetime_s = lifetime_s
        self.idle_s = idle_s
        self.most = most
        self.clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}

    def open(self, caller: Caller, *, key_id: str | None, not_after: float | None = None) -> str:
        """A new session for ``caller``: its id, for the cookie (never stored as it is).
        ``not_after``: when the credential itself expires (a JWT's ``exp``)."""
        now = self.clock()
        expires_at = now + self.lifetime_s
        if not_after is not None:
            expires_at = min(expires_at, not_after)
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            while len(self._sessions) >= self.most:
                oldest = min(self._sessions, key=lambda d: self._sessions[d].last_used)
                del self._sessions[oldest]
            self._sessions[_digest(session_id)] = _Session(caller, key_id, expires_at, now)
        return session_id

    def caller(self, session_id: str) -> Caller | None:
        """Who holds ``session_id``, or ``None`` when it is unknown or has ended."""
        digest = _digest(session_id)
        now = self.clock()
        with self._lock:
            session = self._sessions.get(digest)
            if session is None:
                return None
            ended = (
                now >= session.expires_at
                or now - session.last_used >= self.idle_s
                or (session.key_id is not None and not self.still_issued(session.key_id))
            )
            if ended:
                del self._sessions[digest]
                return None
            session.last_used = now
            return session.caller

    def close(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(_digest(session_id), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
