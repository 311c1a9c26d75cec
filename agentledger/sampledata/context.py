"""The values that fill the templates of a session: customers, orders, services, queries."""

from __future__ import annotations

import random

from agentledger.sampledata.aws_ops import Ctx
from agentledger.sampledata.common import random_uuid, urlsafe

CUSTOMERS = (
    ("globex", "Globex Corporation"),
    ("initech", "Initech"),
    ("umbrella", "Umbrella Health"),
    ("hooli", "Hooli"),
    ("soylent", "Soylent Foods"),
    ("stark", "Stark Industries"),
    ("wayne", "Wayne Enterprises"),
    ("wonka", "Wonka Confectionery"),
    ("tyrell", "Tyrell Corporation"),
    ("cyberdyne", "Cyberdyne Systems"),
    ("vandelay", "Vandelay Industries"),
    ("piedpiper", "Pied Piper"),
    ("massive", "Massive Dynamic"),
    ("aperture", "Aperture Science"),
    ("bluesun", "Blue Sun"),
    ("oscorp", "Oscorp"),
    ("duff", "Duff Beverages"),
    ("gringotts", "Gringotts Bank"),
    ("prestige", "Prestige Worldwide"),
    ("dunder", "Dunder Mifflin"),
)
_ADDRESSES = (
    "221B Baker Street, London NW1 6XE, GB",
    "1600 Amphitheatre Pkwy, Mountain View, CA 94043, US",
    "350 Fifth Avenue, New York, NY 10118, US",
    "Unter den Linden 77, 10117 Berlin, DE",
    "1 Infinite Loop, Cupertino, CA 95014, US",
    "100 Queen St W, Toronto, ON M5H 2N2, CA",
    "Rue de Rivoli 99, 75001 Paris, FR",
    "500 Terry Francine St, San Francisco, CA 94158, US",
)
_TIERS = ("enterprise", "growth", "starter")
_STAGES = ("Discovery", "Proposal", "Negotiation", "Closed Won")
_SERVICES = ("checkout", "payments", "search", "auth-gateway", "notifications")
_ENVS = ("prod", "prod", "staging")
_SEGMENTS = ("enterprise", "mid-market", "smb")
_QUARTERS = ("Q2 2026", "Q3 2026")
_DATASETS = ("orders", "subscriptions", "revenue_daily", "web_sessions")
_MONTHS = ("2026-09", "2026-10")
_KB_QUERIES = ("shipping delay awaiting stock", "change billing contact", "sso setup okta")
_SQL = {
    "churn": (
        "SELECT segment, count(*) AS churned FROM churn_events "
        "WHERE event_date >= date_add('day', -7, current_date) AND segment = '{segment}' "
        "GROUP BY segment"
    ),
    "revenue": (
        "SELECT region, sum(amount_usd) AS revenue FROM revenue_daily "
        "WHERE quarter = '{quarter}' GROUP BY region ORDER BY revenue DESC"
    ),
    "rows": "SELECT count(*) FROM {dataset} WHERE load_date = current_date - interval '1' day",
}


def draw_context(rng: random.Random, customers: tuple[tuple[str, str, str], ...]) -> Ctx:
    slug, title, customer_id = customers[int(rng.random() * len(customers))]
    r = rng.random
    c: Ctx = {
        "customer": slug,
        "customer_title": title,
        "customer_id": customer_id,
        "tier": _TIERS[int(r() * 3)],
        "old_address": _ADDRESSES[int(r() * len(_ADDRESSES))],
        "new_address": _ADDRESSES[int(r() * len(_ADDRESSES))],
        "order_id": f"ord_{rng.getrandbits(40):012d}",
        "invoice_id": "in_" + urlsafe(rng, 9).replace("-", "A").replace("_", "b"),
        "ticket_id": f"TCK-{int(r() * 90000) + 10000}",
        "opportunity_id": f"opp_{rng.getrandbits(32):08x}",
        "stage": _STAGES[int(r() * 4)],
        "amount": str(int(r() * 480) + 20),
        "month": _MONTHS[int(r() * 2)],
        "service": _SERVICES[int(r() * len(_SERVICES))],
        "env": _ENVS[int(r() * 3)],
        "instance_id": f"i-0{rng.getrandbits(64):016x}",
        "hex16": f"{rng.getrandbits(64):016x}",
        "segment": _SEGMENTS[int(r() * 3)],
        "quarter": _QUARTERS[int(r() * 2)],
        "dataset": _DATASETS[int(r() * 4)],
        "query_id": random_uuid(rng),
        "kb_query": _KB_QUERIES[int(r() * 3)],
        "n5": str(int(r() * 90000) + 10000),
        "n5b": str(int(r() * 90000) + 10000),
        "n2": str(int(r() * 90) + 10),
    }
    c["note"] = f"Customer asked to ship future orders to {c['new_address']}."
    c["report"] = f"churn-{c['segment']}-{c['month']}"
    c["sql"] = _SQL[("churn", "revenue", "rows")[int(r() * 3)]].format_map(c)
    return c
