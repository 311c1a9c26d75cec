"""The catalogue's domains, one module each."""

from __future__ import annotations

from models.scenarios.catalog import Domain
from models.scenarios.domains.accounting import ACCOUNTING
from models.scenarios.domains.banking import BANKING
from models.scenarios.domains.calendar import CALENDAR
from models.scenarios.domains.chat import CHAT
from models.scenarios.domains.cloud import CLOUD
from models.scenarios.domains.code import CODE
from models.scenarios.domains.crm import CRM
from models.scenarios.domains.databases import DATABASES
from models.scenarios.domains.devops import DEVOPS
from models.scenarios.domains.docs import DOCS
from models.scenarios.domains.files import FILES
from models.scenarios.domains.health import HEALTH
from models.scenarios.domains.hr import HR
from models.scenarios.domains.iot import IOT
from models.scenarios.domains.legal import LEGAL
from models.scenarios.domains.logistics import LOGISTICS
from models.scenarios.domains.mail import MAIL
from models.scenarios.domains.shop import SHOP
from models.scenarios.domains.social import SOCIAL
from models.scenarios.domains.ticketing import TICKETING
from models.scenarios.domains.travel import TRAVEL
from models.scenarios.domains.web import WEB

ALL: tuple[Domain, ...] = (
    MAIL, CALENDAR, FILES, CHAT, BANKING, TRAVEL, CRM, TICKETING, CODE, DATABASES, CLOUD,
    HR, SHOP, HEALTH, DOCS, WEB,
    SOCIAL, IOT, ACCOUNTING,
    DEVOPS, LEGAL, LOGISTICS,
)  # fmt: skip
