"""Who reads which opportunity (`domain.authorization.may_read`): every row of
the read table in docs/security.md, at fixed instants."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from domain.authorization import READ_SCOPE_BY_ROLE, may_read, readable_rows
from domain.messages import ApprovalStatus
from domain.models import Opportunity, Region
from domain.policy import Policy, Role, RosterUser
from domain.queue import QueueItem
from tests.conftest import FIXTURES

MID_MONTH = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)  # a Wednesday: no cover anywhere
LAST_DAY = datetime(2026, 3, 31, 15, 0, tzinfo=UTC)  # end of quarter: cover everywhere
NO_COVER = Policy(cover_business_days=0)
COVER = Policy(cover_business_days=2)


def _status(**changes: object) -> ApprovalStatus:
    example = json.loads((FIXTURES / "opportunity.example.json").read_text())
    opportunity = Opportunity.model_validate(example)
    fields: dict[str, object] = {
        "opportunity_id": opportunity.id,
        "stage": "om_review",
        "round": 1,
        "region": Region.AMER,
        "opportunity": opportunity,
    }
    fields.update(changes)
    return ApprovalStatus.model_validate(fields)


def _user(role: str, regions: list[Region] | None = None, email: str = "x@example.com"):
    return RosterUser.model_construct(email=email, role=role, regions=regions or [], token=None)


OWNER = "riley.rep@example.com"


@pytest.mark.parametrize(
    ("reader", "status", "allowed"),
    [
        (_user(Role.REP, email=OWNER), _status(), True),
        (_user(Role.REP, email="RILEY.rep@example.com "), _status(), True),
        (_user(Role.REP, email="emma.rep@example.com"), _status(), False),
        (_user(Role.REP, email=OWNER), _status(opportunity=None), False),
        (_user(Role.ORDER_MANAGEMENT, [Region.AMER]), _status(), True),
        (_user(Role.ORDER_MANAGEMENT, [Region.EMEA]), _status(), False),
        (_user(Role.ORDER_MANAGEMENT, [Region.EMEA]), _status(queue_region=Region.EMEA), True),
        (_user(Role.ORDER_MANAGEMENT, [Region.APAC]), _status(breached=True), True),
        (
            _user(Role.ORDER_MANAGEMENT, [Region.APAC], email="om.apac@example.com"),
            _status(om_approver="om.apac@example.com", stage="finance_review"),
            True,
        ),
        (_user(Role.BILLING), _status(), True),
        (_user(Role.AUDITOR), _status(), True),
        (_user(Role.MANAGER, [Region.AMER]), _status(), True),
        (_user(Role.MANAGER, [Region.EMEA]), _status(), False),
        (_user(Role.MANAGER, [Region.EMEA]), _status(queue_region=Region.EMEA), True),
        (_user(Role.MANAGER, [Region.EMEA]), _status(breached=True), False),
        (_user("someone_new", list(Region)), _status(), False),
    ],
    ids=lambda v: getattr(v, "email", None) and f"{v.role}:{v.regions}" or None,
)
def test_who_reads_which_opportunity(reader, status, allowed):
    assert may_read(reader, status, MID_MONTH, COVER) is allowed


def test_specialists_read_every_region_in_end_of_period_cover_only_when_it_is_on():
    emea = _user(Role.ORDER_MANAGEMENT, [Region.EMEA])
    assert may_read(emea, _status(), LAST_DAY, COVER)
    assert not may_read(emea, _status(), LAST_DAY, NO_COVER)
    assert not may_read(emea, _status(), MID_MONTH, COVER)


def test_every_role_of_the_roster_has_a_read_scope():
    assert {r.value for r in Role} <= READ_SCOPE_BY_ROLE.keys()
    assert set(READ_SCOPE_BY_ROLE.values()) == {"all", "home", "regions", "own"}


def test_managers_read_their_regions_even_in_cover():
    emea = _user(Role.MANAGER, [Region.EMEA])
    assert not may_read(emea, _status(), LAST_DAY, COVER)


def _row(region: Region, queue_region: Region | None = None, **changes: object) -> QueueItem:
    return QueueItem(
        opportunity_id=f"006{region.value}{queue_region or ''}{len(changes)}",
        stage="om_review",
        region=region,
        queue_region=queue_region or region,
        **changes,
    )


ROWS = [
    _row(Region.AMER),
    _row(Region.EMEA),
    _row(Region.APAC, Region.EMEA),  # handed to EMEA
    _row(Region.APAC, breached=True),
    _row(Region.APAC),
]


@pytest.mark.parametrize(
    ("reader", "when", "expected"),
    [
        (_user(Role.BILLING), MID_MONTH, [0, 1, 2, 3, 4]),
        (_user(Role.AUDITOR), MID_MONTH, [0, 1, 2, 3, 4]),
        (_user(Role.MANAGER, [Region.EMEA]), MID_MONTH, [1, 2]),
        (_user(Role.MANAGER, [Region.EMEA]), LAST_DAY, [1, 2]),
        (_user(Role.ORDER_MANAGEMENT, [Region.EMEA]), MID_MONTH, [1, 2, 3]),
        (_user(Role.ORDER_MANAGEMENT, [Region.EMEA]), LAST_DAY, [0, 1, 2, 3, 4]),
        (_user(Role.REP, email=OWNER), MID_MONTH, []),
    ],
    ids=lambda v: getattr(v, "role", None) or getattr(v, "day", None),
)
def test_queue_rows_follow_the_read_rule(reader, when, expected):
    assert readable_rows(reader, ROWS, when, COVER) == [ROWS[i] for i in expected]
