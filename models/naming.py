"""Whether a call's values are things the intent or the session's data named: a sensitive
subject the intent never spoke of, a table or topic it did, an address made of a name it
gave, a mailbox made of a person a result named."""

from __future__ import annotations

from models import text
from models.session import Trail


def sensitive_subject(lower: str, trail: Trail) -> str:
    """The sensitive subject a read's value names (pay, identity papers, secrets, health,
    home addresses) that its intent never spoke of, or ""."""
    if not any(c in lower for c in text.SENSITIVE_FIRST):
        return ""
    for word in text.words(lower):
        if word in text.SENSITIVE_WORDS and word[:5] not in trail.intent_stems:
            return word
    if "home address" in lower and "home" not in trail.intent_words:
        return "home address"
    return ""


def topic_named(word: str, trail: Trail) -> bool:
    """Whether the intent speaks of ``word`` (a table's name, "order_items"): one of its
    parts shares a stem with an intent word."""
    return any(
        part[:5] in trail.intent_stems
        for part in text.words(word.replace("_", " "))
        if len(part) > 2 and part not in text.STOPWORDS
    )


def address_of_named(value: str, trail: Trail) -> bool:
    """An address whose mailbox or domain is a name the intent gave ("email procurement at
    Globex": procurement@globex.example), so the intent named it."""
    if "@" not in value and "://" not in value:
        return False
    if "://" in value:
        # A URL is named by its host, not by the words of its path or query; and by the
        # whole of its site's name ("status.supply-notify.io" names no north-supply.co).
        host = value.partition("://")[2].partition("/")[0].partition(":")[0]
        if host in trail.intent_lower:
            return True
        labels = [label for label in host.split(".") if label != "www"]
        site = labels[-2] if len(labels) >= 2 else (labels[0] if labels else "")
        parts = [p for p in text.words(site) if len(p) >= 3]
        return bool(parts) and all(p in trail.intent_words for p in parts)
    for part in text.words(value):
        if len(part) >= 4 and part not in text.ADDRESS_WORDS and part in trail.intent_words:
            return True
    return False


def mailbox_of_named(value: str, results_lower: str) -> bool:
    """An address whose mailbox is a person a result named ("amara.raman@..." after a result
    listed "Traveller: Amara Raman"): the data gave the person, if not their address."""
    at = value.find("@")
    if at <= 0:
        return False
    parts = [p for p in value[:at].replace("_", ".").replace("-", ".").split(".") if p]
    return len(parts) >= 2 and " ".join(parts) in results_lower
