"""Secrets a deployment generates for itself, kept in owner-only files under the data directory.

``DATA_DIR/secrets/`` (mode 0700) holds the analyst SQL password, the fingerprint key, the
hashed API keys, the local command line's own API key, the Shared Signals signing key and
the key that signs the tamper-evidence digests, each a file of mode 0600. Nothing
else (state file, status output, logs) ever holds them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kernel.errors import ConfigError

if TYPE_CHECKING:
    from kernel.config import Settings

SECRETS_DIR = "secrets"
SQL_PASSWORD_FILE = "sql_password"  # noqa: S105 (a file name, not a password)
FINGERPRINT_KEY_FILE = "fingerprint.key"
API_KEYS_FILE = "api_keys.json"
CLI_KEY_FILE = "cli.key"
SSF_SIGNING_KEY_FILE = "ssf_signing_key.jwk"  # the Shared Signals transmitter's private JWK
EVIDENCE_SIGNING_KEY_FILE = "evidence_signing_key.jwk"  # signs the ledger's digests (Ed25519)


def secrets_dir(data_dir: Path) -> Path:
    """``DATA_DIR/secrets``, created owner-only; an existing one is narrowed to 0700."""
    path = data_dir / SECRETS_DIR
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def read_private(path: Path) -> str | None:
    """The secret in ``path``, or ``None`` when there is none; refuses a file others can read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & 0o077:
        raise ConfigError(
            f"{path} can be read by other users; run `chmod 600 {path}` (it holds a secret)"
        )
    return path.read_text(encoding="utf-8").strip()


def read_or_create(path: Path, *, nbytes: int = 32) -> str:
    """The secret in ``path``, generated (URL-safe, ``nbytes`` of randomness) when missing.

    Creation is exclusive, so two processes starting at once agree on one secret.
    """
    return read_or_make(path, lambda: secrets.token_urlsafe(nbytes))


def read_or_make(path: Path, make: Callable[[], str]) -> str:
    """The secret in ``path``, made by ``make`` (a key's text, say) when missing.

    Creation is exclusive, so two processes starting at once agree on one secret.
    """
    existing = read_private(path)
    if existing:
        return existing
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = make()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process created it between our read and our open: take theirs.
        return read_private(path) or value
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def sql_password(settings: Settings) -> str:
    """The analysts' SQL password: ``AGENTLEDGER_SQL_PASSWORD``, else the deployment's own."""
    if settings.sql_password is not None:
        return settings.sql_password.get_secret_value()
    return read_or_create(secrets_dir(settings.data_dir) / SQL_PASSWORD_FILE)


def sql_password_file(data_dir: Path) -> Path:
    return (data_dir / SECRETS_DIR / SQL_PASSWORD_FILE).resolve()


def fingerprint_key(settings: Settings) -> bytes:
    """The fingerprint key: ``AGENTLEDGER_FINGERPRINT_KEY``, else the deployment's own."""
    if settings.fingerprint_key is not None:
        return settings.fingerprint_key.get_secret_value().encode()
    return read_or_create(secrets_dir(settings.data_dir) / FINGERPRINT_KEY_FILE).encode()
