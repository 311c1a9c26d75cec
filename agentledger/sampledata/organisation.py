"""The organisation: people, agent instances, and their Okta and AWS ids (stable for a seed)."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from functools import lru_cache

from agentledger.sampledata.catalog import AGENT_KINDS, DIRECT_WORK, AgentKind
from agentledger.sampledata.common import ALNUM, OKTA_HOST, ORG_DOMAIN, okta_id, upper16
from agentledger.sampledata.context import CUSTOMERS

_PEOPLE = (
    ("alice", "Alice Martin", "support"),
    ("bob", "Bob Okafor", "support"),
    ("carol", "Carol Nguyen", "support"),
    ("dave", "Dave Kowalski", "support"),
    ("erin", "Erin Walsh", "finance"),
    ("frank", "Frank Moreau", "finance"),
    ("grace", "Grace Lindqvist", "finance"),
    ("heidi", "Heidi Schmidt", "engineering"),
    ("ivan", "Ivan Petrov", "engineering"),
    ("judy", "Judy Alvarez", "engineering"),
    ("ken", "Ken Tanaka", "engineering"),
    ("laura", "Laura Rossi", "data"),
    ("mike", "Mike Brennan", "data"),
    ("nina", "Nina Haddad", "data"),
    ("olivia", "Olivia Grant", "sales"),
    ("peter", "Peter Novak", "sales"),
    ("quinn", "Quinn Adeyemi", "sales"),
    ("rachel", "Rachel Cohen", "sales"),
    ("sam", "Sam Delgado", "sales"),
    ("tara", "Tara Singh", "support"),
)
_BROWSERS = (
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "Mac OS X",
        "CHROME",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "Windows 10",
        "EDGE_CHROMIUM",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
        "Linux",
        "FIREFOX",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Safari/605.1.15",
        "Mac OS X",
        "SAFARI",
    ),
)
PLACES = (
    ("San Francisco", "California", "United States", "94107", 37.7697, -122.3933),
    ("New York", "New York", "United States", "10001", 40.7506, -73.9972),
    ("London", "England", "United Kingdom", "EC1A", 51.5164, -0.0930),
    ("Berlin", "Land Berlin", "Germany", "10115", 52.5323, 13.3846),
    ("Toronto", "Ontario", "Canada", "M5H", 43.6496, -79.3833),
)


@dataclass(frozen=True, slots=True)
class Person:
    login: str
    email: str
    display: str
    department: str
    user_id: str
    ip: str
    browser: tuple[str, str, str]
    place: tuple[str, str, str, str, float, float]
    iam_user_id: str  # AIDA... for engineers with an IAM user, else ""
    iam_key: str  # their long-term AKIA key


@dataclass(frozen=True, slots=True)
class Instance:
    kind: AgentKind
    instance: str
    client_id: str
    ip: str  # egress address the agent calls Okta from
    server_ip: str  # the MCP server's address as AWS sees it
    role: str
    role_id: str  # AROA...
    users: tuple[Person, ...]


@dataclass(frozen=True, slots=True)
class Directory:
    account: str
    auth_server: str
    issuer: str
    saml_app_id: str  # the AWS Account Federation app in Okta
    saml_app_key: str
    saml_issuer: str
    saml_qualifier: str
    people: tuple[Person, ...]
    instances: tuple[Instance, ...]
    instance_weights: tuple[int, ...]
    customers: tuple[tuple[str, str, str], ...]
    human_role_ids: dict[str, str]  # department -> AROA... of its SAML role


@lru_cache(maxsize=8)
def directory_for(seed: int) -> Directory:
    rng = random.Random(f"agentledger-directory:{seed}")  # noqa: S311 (sample data)
    account = str(rng.randrange(100_000_000_000, 999_999_999_999))
    auth_server = okta_id(rng, "aus")
    people = []
    for login, display, department in _PEOPLE:
        engineer = department == "engineering"
        people.append(
            Person(
                login=login,
                email=f"{login}@{ORG_DOMAIN}",
                display=display,
                department=department,
                user_id=okta_id(rng, "00u"),
                ip=f"198.51.100.{rng.randrange(2, 250)}",
                browser=rng.choice(_BROWSERS),
                place=rng.choice(PLACES),
                iam_user_id="AIDA" + upper16(rng)[:17] if engineer else "",
                iam_key="AKIA" + upper16(rng) if engineer else "",
            )
        )
    instances = []
    weights = []
    for kind in AGENT_KINDS:
        client_id = okta_id(rng, "0oa")
        role_id = "AROA" + base64.b32encode(rng.randbytes(11)).decode()[:17]
        users = tuple(p for p in people if p.department == kind.department)
        for _ in range(rng.randrange(2, 4)):
            instances.append(
                Instance(
                    kind=kind,
                    instance=f"{kind.agent_id}-{rng.getrandbits(12):03x}",
                    client_id=client_id,
                    ip=f"192.0.2.{rng.randrange(2, 250)}",
                    server_ip=f"203.0.113.{rng.randrange(2, 250)}",
                    role=f"{kind.agent_id}-role",
                    role_id=role_id,
                    users=users,
                )
            )
            weights.append(kind.weight)
    customers = tuple(
        (slug, title, "cus_" + "".join(rng.choices(ALNUM, k=14))) for slug, title in CUSTOMERS
    )
    human_role_ids = {
        d: "AROA" + base64.b32encode(rng.randbytes(11)).decode()[:17] for d in DIRECT_WORK
    }
    saml_app_key = okta_id(rng, "exk")
    return Directory(
        account=account,
        auth_server=auth_server,
        issuer=f"https://{OKTA_HOST}/oauth2/{auth_server}",
        saml_app_id=okta_id(rng, "0oa"),
        saml_app_key=saml_app_key,
        saml_issuer=f"http://www.okta.com/{saml_app_key}",
        saml_qualifier=base64.b64encode(rng.randbytes(21)).decode(),
        people=tuple(people),
        instances=tuple(instances),
        instance_weights=tuple(weights),
        customers=customers,
        human_role_ids=human_role_ids,
    )
