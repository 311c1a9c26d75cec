"""The organisation: people, agent instances, and their Okta and AWS ids (stable for a seed).

The default directory has the twenty people of ``_PEOPLE``. Live-paced traffic needs a
directory sized to its rate (``people_for``): twenty people starting hundreds of tasks a
second would each run a thousand at once, and any key bound to a person (an IAM user's access
key, an STS session name, a principal within a window) would then join tasks that no real
person runs together. Beyond the first twenty, people are drawn on demand from their index.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import overload

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
NAMED_PEOPLE = len(_PEOPLE)  # the default directory's people
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
    users: Sequence[Person]


@dataclass(frozen=True, slots=True)
class Directory:
    account: str
    auth_server: str
    issuer: str
    saml_app_id: str  # the AWS Account Federation app in Okta
    saml_app_key: str
    saml_issuer: str
    saml_qualifier: str
    people: Sequence[Person]
    instances: tuple[Instance, ...]
    instance_weights: tuple[int, ...]
    customers: tuple[tuple[str, str, str], ...]
    human_role_ids: dict[str, str]  # department -> AROA... of its SAML role


class _Indexed(Sequence[Person]):
    """People by index: slices, negative indices and bounds here, each person by ``_at``."""

    def _at(self, index: int) -> Person:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> Person: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Person]: ...
    def __getitem__(self, index: int | slice) -> Person | Sequence[Person]:
        size = len(self)
        if isinstance(index, slice):
            return [self._at(i) for i in range(*index.indices(size))]
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError(index)
        return self._at(index)


class _People(_Indexed):
    """The first ``len(named)`` people as drawn with the directory, then one drawn from its
    index on first use (a department repeats every ``len(_PEOPLE)`` indices)."""

    def __init__(self, seed: int, named: list[Person], size: int) -> None:
        self._seed = seed
        self._named = named
        self._size = size
        self._drawn: dict[int, Person] = {}

    def __len__(self) -> int:
        return self._size

    def _at(self, index: int) -> Person:
        if index < len(self._named):
            return self._named[index]
        person = self._drawn.get(index)
        if person is None:
            person = self._drawn[index] = _drawn_person(self._seed, index)
        return person


class _Department(_Indexed):
    """One department's people, in index order, as a view of ``_People``."""

    def __init__(self, people: _People, bases: tuple[int, ...]) -> None:
        self._people = people
        self._bases = bases  # the department's indices among the first len(_PEOPLE)

    def __len__(self) -> int:
        return len(self._bases) * (len(self._people) // len(_PEOPLE))

    def _at(self, index: int) -> Person:
        block, at = divmod(index, len(self._bases))
        return self._people[block * len(_PEOPLE) + self._bases[at]]


def _drawn_person(seed: int, index: int) -> Person:
    """Person ``index`` (beyond the named ones): a name made of two named people's, a unique
    address in the shared address space ISPs give their customers (RFC 6598)."""
    rng = random.Random(f"agentledger-person:{seed}:{index}")  # noqa: S311 (sample data)
    block, at = divmod(index, len(_PEOPLE))
    first, department = _PEOPLE[at][1].split()[0], _PEOPLE[at][2]
    last = _PEOPLE[(at + block) % len(_PEOPLE)][1].split()[-1]
    ip = f"100.{64 + (index >> 16) % 64}.{(index >> 8) & 255}.{index & 255}"
    login = f"{first.lower()}.{last.lower()}{block}"
    return _person(rng, login, f"{first} {last}", department, ip)


def _person(
    rng: random.Random, login: str, display: str, department: str, ip: str | None
) -> Person:
    """A person's ids drawn from ``rng`` (an address too, in a documentation range, if
    ``ip`` is None), in the order the default directory has always drawn them."""
    engineer = department == "engineering"
    return Person(
        login=login,
        email=f"{login}@{ORG_DOMAIN}",
        display=display,
        department=department,
        user_id=okta_id(rng, "00u"),
        ip=f"198.51.100.{rng.randrange(2, 250)}" if ip is None else ip,
        browser=rng.choice(_BROWSERS),
        place=rng.choice(PLACES),
        iam_user_id="AIDA" + upper16(rng)[:17] if engineer else "",
        iam_key="AKIA" + upper16(rng) if engineer else "",
    )


@lru_cache(maxsize=8)
def directory_for(seed: int, people: int = len(_PEOPLE)) -> Directory:
    """The organisation for ``seed``, with ``people`` people (rounded up to whole copies of
    the departments). Its first twenty people, its agents and ids do not depend on ``people``."""
    if people < len(_PEOPLE):
        raise ValueError(f"a directory has at least {len(_PEOPLE)} people")
    size = -(-people // len(_PEOPLE)) * len(_PEOPLE)
    rng = random.Random(f"agentledger-directory:{seed}")  # noqa: S311 (sample data)
    account = str(rng.randrange(100_000_000_000, 999_999_999_999))
    auth_server = okta_id(rng, "aus")
    named = [_person(rng, *person, ip=None) for person in _PEOPLE]
    everyone = _People(seed, named, size)
    instances = []
    weights = []
    for kind in AGENT_KINDS:
        client_id = okta_id(rng, "0oa")
        role_id = "AROA" + base64.b32encode(rng.randbytes(11)).decode()[:17]
        bases = tuple(i for i, p in enumerate(named) if p.department == kind.department)
        users = _Department(everyone, bases)
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
        people=everyone,
        instances=tuple(instances),
        instance_weights=tuple(weights),
        customers=customers,
        human_role_ids=human_role_ids,
    )
