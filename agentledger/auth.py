"""Who is calling the ledger's HTTP API, and what they may do.

Two kinds of credential, both sent as ``Authorization: Bearer …`` (or ``X-API-Key``):

- an **API key** (``alk_<id>_<secret>``), issued by ``agentledger keys create``; the ledger
  keeps only its SHA-256 (the secret is 256 random bits, so the hash cannot be guessed back)
  in ``DATA_DIR/secrets/api_keys.json``;
- a **JWT** from the organisation's identity provider, verified against a configured JWKS
  (signature, ``exp``, and ``iss``/``aud`` when configured), its roles read from a claim.

Roles: ``declare`` (declare sessions), ``analyst`` (read), ``ingest`` (push records: OTLP
trace exports), ``signals`` (a Shared Signals receiver polling its SETs), ``admin``
(everything).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from kernel.errors import ConfigError, LedgerError
from kernel.keyfiles import (
    API_KEYS_FILE,
    CLI_KEY_FILE,
    read_private,
    secrets_dir,
    write_private,
)

ROLES = ("declare", "analyst", "ingest", "signals", "admin")
KEY_PREFIX = "alk_"
# Asymmetric algorithms only: an "HS256" token signed with a public key as its HMAC secret is
# the classic JWKS confusion attack.
JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
JWKS_REFRESH_S = 300.0


class AuthError(LedgerError):
    """A credential that is missing, malformed, unknown, expired or wrongly signed."""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: ``name`` is what a declaration records as ``declared_by``."""

    name: str
    roles: frozenset[str]

    def may(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split_key(presented: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of an API key, or ``None`` when it is not one."""
    if not presented.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = presented[len(KEY_PREFIX) :].partition("_")
    if not sep or len(key_id) != 12 or not secret:
        return None
    return key_id, secret


def key_id_of(presented: str) -> str | None:
    """The public id of an API key (``alk_<id>_…``), or ``None`` when it is not one."""
    parts = _split_key(presented)
    return parts[0] if parts else None


def check_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ConfigError(f"roles must be some of {', '.join(ROLES)} (got {roles or 'none'})")
    return sorted(set(roles))


class ApiKeys:
    """The hashed API keys of one deployment, in ``DATA_DIR/secrets/api_keys.json``.

    Reread when the file changes, so a key created or revoked while ``up`` runs takes
    effect at once.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = secrets_dir(data_dir) / API_KEYS_FILE
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._keys: dict[str, dict[str, Any]] = {}

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._keys = None, {}
            return self._keys
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            text = read_private(self.path) or "{}"
            self._keys = {k["id"]: k for k in orjson.loads(text).get("keys", [])}
            self._seen = seen
        return self._keys

    def _save(self, keys: dict[str, dict[str, Any]]) -> None:
        body = {"keys": sorted(keys.values(), key=lambda k: str(k["created_at"]))}
        write_private(self.path, orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        self._seen = None

    def create(self, name: str, roles: list[str]) -> tuple[str, dict[str, Any]]:
        """A new key: its text (shown once, never stored) and its stored record."""
        roles = check_roles(roles)
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        record = {
            "id": key_id,
            "name": name,
            "roles": roles,
            "sha256": _digest(secret),
            "created_at": datetime.now(UTC).isoformat(),
        }
        with self._lock:
            keys = dict(self._load())
            keys[key_id] = record
            self._save(keys)
        return f"{KEY_PREFIX}{key_id}_{secret}", record

    def revoke(self, key_id: str) -> bool:
        with self._lock:
            keys = dict(self._load())
            if keys.pop(key_id, None) is None:
                return False
            self._save(keys)
        return True

    def listing(self) -> list[dict[str, Any]]:
        """Every key's id, name, roles and creation time (never a hash)."""
        with self._lock:
            keys = self._load()
        return [{k: v for k, v in r.items() if k != "sha256"} for r in keys.values()]

    def holds(self, key_id: str) -> bool:
        """Whether the key ``key_id`` is still issued (not revoked)."""
        with self._lock:
            return key_id in self._load()

    def verify(self, presented: str) -> Caller | None:
        parts = _split_key(presented)
        if parts is None:
            return None
        key_id, secret = parts
        with self._lock:
            record = self._load().get(key_id)
        if record is None or not hmac.compare_digest(_digest(secret), str(record["sha256"])):
            return None
        return Caller(name=f"key:{record['name']}", roles=frozenset(record["roles"]))


def local_cli_key(data_dir: Path, keys: ApiKeys) -> str:
    """The admin key this machine's command line uses, created once (``secrets/cli.key``).

    The file is the caller's copy, like a kubeconfig; the ledger itself keeps only the hash.
    """
    path = secrets_dir(data_dir) / CLI_KEY_FILE
    existing = read_private(path)
    if existing and keys.verify(existing) is not None:
        return existing
    key, _ = keys.create("local-cli", ["admin"])
    write_private(path, key + "\n")
    return key


class JwtVerifier:
    """Bearer JWTs checked against a JWKS (a file, or an http(s) URL fetched and cached)."""

    def __init__(
        self,
        jwks: str,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        roles_claim: str = "roles",
    ) -> None:
        self.source = jwks
        self.issuer = issuer
        self.audience = audience
        self.roles_claim = roles_claim
        self._lock = threading.Lock()
        self._fetched_at = 0.0
        self._keys: Any = None
        self._key_set()  # fail at start, not at the first request, when the JWKS is unusable

    def _key_set(self, *, refresh: bool = False) -> Any:
        from joserfc.jwk import KeySet

        with self._lock:
            stale = time.monotonic() - self._fetched_at > JWKS_REFRESH_S
            if self._keys is None or (refresh and stale):
                try:
                    if self.source.startswith(("http://", "https://")):
                        with urllib.request.urlopen(self.source, timeout=10) as reply:  # noqa: S310
                            document = orjson.loads(reply.read())
                    else:
                        document = orjson.loads(Path(self.source).read_bytes())
                    self._keys = KeySet.import_key_set(document)
                except (OSError, ValueError) as exc:
                    raise ConfigError(
                        f"cannot load the JWKS at {self.source}: {exc} "
                        "(AGENTLEDGER_AUTH_JWKS: a JWKS file or URL)"
                    ) from exc
                self._fetched_at = time.monotonic()
            return self._keys

    def verify(self, token: str) -> Caller:
        from joserfc import jwt
        from joserfc.errors import JoseError

        try:
            try:
                decoded = jwt.decode(token, self._key_set(), algorithms=JWT_ALGORITHMS)
            except JoseError:
                # The provider may have rotated its keys since they were fetched.
                decoded = jwt.decode(token, self._key_set(refresh=True), algorithms=JWT_ALGORITHMS)
            required: dict[str, Any] = {"exp": {"essential": True}}
            if self.issuer:
                required["iss"] = {"essential": True, "value": self.issuer}
            if self.audience:
                required["aud"] = {"essential": True, "value": self.audience}
            jwt.JWTClaimsRegistry(**required).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise AuthError(f"bearer token refused: {exc}") from exc
        claims = decoded.claims
        raw = claims.get(self.roles_claim, [])
        listed = raw.split() if isinstance(raw, str) else [str(r) for r in raw or []]
        subject = str(claims.get("sub") or "?")
        issuer = str(claims.get("iss") or "?")
        return Caller(name=f"jwt:{subject}@{issuer}", roles=frozenset(set(listed) & set(ROLES)))


class Authenticator:
    """Turns a request's headers into a ``Caller``, or says why it cannot."""

    def __init__(self, keys: ApiKeys, jwt_verifier: JwtVerifier | None = None) -> None:
        self.keys = keys
        self.jwt_verifier = jwt_verifier

    def authenticate(self, authorization: str | None, api_key: str | None) -> Caller:
        presented = api_key
        if presented is None and authorization:
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise AuthError("use `Authorization: Bearer <API key or JWT>`")
            presented = value.strip()
        if not presented:
            raise AuthError("a credential is required: `Authorization: Bearer <API key or JWT>`")
        if presented.startswith(KEY_PREFIX):
            caller = self.keys.verify(presented)
            if caller is None:
                raise AuthError("unknown or revoked API key")
            return caller
        if self.jwt_verifier is None:
            raise AuthError("not an API key, and no JWKS is configured for bearer JWTs")
        return self.jwt_verifier.verify(presented)
