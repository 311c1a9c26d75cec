"""Replace every credential in a record before it leaves the ingest process.

Three kinds of evidence make a value secret (``kernel.tokens`` knows them), checked
everywhere in the record:

- its *key*: ``password``, ``client_secret``, ``x-api-key``, ``sessionToken``, ``Cookie``… in
  any spelling (``http.request.header.authorization`` too), but not the counters and ids that
  merely mention one (``max_tokens``, ``token_type``, ``hashed_token``, ``accessKeyId``);
- its *position*: ``["Authorization", "Bearer …"]`` header pairs, ``{"name": "X-Api-Key",
  "value": …}`` objects, OTLP attributes;
- its *shape*, anywhere in any string: ``Bearer …``, JWTs, PEM private keys, well-known token
  formats, URL passwords, ``password=…`` / ``"api_key": "…"`` text and query parameters.

A whole-string secret becomes ``{"redacted": true, "fingerprint", "claims"?, "scheme"?}``;
one inside a longer string is replaced there by its fingerprint text, the scheme word or key
name kept. Redaction is idempotent: the ledger rebuilds from already-redacted raw records.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate
from typing import Any

import orjson

from kernel.events import canonical_json
from kernel.tokens import (
    PLACEHOLDER,
    SCHEMES,
    Hit,
    decode_jwt_claims,
    find_secrets,
    fingerprint,
    fingerprint_digest,
    is_fingerprint,
    key_generation,
    secret_name,
    token_digest,
    word_list,
)

# How a key of a JSON object is treated, cached by key (records repeat a few hundred names).
_PLAIN, _SECRET, _NAME, _VALUE = range(4)
_NAME_FIELDS = frozenset({"name", "Name", "key", "Key", "header", "Header", "headerName"})
_VALUE_FIELDS = frozenset({"value", "Value", "values", "Values", "stringValue", "val"})
# OTLP's AnyValue forms: inside a secret they are the secret, not objects that describe it.
_HELD_AS_VALUE = _VALUE_FIELDS | {"arrayValue", "kvlistValue"}
_KEY_CODES: dict[str, int] = {}
_KEY_CODES_MAX = 100_000
# The keys classified plain, the walk's common case: one set lookup a key tells it.
_PLAIN_KEYS: set[str] = set()
# Inside an object held by a secret key, the fields that describe the secret rather than
# being it: CloudTrail's credentials.accessKeyId and expiration, a token's type and expiry.
_METADATA_WORDS = frozenset(
    word_list(
        "id ids identifier type kind scheme name arn uid jti kid alg algorithm format version "
        "expiration expiry expires expire at in time timestamp date issuer iss ttl status region "
        "length count"
    )
)
_LAST_WORD = re.compile(r"(?:[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+)(?=[^A-Za-z0-9]*$)")
_MIN_TEXT = 6  # shorter strings hold no secret a shape rule could tell ("pw=ab1" is 6)
# A string of only these characters (ids, hex, timestamps, UUIDs, numbers) lacks every
# shape's letters: no secret name, scheme word, "eyJ", "BEGIN", format prefix or "@".
_SAFE_CHARS = "0123456789abcdefABCDEF-:.TZ+/_, "


@lru_cache(maxsize=4_096)
def _describes_secret(name: str) -> bool:
    last = _LAST_WORD.search(name)
    return last is not None and last.group().lower() in _METADATA_WORDS


def _key_code(key: str) -> int:
    code = _KEY_CODES.get(key)
    if code is None:
        if key in _NAME_FIELDS:
            code = _NAME
        elif key in _VALUE_FIELDS:
            code = _VALUE
        else:
            code = _SECRET if secret_name(key) else _PLAIN
        if len(_KEY_CODES) < _KEY_CODES_MAX:  # keys named by ids would grow it forever
            _KEY_CODES[key] = code
            if code == _PLAIN:
                _PLAIN_KEYS.add(key)
    return code


# -- the record walk -------------------------------------------------------------------------

_SHAPE_KEYS = frozenset({"redacted", "fingerprint", "sha256", "claims", "scheme"})
_SCHEME_WORDS = frozenset(SCHEMES)


def _well_formed(node: dict[str, Any]) -> bool:
    """A replacement object as redaction writes it (or wrote it, with ``sha256``)."""
    if not _SHAPE_KEYS.issuperset(node):
        return False
    marks = [node[k] for k in ("fingerprint", "sha256") if k in node]
    if not marks or not all(isinstance(m, str) and is_fingerprint(m) for m in marks):
        return False
    scheme = node.get("scheme")
    return scheme is None or (isinstance(scheme, str) and scheme.lower() in _SCHEME_WORDS)


def _scrubbed_claims(token: str) -> dict[str, Any] | None:
    # Claims are stored, so they are redacted like any value (a ``tctx`` may carry anything).
    claims = decode_jwt_claims(token)
    return None if claims is None else redact(claims)


def _replacement(secret: str, scheme: str | None) -> dict[str, Any]:
    # A copy each time, from the JSON text: records never share objects.
    described: dict[str, Any] = orjson.loads(_replacement_json(secret, scheme))
    return described


# Replacements by the secret's digest and scheme (``kernel.tokens.token_digest``: never by
# its text), with the key generation they were fingerprinted under. Bounded, emptied when full.
_REPLACEMENTS: dict[tuple[bytes, str | None], tuple[int, bytes]] = {}
_REPLACEMENTS_MAX = 16_384


def _replacement_json(secret: str, scheme: str | None, digest: bytes | None = None) -> bytes:
    # An agent presents the same token on every call of a session: its replacement is built
    # once (per key generation) and copied from its JSON text after that.
    generation = key_generation()
    key = (digest if digest is not None else token_digest(secret), scheme)
    found = _REPLACEMENTS.get(key)
    if found is not None and found[0] == generation:
        return found[1]
    described: dict[str, Any] = {"redacted": True, "fingerprint": fingerprint_digest(key[0])}
    if secret.count(".") == 2:
        claims = _scrubbed_claims(secret)
        if claims is not None:
            described["claims"] = claims
    if scheme:
        described["scheme"] = scheme
    made = orjson.dumps(described)
    if len(_REPLACEMENTS) >= _REPLACEMENTS_MAX:
        _REPLACEMENTS.clear()
    _REPLACEMENTS[key] = (generation, made)
    return made


# Strings already scanned and found clean: log values repeat (event types, user agents, ARNs,
# tool names), so most strings of a record skip the scan. Bounded, and emptied when full.
_CLEAN: set[str] = set()
_CLEAN_MAX = 32_768
_CLEAN_LONGEST = 256


def _needs_scan(text: str) -> bool:
    return len(text) >= _MIN_TEXT and text not in _CLEAN and bool(text.strip(_SAFE_CHARS))


# Texts held by a secret key or position, by their digest (never their text), and what each
# becomes: the text itself (empty, a placeholder, a fingerprint already) or its replacement's
# JSON; with the key generation.
_SECRET_TEXTS: dict[bytes, tuple[int, str | bytes]] = {}
_SECRET_TEXTS_MAX = 16_384


def _secret_text(text: str, digest: bytes) -> tuple[int, str | bytes]:
    generation = key_generation()
    kept: str | bytes
    if not text or PLACEHOLDER.fullmatch(text) or is_fingerprint(text):
        kept = text
    else:
        parts = text.split(None, 1)
        scheme = parts[0] if len(parts) == 2 and parts[0].lower() in _SCHEME_WORDS else None
        secret = text
        if scheme is not None:
            secret = parts[1].strip()
        if scheme is not None and is_fingerprint(secret):
            kept = f"{scheme} {secret}"  # "Bearer hmac-sha256:…": fingerprinted before
        else:
            # Without a scheme the text is the secret: its digest is made already.
            kept = _replacement_json(secret, scheme, None if scheme else digest)
    found = (generation, kept)
    if len(_SECRET_TEXTS) >= _SECRET_TEXTS_MAX:
        _SECRET_TEXTS.clear()
    _SECRET_TEXTS[digest] = found
    return found


class _Walk:
    """One record's walk: keys and positions decide on the way; shapes are found after it in
    one scan over every string collected (one regex pass beats one per string by far)."""

    __slots__ = ("changed", "texts")

    def __init__(self) -> None:
        self.texts: list[tuple[Any, Any, str]] = []  # (container, key or index, string)
        self.changed = False

    def text(self, container: Any, index: Any, item: str) -> None:
        if item[0] in "{[" and item[-1] in "}]" and self.embedded(container, index, item):
            return
        self.texts.append((container, index, item))

    def value(self, container: Any, index: Any, item: Any) -> None:
        if isinstance(item, str):
            if _needs_scan(item):
                self.text(container, index, item)
        elif isinstance(item, dict):
            found = self.obj(item)
            if found is not item:
                container[index] = found
        elif isinstance(item, list):
            self.seq(item)

    def obj(self, node: dict[str, Any]) -> Any:
        if node.get("redacted") is True:
            return self.premarked(node)
        plain = _PLAIN_KEYS
        clean = _CLEAN
        named = False
        pending: list[str] | None = None
        for key, item in node.items():
            if key in plain:  # the common case, inline: this loop is the hot path
                kind = type(item)
                if kind is str:
                    if len(item) < _MIN_TEXT or item in clean:
                        continue
                    if item.strip(_SAFE_CHARS):
                        self.text(node, key, item)
                elif kind is dict:
                    found = self.obj(item)
                    if found is not item:
                        node[key] = found
                elif kind is list:
                    self.seq(item)
                continue
            code = _key_code(key)
            if code == _PLAIN:  # a plain key past the bound of the cache
                self.value(node, key, item)
            elif code == _SECRET:
                found = self.secret(item, strict=False)
                if found is not item:
                    node[key] = found  # the same key: safe while iterating
            elif code == _VALUE:
                pending = [key] if pending is None else [*pending, key]
            elif code == _NAME and isinstance(item, str) and secret_name(item):
                named = True
            else:
                self.value(node, key, item)
        if pending is not None:
            for key in pending:  # {"name": "X-Api-Key", "value": …}: the name decides
                if named:
                    node[key] = self.secret(node[key], strict=False)
                else:
                    self.value(node, key, node[key])
        return node

    def seq(self, items: list[Any]) -> None:
        if len(items) == 2 and isinstance(items[0], str) and secret_name(items[0]):
            items[1] = self.secret(items[1], strict=False)  # ["Authorization", "Bearer …"]
            return
        for index, item in enumerate(items):
            self.value(items, index, item)

    def premarked(self, node: dict[str, Any]) -> Any:
        """``{"redacted": true, …}`` as it arrived: kept only in exactly the shape redaction
        writes; anything else claiming it could hide a secret, so all of it is fingerprinted."""
        if _well_formed(node):
            if "claims" in node:
                self.value(node, "claims", node["claims"])
            return node
        for key, item in node.items():
            if key != "redacted":
                node[key] = self.secret(item, strict=True)
        return node

    def secret(self, item: Any, *, strict: bool) -> Any:
        """``item`` held by a secret key or position: every part of it is a secret, except
        (unless ``strict``) what describes it: ``accessKeyId``, an object not named secret."""
        if isinstance(item, str):
            return self.secret_text(item)
        if item is None or isinstance(item, bool):
            return item
        if isinstance(item, list):
            return [self.secret(v, strict=strict) for v in item]
        if isinstance(item, dict):
            if item.get("redacted") is True:
                return self.premarked(item)
            for key, inner in item.items():
                if not strict and (
                    _describes_secret(key)
                    or (
                        isinstance(inner, dict)
                        and key not in _HELD_AS_VALUE
                        and not secret_name(key)
                    )
                ):
                    self.value(item, key, inner)  # Auth0's auth.user: about the secret
                else:
                    item[key] = self.secret(inner, strict=strict)
            return item
        self.changed = True  # a number: its JSON text is the secret
        return _replacement(canonical_json(item), None)

    def secret_text(self, text: str) -> Any:
        # An agent presents the same token on every call of a session: what it becomes is
        # looked up by its digest (for the current key generation) after the first time.
        digest = token_digest(text)
        found = _SECRET_TEXTS.get(digest)
        if found is None or found[0] != key_generation():
            found = _secret_text(text, digest)
        kept = found[1]
        if type(kept) is str:
            return kept
        self.changed = True
        described: dict[str, Any] = orjson.loads(kept)  # a copy: records never share objects
        return described

    def embedded(self, container: Any, index: Any, text: str) -> bool:
        """JSON inside a string (tool arguments, OTel attributes): redacted as a record."""
        try:
            inner = orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
        walk = _Walk()
        inner = walk.run(inner)
        if walk.changed:
            container[index] = orjson.dumps(inner).decode()
            self.changed = True
        return True

    def run(self, value: Any) -> Any:
        if isinstance(value, dict):
            value = self.obj(value)
        elif isinstance(value, list):
            self.seq(value)
        elif isinstance(value, str):
            holder = [value]
            self.value(holder, 0, value)
            self.scan()
            return holder[0]
        self.scan()
        return value

    def scan(self) -> None:
        texts = self.texts
        if not texts:
            return
        strings = [t[2] for t in texts]
        joined = "\x00".join(strings)
        if joined.count("\x00") != len(strings) - 1:  # a string holds NUL itself: one by one
            for container, index, text in texts:
                self.rewrite(container, index, text, find_secrets(text))
            return
        hits = find_secrets(joined)
        by_text: dict[int, list[Hit]] = {}
        if hits:
            starts = [0, *accumulate(len(s) + 1 for s in strings)]
            for start, end, whole, scheme in hits:
                i = bisect_right(starts, start) - 1
                base = starts[i]
                by_text.setdefault(i, []).append(
                    (start - base, end - base, whole - base if whole >= 0 else -1, scheme)
                )
            for i, found in by_text.items():
                container, index, text = texts[i]
                self.rewrite(container, index, text, found)
        if len(_CLEAN) > _CLEAN_MAX:
            _CLEAN.clear()
        _CLEAN.update(
            s for i, s in enumerate(strings) if i not in by_text and len(s) <= _CLEAN_LONGEST
        )

    def rewrite(self, container: Any, index: Any, text: str, hits: list[Hit]) -> None:
        if not hits:
            return
        self.changed = True
        if len(hits) == 1:
            start, end, whole, scheme = hits[0]
            if whole >= 0 and text.strip() == text[whole:end]:
                container[index] = _replacement(text[start:end], scheme)
                return
        parts: list[str] = []
        last = 0
        for start, end, _, _ in hits:
            parts.append(text[last:start])
            parts.append(fingerprint(text[start:end]))
            last = end
        parts.append(text[last:])
        container[index] = "".join(parts)


def redact(value: Any) -> Any:
    """``value`` with every secret replaced by its fingerprint (and JWT claims).

    Works in place on freshly decoded JSON (the caller owns it) and returns it (a string, or
    an object replacing a whole-string secret, is returned anew).
    """
    return _Walk().run(value)
