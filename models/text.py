"""Lexical reading of intents, tool descriptions, arguments and results: which kind of action
words ask for, which role an argument plays, which values a text carries, and whether a
text is shaped like instructions addressed to the agent. Word lists, not a language model:
they are read once per session or per tool and cached by the trail."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from models.values import EMAIL, IBAN, PHONE, URL

# Kinds of action, from least to most consequential. ``send`` carries data out of the
# session (mail, chat, share, webhook); ``pay`` moves money; ``exec`` runs code or admin.
READ: Final = "read"
WRITE: Final = "write"
SEND: Final = "send"
DELETE: Final = "delete"
PAY: Final = "pay"
EXEC: Final = "exec"
KINDS: Final = (READ, WRITE, SEND, DELETE, PAY, EXEC)
# The access (as the ledger and declarations name it) each kind of action needs.
ACCESS_OF_KIND: Final = {
    READ: "read",
    WRITE: "write",
    SEND: "write",
    PAY: "write",
    EXEC: "write",
    DELETE: "delete",
}


def _list(spaced: str) -> tuple[str, ...]:
    return tuple(spaced.split())


def word_set(spaced: str) -> frozenset[str]:
    """The space-separated words of ``spaced``: long word lists stay readable as prose."""
    return frozenset(spaced.split())


_KIND_WORDS: Final[dict[str, tuple[str, ...]]] = {
    READ: _list(
        "read get list fetch search find show view look lookup query check summarize summarise "
        "summary count browse download export inspect describe review see tell what which "
        "retrieve load scan read-only readonly history status report analyse analyze compare track "
        "tail explain"
    ),
    WRITE: _list(
        "write create update edit add set modify rename move schedule book reserve insert "
        "append draft save upload log record assign label tag mark merge commit push comment reply "
        "invite accept decline cancel reschedule change patch put register enable disable "
        "configure close reopen archive star pin approve file note make fix implement "
        "refactor bump rebook cancel give respond apply build generate compile adjust raise "
        "lower increase decrease toggle pause resume restore requeue reschedule snooze resolve "
        "reject dismiss sign countersign amend redline accrue reconcile bill invoice lock unlock "
        "rotate restock replenish relabel reassign postpone extend renew turn redirect reroute "
        "ramp rollout print"
    ),
    SEND: _list(
        "send email mail forward share post message notify publish reply dm text sms tweet "
        "broadcast invite webhook submit deliver announce ping slack dispatch relay "
        "transmit exfiltrate cc bcc answer inform rsvp chase remind contact alert page "
        "escalate resend repost"
    ),
    DELETE: _list(
        "delete remove erase purge drop destroy wipe trash revoke clear truncate unsubscribe "
        "terminate deprovision uninstall kill void discard retire decommission unpublish "
        "unshare"
    ),
    PAY: _list(
        "pay transfer wire refund charge payout remit purchase buy order checkout settle "
        "reimburse deposit withdraw"
    ),
    EXEC: _list(
        "run execute exec shell command script deploy install eval sudo admin rotate provision "
        "restart reboot migrate grant escalate impersonate rollback revert"
    ),
}
# Words that are nouns as often as verbs ("read my email", "the order"): an intent asks for
# their kind only where they stand as a verb (see ``intent_kinds``); a tool's name is a verb.
AMBIGUOUS: Final = frozenset(
    _list(
        "email mail message text post order comment book reply dm note file charge deposit export "
        "download share invite list report review record log transfer history status summary "
        "payout archive label tag mark draft schedule set change pin star close note record order "
        "book comment backup sync mirror move write bill invoice page alert lock contact "
        "sign restore resume"
    )
)
# Verbs whose access is write or delete depending on the system: the hard bound accepts
# either for them ("cancel the booking" is declared as a delete by some, a write by others).
WRITE_OR_DELETE: Final = frozenset(
    _list(
        "cancel close archive revoke reset unsubscribe clear decline disable terminate void "
        "retire unpublish"
    )
)
KIND_OF_WORD: Final[dict[str, str]] = {}
for _kind in (READ, WRITE, EXEC, SEND, DELETE, PAY):  # later kinds win a word both claim
    for _word in _KIND_WORDS[_kind]:
        KIND_OF_WORD[_word] = _kind

# Writes that only add something new (see ``ToolProfile.additive``).
ADDITIVE_VERBS: Final = frozenset(
    _list("add append comment note log record draft save create insert annotate attach")
)

# Verbs that name no action of their own in a tool's name ("issue_refund", "do_backup").
GENERIC_VERBS: Final = frozenset(_list("issue make do perform process handle submit request"))

# Parts of an address that name nobody (schemes, hosts, top-level domains, mail services).
ADDRESS_WORDS: Final = frozenset(
    _list(
        "http https www mail email example com org net info mailbox inbox gmail outlook "
        "yahoo proton hotmail icloud contact team admin support hello"
    )
)

# Subjects a read should not wander into unasked: pay, identity papers, secrets, health.
SENSITIVE_WORDS: Final = frozenset(
    _list(
        "salary salaries payroll bonus bonuses compensation passport passports ssn password "
        "passwords secret secrets credential credentials confidential diagnosis medical "
        "poweruseraccess administratoraccess"
    )
)
SENSITIVE_FIRST: Final = frozenset(w[0] for w in SENSITIVE_WORDS) | {"h"}

# Words that make a tool's description or an intent about many records at once.
BULK_WORDS: Final = frozenset(_list("all every entire bulk export dump everything mass"))

# Argument roles: where a value goes. Sinks decide where data or money ends up.
RECIPIENT: Final = "recipient"
DESTINATION: Final = "destination"  # URL, webhook, host
ACCOUNT: Final = "account"  # IBAN, account number, payee
TARGET: Final = "target"  # file, record, channel, id acted on
AMOUNT: Final = "amount"
CONTENT: Final = "content"
COMMAND: Final = "command"
VOLUME: Final = "volume"
PAGE: Final = "page"  # a page number, offset, cursor: a call that walks a listing
OTHER: Final = "other"
# A command or query is written by the agent, so its novelty says nothing; the addresses
# inside it are read like those inside content.
SINK_ROLES: Final = frozenset({RECIPIENT, DESTINATION, ACCOUNT})

_VOLUME_WORDS: Final = frozenset(
    _list("limit count max size top per pagesize maxresults results perpage")
)
_COUNTED: Final = frozenset(_list("results rows records items entries messages files"))
_PAGE_WORDS: Final = frozenset(_list("page offset cursor start startat skip token next after"))
# A key ending in these names an item or a moment, whatever page word it has (page_id, a
# wiki page's; startTime, an event's).
_NOT_PAGE_ENDS: Final = frozenset(_list("id ids at time"))
_ROLE_KEYS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    (VOLUME, ("limit", "count", "max", "size", "top", "per_page", "page_size")),
    (ACCOUNT, ("iban", "account", "payee", "beneficiary", "routing", "swift", "bic", "wallet")),
    (DESTINATION, ("url", "uri", "webhook", "endpoint", "callback", "host", "domain", "link")),
    (
        RECIPIENT,
        (
            "to",
            "recipient",
            "recipients",
            "cc",
            "bcc",
            "email",
            "address",
            "user",
            "users",
            "member",
            "members",
            "assignee",
            "invitee",
            "attendee",
            "attendees",
            "owner",
            "reviewer",
            "phone",
            "share_with",
            "grantee",
            "principal",
            "collaborator",
            "contact",
            "channel",
            "chat",
            "room",
            "target_user",
        ),
    ),
    (AMOUNT, ("amount", "sum", "price", "total", "value", "quantity", "qty")),
    (
        COMMAND,
        (
            "command",
            "cmd",
            "script",
            "code",
            "shell",
            "sql",
            "query_sql",
            "querystring",
            "statement",
            "expression",
        ),
    ),
    (CONTENT, ("body", "text", "message", "content", "subject", "note", "comment", "title")),
)

_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
STOPWORDS: Final = frozenset(
    _list(
        "a an the and or of to for in on at by with from into onto about as is are be been it its "
        "this that these those my me i we our us you your please can could would will just then "
        "so do does any some all up out if when than via per"
    )
)


def words(text: str) -> list[str]:
    """Lower-case word tokens; ``sendEmail`` and ``send_email`` both give send, email."""
    if text.islower():
        # No capital to split at or lower (most values the model reads are lower-cased
        # already): the camelCase pass alone was half the time of a call.
        return _WORD.findall(text)
    return _WORD.findall(_CAMEL.sub(" ", text).lower())


def content_words(text: str, tokens: list[str] | None = None) -> set[str]:
    """The words of ``text`` that say something (``tokens``: its ``words``, if known)."""
    return {
        w for w in (words(text) if tokens is None else tokens) if w not in STOPWORDS and len(w) > 1
    }


def lower_words(lowered: str) -> list[str]:
    """``words`` of a text lower-cased already (no camelCase left to split)."""
    return _WORD.findall(lowered)


def has_digit(text: str) -> bool:
    """Whether any character of ``text`` is a digit (``str.isdigit``)."""
    return any(c.isdigit() for c in text)


def kind_of(token: str) -> str | None:
    """The kind of one word, its inflections folded (sends, sending, created, deletes)."""
    kind = KIND_OF_WORD.get(token)
    if kind is not None or len(token) < 4:
        return kind
    stems: tuple[str, ...] = ()
    if token.endswith("ing"):
        stems = (token[:-3], token[:-3] + "e", token[:-4])
    elif token.endswith("ed"):
        stems = (token[:-2], token[:-1], token[:-3])
    elif token.endswith("es"):
        stems = (token[:-2], token[:-1])
    elif token.endswith("s"):
        stems = (token[:-1],)
    for stem in stems:
        kind = KIND_OF_WORD.get(stem)
        if kind is not None:
            return kind
    return None


def kinds_in(tokens: Iterable[str]) -> set[str]:
    return {k for k in map(kind_of, tokens) if k is not None}


# An amount's digits and marks, at most 40 of them: unbounded, the pattern read a long run
# of digits and dots ("1.1.1.1…") to its end from each of its digits, a time that grew with
# the run's square (seconds for an intent of 16,000 characters).
MONEY: Final[re.Pattern[str]] = re.compile(
    r"(?:[$€£]\s?\d|\b\d[\d,.]{0,40}\s?(?:eur|usd|gbp|chf|jpy|sek|nok|dkk|pln|inr|aud|cad|"
    r"euros?|dollars?|pounds?)\b)",
    re.I,
)


# A tool's name as prose cannot say it: joined words (get_shipment, files.list, GetItem).
_IDENTIFIER: Final = re.compile(
    r"\b[A-Za-z]\w*(?:[_./-]\w+)+\b"  # snake_case, dotted, kebab-case
    r"|\b[a-z]+(?:[A-Z][a-z0-9]*)+\b"  # camelCase
    r"|\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b"  # PascalCase
)


def identifiers_in(text: str) -> frozenset[str]:
    """Lower-cased, the tokens of ``text`` shaped like a tool's name rather than a word:
    only such a name, when it is a listed tool's, says that the text names that tool."""
    if _JOINED.search(text) is None:  # what every such name has; most prose has none
        return frozenset()
    return frozenset(m.group(0).lower() for m in _IDENTIFIER.finditer(text))


# Two word characters joined by a separator, or a capital after a small letter or digit.
_JOINED: Final = re.compile(r"\w[_./-]\w|[a-z0-9][A-Z]")


# A runner of something that only reads ("run_query", "execute_report") reads.
_RUNNERS: Final = frozenset(_list("run execute exec start invoke trigger launch"))
_READ_OBJECTS: Final = frozenset(
    _list("query queries report reports search select lookup count analysis analytics")
)


# Verbs that take a state after them ("mark_read", "set_status"): the first word decides.
_STATE_VERBS: Final = frozenset(_list("mark set change"))


def name_kind(name: str) -> str | None:
    """The kind a tool's name says, read from its verb (the first word that has a kind).
    A first word that is a noun as often as a verb ("page_search", "invoice_list",
    "mail.read") names the object when a later word has a kind: that word is the verb if
    it is no noun itself, or if it is a read ending the name ("invoice_list")."""
    tokens = words(name)
    for i, token in enumerate(tokens):
        kind = kind_of(token)
        if kind is None:
            continue
        if token in _RUNNERS and _READ_OBJECTS.intersection(tokens[i + 1 :]):
            return READ
        if i == 0 and _ambiguous(token) and token not in _STATE_VERBS:
            for j, later in enumerate(tokens[1:], 1):
                verb = kind_of(later)
                if verb is None:
                    continue
                if not _ambiguous(later) or (verb == READ and j == len(tokens) - 1):
                    return verb
        return kind
    return None


def _ambiguous(word: str) -> bool:
    """A noun as often as a verb, in any of its inflections ("pages", "invoices")."""
    return word in AMBIGUOUS or word[:-1] in AMBIGUOUS or word[:-2] in AMBIGUOUS


def url_path(url: str) -> str:
    """What follows a URL's host (its path and query), or the value itself if it has none."""
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else ""


def shape_role(value: str) -> str | None:
    """The role a value's shape alone decides: an address is a recipient, a URL a
    destination, an IBAN an account, whatever its key is called. Cheap tests first."""
    if "@" in value and EMAIL.fullmatch(value):
        return RECIPIENT
    if value[:1] == "+" and PHONE.fullmatch(value):
        return RECIPIENT
    if ("://" in value or value[:4] == "www.") and URL.match(value):
        return DESTINATION
    if (
        len(value) >= 15
        and value[:2].isalpha()
        and value[2:4].isdigit()
        and IBAN.fullmatch(value.upper())
    ):
        return ACCOUNT
    return None


# An account named by these is the one acting or paying, not where anything goes.
SOURCE_WORDS: Final = frozenset(_list("from source src debit origin"))


def key_role(key: str, schema: Mapping[str, Any] | None) -> str:
    """The role an argument's name and its schema's description give it."""
    key_words = words(key)
    if (
        key_words
        and key_words[0] in _VOLUME_WORDS
        and (len(key_words) == 1 or key_words[-1] in _VOLUME_WORDS or key_words[-1] in _COUNTED)
    ):
        return VOLUME  # limit, maxResults, per_page, _count
    if len(key_words) > 1 and (
        key_words[-1] in ("size", "limit", "count", "max") or key_words[0] == "per"
    ):
        return VOLUME  # pageSize, batch_limit, per_page: how many, not which page
    if any(w in _PAGE_WORDS for w in key_words) and (
        key_words[-1] not in _NOT_PAGE_ENDS or key.lower() in _PAGE_WORDS
    ):
        return PAGE  # page, pageToken, startAt; not page_id, pageIds, paged_at, startTime
    described = words(str((schema or {}).get("description", ""))) if schema else []
    for role, names in _ROLE_KEYS:
        if key.lower() in names or (key_words and key_words[-1] in names):
            return role
    for role, names in _ROLE_KEYS:
        if role in (VOLUME, CONTENT):
            continue
        # A description's "code" is a site's, a door's or a discount's, not a program.
        if any(w in names for w in key_words) or any(
            w in names and w != "code" for w in described[:12]
        ):
            return role
    if key_words and key_words[-1] in ("id", "ids", "path", "file", "name", "key"):
        return TARGET
    return OTHER


def argument_role(key: str, schema: Mapping[str, Any] | None, value: str) -> str:
    """The role an argument plays: its value's shape first, else its name and schema."""
    return shape_role(value) or key_role(key, schema)


def leaf_values(arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, text) of every scalar in the arguments, nested lists and objects walked (the
    last argument first). Every scored call walks its arguments twice: the JSON types are
    told by ``type`` before the slower ``isinstance`` checks of other mappings and
    sequences."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = list(arguments.items())
    while stack:
        key, value = stack.pop()
        kind = type(value)
        if kind is str:
            found.append((key, value))
        elif kind is int or kind is float:
            found.append((key, str(value)))
        elif kind is bool or value is None:
            continue
        elif kind is dict or isinstance(value, Mapping):
            stack.extend((f"{k}", v) for k, v in value.items())
        elif kind is list or isinstance(value, list | tuple):
            stack.extend((key, v) for v in value)
        else:
            found.append((key, str(value)))
    return found
