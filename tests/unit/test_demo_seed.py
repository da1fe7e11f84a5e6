"""docs/operations.md "The demo data" against the seed it describes: the table
is read from the document and each claim recomputed with the real pre-check,
close-date rule and seed, so editing either without the other fails here.
The date-dependent claims (far-future starts, judgment findings) are in the
document's prose, not the table: the figures it gives for the days it names
are repeated below and checked at fixed instants, never for today."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.bookings import billing_review_due, close_date_for
from domain.models import Deployment, Opportunity
from domain.requirements import check_booking_requirements
from sandbox.seed import load_demo_seed

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
PREFIX = "0065e00000DEMO"


def _seed() -> tuple[dict[str, Opportunity], set[str]]:
    seed = load_demo_seed()
    opportunities = [Opportunity.model_validate(raw) for raw in seed["opportunities"]]
    return {o.id.removeprefix(PREFIX): o for o in opportunities}, {
        i.removeprefix(PREFIX) for i in seed["delivered_licenses"]
    }


def _table() -> dict[str, str]:
    """The rows of the demo-data table: first cell -> second cell."""
    section = OPERATIONS.read_text().split("## The demo data", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| ")]
    return {first.strip(): second.strip() for first, second in rows[1:]}


def _row(start: str) -> str:
    (cell,) = [value for key, value in _table().items() if key.startswith(start)]
    return cell


def _ids(cell: str) -> set[str]:
    return set(re.findall(r"\b\d{2}\b", cell))


def test_hard_findings_match_the_pre_check():
    opportunities, _ = _seed()
    documented: dict[str, set[str]] = {}
    for part in _row("hard finding").split(";"):
        code = part.split()[-1]
        for number in _ids(part):
            documented.setdefault(number, set()).add(code)
    actual = {
        number: {f.code for f in check_booking_requirements(o) if f.severity == "hard"}
        for number, o in opportunities.items()
    }
    assert documented == {n: codes for n, codes in actual.items() if codes}
    assert _ids(_row("no hard finding")) == {n for n, codes in actual.items() if not codes}


def test_urgent_and_license_rows_match_the_seed():
    opportunities, delivered = _seed()
    self_managed = {n for n, o in opportunities.items() if o.deployment == Deployment.SELF_MANAGED}
    assert _ids(_row("urgent")) == {n for n, o in opportunities.items() if o.urgent}
    assert _ids(_row("self-managed, automation delivers")) == self_managed & delivered
    assert _ids(_row("self-managed, not delivered")) == self_managed - delivered
    assert _ids(_row("SaaS")) == set(opportunities) - self_managed


def _at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T20:00:00").replace(tzinfo=UTC)  # noon Pacific


@pytest.mark.parametrize(
    ("day", "far_future"),
    [
        ("2026-11-30", "03 04 05 06 11 12 13 14 16 19 20 21 22 23 24 25 26"),
        ("2026-12-31", "14 25"),
        ("2027-01-10", ""),
    ],
)
def test_far_future_starts_on_the_documented_days(day: str, far_future: str):
    opportunities, _ = _seed()
    actual = {n for n, o in opportunities.items() if billing_review_due(o, _at(day))}
    assert actual == _ids(far_future)


@pytest.mark.parametrize(
    ("day", "judgment"),
    [
        ("2026-11-16", ""),
        ("2026-11-17", "10"),
        ("2026-11-30", "10"),
        ("2026-12-25", "10"),
        ("2026-12-30", "02 10"),
    ],
)
def test_judgment_findings_on_the_documented_days(day: str, judgment: str):
    opportunities, _ = _seed()
    at = _at(day)
    actual = {
        n
        for n, o in opportunities.items()
        if any(f.severity == "acknowledge" for f in close_date_for(o, at, at).findings)
    }
    assert actual == _ids(judgment)


README = OPERATIONS.parents[1] / "README.md"


def _tour() -> dict[str, str]:
    """The README's "Where to look" table: what it shows -> the ids cell."""
    section = README.read_text().split("| to see | open |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| ")]
    return {first.strip(): second.strip() for first, second in rows}


def test_the_readme_tour_names_ids_that_show_what_it_says():
    from cli.dev import SLA_WARNING_DEMO

    opportunities, delivered = _seed()
    tour = _tour()
    at = _at("2026-11-30")
    hard, judgment = tour["a hard finding / a judgment finding"].split(" / ")
    (hard_id,) = _ids(hard)
    assert [f.code for f in check_booking_requirements(opportunities[hard_id])] == [
        "ORDER_FORM_MISSING"
    ]
    (judgment_id,) = _ids(judgment)
    findings = close_date_for(opportunities[judgment_id], at, at).findings
    assert [(f.code, f.severity) for f in findings] == [
        ("START_DATE_CONFIRMATION_NEEDED", "acknowledge")
    ]
    assert not check_booking_requirements(opportunities[judgment_id])
    assert _ids(tour["an urgent handoff"]) == {n for n, o in opportunities.items() if o.urgent}
    (ticket_id,) = _ids(tour["a license ticket / an SLA warning"])
    ticket = opportunities[ticket_id]
    assert ticket.deployment == Deployment.SELF_MANAGED and ticket_id not in delivered
    assert not check_booking_requirements(ticket) and not close_date_for(ticket, at, at).findings
    assert ticket.id == SLA_WARNING_DEMO and not ticket.urgent
    (future_id,) = _ids(tour["a Billing date in the future"].split("(")[0])
    due = billing_review_due(opportunities[future_id], at)
    assert due is not None and due.date().isoformat() in tour["a Billing date in the future"]
    assert not check_booking_requirements(opportunities[future_id])
    (cover_id,) = re.findall(r"DEMO(\d{2})", tour["month-end cover"])
    assert not check_booking_requirements(opportunities[cover_id])
    assert opportunities[cover_id].region.value == "AMER" and "om.emea" in tour["month-end cover"]
