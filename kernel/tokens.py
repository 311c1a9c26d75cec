"""Credentials: how they are recognised, by name and by shape, and what stands in for them.

No credential is ever stored: only a keyed fingerprint, a token's ``jti`` and claims. A
fingerprint is ``hmac-sha256:<hex>`` of HMAC-SHA256(deployment key, SHA-256(token)). Keyed,
so that a weak password or a short cookie cannot be guessed back from its fingerprint by
hashing candidates; over the token's SHA-256 digest, so that a source which logs only that
digest (GitHub's ``hashed_token``) still links to the same token seen elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, ClassVar, Final

import orjson

from kernel.errors import ConfigError

FINGERPRINT_PREFIX: Final = "hmac-sha256:"
# A fingerprint as written (current), or the unkeyed ``sha256:`` of older raw records.
FINGERPRINT_TEXT: Final = re.compile(r"(?:hmac-sha256|sha256):[0-9a-f]{64}")


def word_list(text: str) -> tuple[str, ...]:
    """The space-separated words of ``text``: long word lists stay readable as prose."""
    return tuple(text.split())


# Claims worth keeping for attribution (RFC 7519, RFC 8693, transaction tokens).
KEPT_CLAIMS = word_list(
    "iss sub aud exp iat nbf jti client_id cid uid scp scope act may_act txn tctx rctx req_wl "
    "azp sid"
)


# -- fingerprints ----------------------------------------------------------------------------


class _Key:
    """The process's fingerprint key, and a generation number that changes with it: caches
    keyed by the generation never hand out a value computed under another key."""

    value: ClassVar[bytes | None] = None
    generation: ClassVar[int] = 0


def use_fingerprint_key(key: bytes) -> None:
    """Set the deployment's fingerprint key for this process (once, at start)."""
    if not key:
        raise ConfigError(
            "the fingerprint key is empty: set AGENTLEDGER_FINGERPRINT_KEY to a long random "
            "value, or leave it unset to use DATA_DIR/secrets/fingerprint.key"
        )
    if key == _Key.value:
        return
    _Key.value = key
    _Key.generation += 1


def key_generation() -> int:
    """Changes whenever the key does: part of the key of any cache of fingerprinted output."""
    return _Key.generation


def fingerprint_digest(digest: bytes) -> str:
    """The fingerprint of a token known only by its SHA-256 ``digest``."""
    key = _Key.value
    if key is None:
        raise ConfigError(
            "no fingerprint key is set in this process: call "
            "kernel.tokens.use_fingerprint_key(key) before ingesting (the command line "
            "reads AGENTLEDGER_FINGERPRINT_KEY, else DATA_DIR/secrets/fingerprint.key)"
        )
    return FINGERPRINT_PREFIX + hmac.new(key, digest, hashlib.sha256).hexdigest()


def fingerprint(token: str) -> str:
    """``hmac-sha256:<hex>`` of the token exactly as presented."""
    return fingerprint_digest(token_digest(token))


def token_digest(token: str) -> bytes:
    """The token's SHA-256: what a cache of anything worked out from a token is keyed by,
    so that it never holds the token's text (an agent presents the same token on every call
    of a session, and thousands of sessions' tokens would stay in memory, a copy a cache)."""
    return hashlib.sha256(token.encode()).digest()


def is_fingerprint(value: str) -> bool:
    """True for a whole fingerprint: never fingerprinted again (redaction is idempotent)."""
    return FINGERPRINT_TEXT.fullmatch(value) is not None


def fingerprint_of(replacement: Mapping[str, Any]) -> str | None:
    """The fingerprint a replacement object carries: ``fingerprint``, or ``sha256`` in raw
    records redacted before fingerprints were keyed (those still parse)."""
    for field in ("fingerprint", "sha256"):
        value = replacement.get(field)
        if isinstance(value, str) and value:
            return value
    return None


def _b64url_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return orjson.loads(base64.urlsafe_b64decode(padded))


def decode_jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT (signature not verified: this is evidence, not authorization).

    Returns ``None`` for anything that is not a three-part JWS with a JSON payload.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = _b64url_json(parts[1])
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    return {k: claims[k] for k in KEPT_CLAIMS if k in claims}


def scopes_of(claims: dict[str, Any]) -> list[str]:
    """Scopes from ``scope`` (space-separated, RFC 8693) or Okta's ``scp`` list."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return scope.split()
    scp = claims.get("scp")
    if isinstance(scp, list):
        return [str(s) for s in scp]
    return []


def describe_secret(token: str) -> dict[str, Any]:
    """What replaces a secret in a stored record: fingerprint, and claims where it is a JWT.

    A fresh dict each call (callers add to it). The claims are as decoded:
    ``ingest.redact`` scrubs them before storing.
    """
    described: dict[str, Any] = {"redacted": True, "fingerprint": fingerprint(token)}
    claims = decode_jwt_claims(token)  # a new dict each call
    if claims is not None:
        described["claims"] = claims
    return described


# -- by name ---------------------------------------------------------------------------------
# A name is read as its words joined by "_" ("secretAccessKey", "SECRET_ACCESS_KEY" and
# "secret-access-key" are all "secret_access_key"); lower-cased exports run words together
# ("secretaccesskey"), so "_?" joins the words of a compound. Only how a name ends counts:
# "token_type", "accessKeyId" and "tokenIssuerType" describe a credential, they are not one.

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# Secret at the end of any name ("clientsecret", "x_auth_token").
_ANY_END = word_list(
    "password passwords passwd passphrase passcode secret secrets credential credentials "
    "cookie cookies authorization assertion bearer token"
)
# Secret only as a word of their own: "pin" but not "spin", "auth" but not "oauth".
_OWN_WORD = word_list("pass pwd pw pin otp totp hotp sig auth")
# Words secret only after one of these: "api_key" but not "aws_s3_key", "mfa_code" but not
# "status_code"; AWS access key ids link sessions and are not secret, their secret key is.
_QUALIFIED = {
    "key keys": "api private secret account signing subscription master encryption decryption "
    "hmac session function functions admin app auth client storage sas webhook shared_access "
    "secret_access",
    "code": "otp mfa totp hotp verification auth authorization sms recovery backup security device",
    "value string data": "token secret password credential cookie",
    "hash digest": "password passwd pwd pass",
    "str string": "conn connection",
    "response": "saml",
    "signature": "amz",
}
_COMPOUNDS = [
    f"{first}_{last}"
    for lasts, firsts in _QUALIFIED.items()
    for last in lasts.split()
    for first in firsts.split()
]


def _joined(words: str, joint: str) -> str:
    return joint.join(re.escape(w) for w in words.split("_"))


_SECRET_NAME = re.compile(
    "(?:(?:^|_)(?:{})|{}|{})$".format(
        "|".join(_OWN_WORD), "|".join(_ANY_END), "|".join(_joined(c, "_?") for c in _COMPOUNDS)
    )
)
# Counters, cursors and ids named after a token (AWS nextToken, clientToken, MCP's
# progressToken), GitHub's hashed_token (its parser needs it), email checks' "pass", and a
# presigned URL's X-Amz-Credential (the access key id, which links, and a date).
_NOT_SECRET_NAME = re.compile(
    r"(?:^|_)(?:hashed|next|page|continuation|pagination|sync|client|request|idempotency"
    r"|cancellation|resume|cursor|progress|max|min)_?token$|(?:^|_)(?:dkim|spf|dmarc|arc)_pass$"
    r"|subject_?from_?web_?identity_?token$|(?:^|_)amz_?credential$"
)
# Query parameters that carry a credential though the same name elsewhere does not (OTLP's
# "key", JSON-RPC's error "code"): ?key=AIza…, ?code=<authorization code>, ?signature=….
_QUERY_NAME = re.compile(r"(?:^|_)(?:key|code|signature)$")


@lru_cache(maxsize=65_536)
def secret_name(name: str, in_query: bool = False) -> bool:
    """True when a field, header or parameter of this name holds a credential."""
    if len(name) > 100:
        return False
    words = _WORDS.findall(name)
    while words and words[-1].isdigit():  # password2, token_1
        words.pop()
    normal = "_".join(words).lower()
    if in_query and _QUERY_NAME.search(normal):
        return True
    return _SECRET_NAME.search(normal) is not None and _NOT_SECRET_NAME.search(normal) is None


# -- by shape, in any text -------------------------------------------------------------------

SCHEMES: Final = ("bearer", "dpop", "basic", "token", "ssws", "digest")
FORMAT_PREFIXES: Final = word_list(
    "ghp_ gho_ ghs_ ghu_ ghr_ github_pat_ xoxa- xoxb- xoxp- xoxo- xoxs- xoxr- xoxe- xapp- sk- "
    "sk_live_ sk_test_ rk_live_ rk_test_ whsec_ aiza ya29. gocspx- glpat- gldt- glrt- glptt- "
    "glcbt- glft- glsoat- gloas- glimt- npm_ pypi- hf_ sg. shpat_ shpss_ shpca_ shppa_ dop_v1_ "
    "lin_api_ dapi sq0atp- sq0csp- glsa_ glc_ atatt3 hvs. hvb. iqojb3jpz2lu fwogzxivyxdz"
)
# Where a secret name can sit in text: every secret name contains one of these.
_STEMS = "pass pwd pw secret token key auth cookie cred assert otp pin sig code conn bearer saml"
_KV_TAIL = r"""[\w.-]{0,48}?(?:\\?["'])?[ \t]*(?:[:=](?![=/])|,[ \t]*(?=\\?["']))[ \t]*"""


def factored(alternatives: list[tuple[str, str]]) -> re.Pattern[str]:
    """One regex of ``(first character, rest)`` alternatives, grouped by first character.

    The regex engine tries every branch at every position whose character can start one;
    grouped, a position costs one test per distinct first character instead of one per
    branch (about twice as fast on log text). Order within a group is kept.
    """
    groups: dict[str, list[str]] = {}
    for text, tail in alternatives:
        groups.setdefault(text[0], []).append(text[1:] + tail)
    return re.compile(
        "|".join(f"{re.escape(c)}(?:{'|'.join(rests)})" for c, rests in groups.items()),
        re.ASCII,
    )


# Where a secret may start, found in one pass over lower-cased text and checked on the
# original. JSON escapes ("\t", "\/") are accepted for dead letters, read as JSON source.
_ANCHOR = factored(
    [
        ("-----begin", r"[a-z0-9 ]{0,40}private key(?: block)?-----"),
        (":", r"""(?:\\?/){2}[^/\s:@"\\\x00]*:(?=[^/\s@"\\\x00]+@)"""),
        *((w, r"(?:[ \t]|\\t)+(?=[\w.~+/=-])") for w in SCHEMES),
        ("eyj", r"[\w-]{2,}\.[\w-]{2,}\."),
        *((w, "") for w in ("q~", "akia", "asia")),
        *((re.escape(p), "") for p in FORMAT_PREFIXES),
        *((s, _KV_TAIL) for s in word_list(_STEMS)),
    ]
)
_FORMAT = re.compile(
    r"""(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|xox[abposre]-[A-Za-z0-9-]{10,}
    |xapp-\d-[A-Za-z0-9-]{10,}|sk-(?:ant-|proj-|svcacct-|admin-)?[\w-]{20,}
    |[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9+/=]{20,}|AIza[\w-]{30,}
    |ya29\.[\w-]{20,}|GOCSPX-[\w-]{20,}|gl(?:pat|dt|rt|ptt|cbt|ft|soat|oas|imt)-[\w-]{20,}
    |npm_[A-Za-z0-9]{30,}|pypi-[\w-]{50,}|hf_[A-Za-z0-9]{30,}|SG\.[\w-]{16,}\.[\w-]{16,}
    |shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}|dop_v1_[a-f0-9]{64}|lin_api_[A-Za-z0-9]{30,}
    |dapi[a-f0-9]{32}|sq0(?:atp|csp)-[\w-]{22,}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}
    |glc_[A-Za-z0-9+/]{32,}={0,2}|ATATT3[\w=-]{50,}|hv[sb]\.[\w-]{24,}
    |(?:IQoJb3JpZ2lu|FwoGZXIvYXdz)[A-Za-z0-9+/=]{50,})(?![\w-])""",
    re.VERBOSE | re.ASCII,
)
# An Entra ID client secret ("Q~" after four characters), and an AWS secret access key: 40
# characters soon after its key id (credential files, CLI output). The key id itself stays.
_ENTRA_SECRET = re.compile(r"[\w.-]{3}\dQ~[\w.~-]{31,34}(?![\w.~-])", re.ASCII)
_AWS_KEY_ID = re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
JWT: Final = re.compile(r"eyJ[\w-]{2,}\.[\w-]{2,}(?:\.[\w-]*){1,3}", re.ASCII)
_PEM_END = re.compile(r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_CREDENTIAL = re.compile(r"[\w.~+/=-]+", re.ASCII)
_DIGEST = re.compile(r"(?:[\w-]+=(?:\\?\"[^\"\\\x00]*\\?\"|[^\s,\"\\\x00]+)[ \t]*,?[ \t]*)+")
_SCHEME_PREFIX = re.compile(r"(?i:{})(?:[ \t]|\\t)+".format("|".join(SCHEMES)))
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_KEY_CHARS = _WORD_CHARS | {"."}
_KEY_END = re.compile(r"[\w.-]*", re.ASCII)
_ANYVALUE = re.compile(r"\{[ \t]*\\?\"stringValue\\?\"[ \t]*:[ \t]*")
_VALUE_FIELD = re.compile(r"\\?\"(?:[Vv]alues?|stringValue|val)\\?\"[ \t]*:[ \t]*")
_UNQUOTED = re.compile(r"[^\s\"'&;,)\]}<>#\x00]+")
_UNQUOTED_RAW = re.compile(r"[^\s\"'&;,)\]}<>#\x00\\]+")
_TO_LINE_END = re.compile(r"[^\r\n\x00\"]+")
# Documentation placeholders such as "<encoded session token blob>" are not secrets.
PLACEHOLDER: Final = re.compile(r"<[^<>]*>")
_DIGITS = frozenset("0123456789")
_TOKEN_MARKS = frozenset("._~+/=")

# A hit: (start, end, whole_start, scheme). The secret is text[start:end]; a string that is
# nothing but text[whole_start:end] becomes a replacement object (whole_start -1: never).
Hit = tuple[int, int, int, str | None]


def _lowered(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    # A few non-ASCII letters change length when lower-cased; offsets must stay aligned.
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _looks_random(credential: str) -> bool:
    """After a scheme word in free text: a token, not an English word ("Bearer token")."""
    if len(credential) < 8:
        return False
    return (
        not _DIGITS.isdisjoint(credential)
        or not _TOKEN_MARKS.isdisjoint(credential)
        or any(c.isupper() for c in credential[1:])
    )


def _basic_credentials(credential: str) -> bool:
    """``Basic`` is followed by base64 of ``user:password``."""
    try:
        decoded = base64.b64decode(credential + "=" * (-len(credential) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


def _segment_end(text: str, pos: int, raw: bool) -> int:
    end = text.find("\n" if raw else "\x00", pos)
    return len(text) if end < 0 else end


def _closing_quote(text: str, start: int, quote: str, limit: int) -> int:
    """Index of the quote closing a value that starts at ``start`` (escaped quotes skipped)."""
    pos = start
    while True:
        pos = text.find(quote, pos, limit)
        if pos < 0:
            return limit
        if quote != '"' or text[pos - 1] != "\\":
            return pos
        pos += 1


def _value_span(text: str, pos: int, raw: bool, to_line_end: bool) -> tuple[int, int]:
    """Where the value after a secret name's separator starts and ends."""
    n = len(text)
    limit = _segment_end(text, pos, raw)
    field = _VALUE_FIELD.match(text, pos)  # {"name": "X-Api-Key", "value": …}, read as text
    if field:
        pos = field.end()
    if pos < n and text[pos] == "[":  # a list of values: the first
        pos += 1
        while pos < n and text[pos] in " \t":
            pos += 1
    if pos < n and text[pos] == "{":  # an OTLP AnyValue: {"stringValue": "…"}
        found = _ANYVALUE.match(text, pos)
        if found:
            pos = found.end()
    quoted = True
    if raw and text.startswith('\\"', pos):  # JSON inside a JSON string, read as source
        end = text.find('\\"', pos + 2, limit)
        start, end = pos + 2, limit if end < 0 else end
    elif pos < n and text[pos] in "\"'":
        start, end = pos + 1, _closing_quote(text, pos + 1, text[pos], limit)
    else:
        start, end, quoted = pos, limit, False
    scheme = _SCHEME_PREFIX.match(text, start, end)
    if scheme:
        start = scheme.end()  # "Authorization: Bearer …" keeps its scheme word
    if not quoted:  # up to the first character that ends a value
        pattern = _TO_LINE_END if to_line_end else (_UNQUOTED_RAW if raw else _UNQUOTED)
        found = pattern.match(text, start, limit)
        end = found.end() if found else start
    return start, end


def _name_hit(text: str, match: re.Match[str], raw: bool) -> tuple[Hit | None, int]:
    """``password=…``, ``"api_key": "…"``, ``?access_token=…``: the name decides."""
    stem = match.start()
    start = stem
    while start > 0 and stem - start < 64 and text[start - 1] in _KEY_CHARS:
        start -= 1
    key = _KEY_END.match(text, stem)
    key_end = key.end() if key else match.end()
    before = text[start - 1] if start > 0 else " "
    if "," in text[key_end : match.end()] and before not in "\"'":
        return None, match.end()  # only a pair of quoted strings: ["X-Api-Key", "…"]
    name = text[start:key_end]
    if not secret_name(name, before in "?&#;"):
        return None, match.end()
    cookie = name.lower().endswith(("cookie", "cookies"))  # a cookie header: to its end
    vs, ve = _value_span(text, match.end(), raw, cookie)
    if text.startswith("-----BEGIN", vs):
        return None, vs  # a PEM block: its own rule takes it whole, body included
    value = text[vs:ve]
    if not value.strip() or PLACEHOLDER.fullmatch(value) or is_fingerprint(value):
        return None, max(ve, match.end())
    return (vs, ve, -1, None), ve


def _scheme_hit(text: str, match: re.Match[str]) -> tuple[Hit | None, int]:
    """``Bearer <token>`` in free text: the token must look like one (not "Bearer token")."""
    start, cs = match.start(), match.end()
    word = text[start : start + next(len(w) for w in SCHEMES if match.group().startswith(w))]
    if FINGERPRINT_TEXT.match(text, cs):
        return None, cs
    if word.lower() == "digest":
        params = _DIGEST.match(text, cs)
        if params is None or not ("response=" in params.group() or "username=" in params.group()):
            return None, cs
        return (cs, params.end(), start, word), params.end()
    found = _CREDENTIAL.match(text, cs)
    if found is None:
        return None, cs
    credential = found.group().rstrip(".,")
    end = cs + len(credential)
    if JWT.fullmatch(credential) or (
        _basic_credentials(credential) if word.lower() == "basic" else _looks_random(credential)
    ):
        return (cs, end, start, word), end
    return None, cs


def _edge(text: str, start: int) -> bool:
    return start == 0 or text[start - 1] not in _WORD_CHARS


def find_secrets(text: str, *, raw: bool = False) -> list[Hit]:
    """Secrets in ``text`` by shape, left to right, not overlapping.

    ``raw``: the text is JSON source (a dead letter), where a string's escapes appear as
    written and a string ends at an unescaped quote.
    """
    hits: list[Hit] = []
    low = _lowered(text)
    search = _ANCHOR.search
    pos = 0
    while (match := search(low, pos)) is not None:
        start = match.start()
        anchor = match.group()
        hit: Hit | None = None
        pos = start + 1
        if anchor[0] == "-":  # a PEM private key: to its END line, or to the string's end
            limit = _segment_end(text, match.end(), raw)
            if raw:
                quote = text.find('"', match.end(), limit)
                limit = limit if quote < 0 else quote
            end = _PEM_END.search(text, match.end(), limit)
            pos = end.end() if end else limit
            hit = (start, pos, start, None)
        elif anchor[0] == ":":  # a password in a URL: scheme://user:PASSWORD@host
            pos = text.index("@", match.end())
            if not is_fingerprint(text[match.end() : pos]):
                hit = (match.end(), pos, -1, None)
        elif ":" in anchor or "=" in anchor or "," in anchor:
            hit, pos = _name_hit(text, match, raw)
        elif anchor == "q~":
            found = _ENTRA_SECRET.match(text, start - 4) if start >= 4 else None
            if found and start - 4 >= (hits[-1][1] if hits else 0) and _edge(text, start - 4):
                hit, pos = (start - 4, found.end(), start - 4, None), found.end()
        elif not _edge(text, start):
            pass  # inside a longer word ("mytoken abc", "task-…")
        elif anchor[-1] in " \t" or anchor.endswith("\\t"):
            hit, pos = _scheme_hit(text, match)
        elif anchor in ("akia", "asia"):
            key_id = _AWS_KEY_ID.match(text, start)
            near = key_id.end() + 150 if key_id else 0  # a match ending there is cut short
            secret = key_id and _AWS_SECRET.search(text, key_id.end(), near)
            if secret and secret.end() < min(near, _segment_end(text, start, raw) + 1):
                hit, pos = (secret.start(), secret.end(), -1, None), secret.end()
        elif found := (JWT if anchor[0] == "e" else _FORMAT).match(text, start):
            pos = found.end()
            hit = (start, pos, start, None)
        if hit is not None:
            hits.append(hit)
    return hits
