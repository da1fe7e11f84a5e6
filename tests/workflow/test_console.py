"""The console's pages and forms through httpx, against the real workflow.

Opportunity pages and decisions run on the time-skipping server (the
`harness`); the queue pages and `GET /queue` list workflows by search
attribute, which only a real dev server answers (`dev_harness`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.app import create_app
from domain.models import Region
from domain.queue import for_region
from domain.reasons import ReasonCode
from domain.timefmt import local_label
from tests.clock import clock_today
from tests.workflow.conftest import Harness, new_payload, wait_stage
from tests.workflow.test_review_sla import round_the_clock, use_calendars

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


async def sign_in(client: httpx.AsyncClient, token: str) -> str:
    """Sign in with a roster token; returns the session's CSRF token."""
    response = await client.post("/console/login", data={"token": token})
    assert response.status_code == 303, response.text
    # Any page shows the session's token (the sign-out form carries it).
    page = await client.get("/console/login")
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def _client(harness: Harness, demo: bool = True) -> httpx.AsyncClient:
    """The console in demo mode (one-click demo sign-in), as `om dev` serves it.
    The harness's own settings (tests change its calendars after this)."""
    harness.settings.demo = demo
    app = create_app(harness.settings, harness.env.client)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console")


@pytest.fixture
async def console(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(harness) as client:
        yield client


def _starting_in(payload: dict[str, Any], days: int) -> dict[str, Any]:
    """The payload with its quote starting `days` from today (Billing's review
    opens 15 days before the start, so tests do not depend on today's date)."""
    start = clock_today() + timedelta(days=days)
    payload["quote"] = {
        **payload["quote"],
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=364)).isoformat(),
    }
    return payload


# ---- sign in ------------------------------------------------------------------------------


async def test_pages_need_sign_in_and_the_session_cookie_is_httponly_lax(console):
    for path in ("/console/queue", "/console/opportunities/006X", "/console"):
        response = await console.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/")
    to_login = await console.get("/console/queue?region=EMEA")
    assert to_login.headers["location"] == "/console/login?next=%2Fconsole%2Fqueue%3Fregion%3DEMEA"

    login = await console.get("/console/login")
    assert login.status_code == 200
    assert 'data-email="om.amer@example.com"' in login.text and '<label for="token">' in login.text

    elsewhere = await console.post(
        "/console/login",
        data={"token": "demo-om-amer"},
        headers={"Origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403 and "set-cookie" not in elsewhere.headers
    wrong = await console.post("/console/login", data={"token": "nope"})
    assert wrong.status_code == 401 and "unknown token" in wrong.text
    assert "om_console" not in wrong.headers.get("set-cookie", "")

    picked = await console.post(
        "/console/login",
        data={"email": "auditor@example.com", "next": "https://evil.example/x"},
    )
    assert picked.status_code == 303 and picked.headers["location"] == "/console/queue"
    cookie = picked.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie

    page = await console.get("/console/login")
    assert page.status_code == 200 and "Ari Auditor" in page.text
    csrf = CSRF.search(page.text).group(1)
    refused = await console.post("/console/logout", data={})
    assert refused.status_code == 403
    out = await console.post("/console/logout", data={"csrf": csrf})
    assert out.status_code == 303
    assert (await console.get("/console/queue")).status_code == 303


async def test_one_click_demo_sign_in_only_in_demo_mode(harness):
    async with _client(harness, demo=False) as console:
        login = await console.get("/console/login")
        assert login.status_code == 200 and "data-email=" not in login.text
        clicked = await console.post("/console/login", data={"email": "om.amer@example.com"})
        assert clicked.status_code == 401 and "not a one-click demo user" in clicked.text
        assert "om_console" not in clicked.headers.get("set-cookie", "")
        # Roster tokens stay, for service accounts.
        pasted = await console.post("/console/login", data={"token": "demo-om-amer"})
        assert pasted.status_code == 303
        assert "You are signed in as Alex OM (AMER)" in (await console.get("/console/login")).text


# ---- opportunity page -----------------------------------------------------------------


async def test_opportunity_page_shows_facts_findings_rounds_and_om_forms(
    console, harness, example_payload
):
    payload = new_payload(example_payload, po_required=True)
    payload["quote"]["bill_to"]["address"]["postal_code"] = None
    opp = await harness.submit(payload)
    await sign_in(console, "demo-om-amer")

    page = await console.get(f"/console/opportunities/{opp.id}")
    assert page.status_code == 200
    html = page.text
    # The facts a specialist checks.
    for fact in ("Q-10042", "Sam Buyer", "CTO", "Springfield", "125,000.00 USD", "GitLab Inc."):
        assert fact in html, fact
    assert "direct" in html and "self_managed" in html
    # Pre-check findings with code, field and message.
    status = await harness.status(opp.id)
    codes = {f.code for f in status.findings}
    assert {"PO_MISSING", "CONTACT_ADDRESS_INCOMPLETE"} <= codes
    for finding in status.findings:
        assert finding.code in html and finding.field in html
    # Rounds and history.
    assert 'data-testid="rounds"' in html and "booking_check" in html
    # Requirements the pre-check flags show as missing; the postal code here.
    assert 'title="The pre-check flags quote.bill_to.address.postal_code">missing' in html
    # OM decision forms: approve, reject with every reason code and a comment.
    assert 'data-testid="approve-form"' in html and 'data-testid="reject-form"' in html
    for code in ReasonCode:
        assert f'id="reject-{code.value}"' in html
        assert f'<label for="reject-{code.value}">' in html
    assert '<label for="reject-comment">' in html
    assert 'name="round" value="1"' in html
    assert 'data-testid="rep-forms"' not in html
    # The deadline on the queue team's clock names the region and the offset
    # (Los Angeles: UTC-08:00 or UTC-07:00), never the "PST" Manila shares.
    assert status.sla_deadline is not None
    local = local_label(status.sla_deadline, Region.AMER, harness.settings.calendar)
    assert re.fullmatch(r"\w{3} \d{2} \w{3} \d{2}:\d{2} AMER \(UTC-0[78]:00\)", local)
    utc = status.sla_deadline.astimezone(UTC)
    assert (
        f'<time datetime="{utc.isoformat()}" title="{utc:%Y-%m-%d %H:%M} UTC">{local}</time>'
        in html
    )
    # Every time on the page is on that clock, with UTC on hover: status
    # card, rounds and history (no bare UTC times beside local ones).
    assert " UTC</" not in html.split("<main", 1)[1]
    for at in (status.submitted_at, status.rounds[0].opened_at, status.history[0].at):
        assert f">{local_label(at, Region.AMER, harness.settings.calendar)}</time>" in html
    # Handbook words, the internal names kept for machines.
    assert "waiting for Order Management" in html
    assert 'data-action="booking_check">Pre-check</span>' in html


async def test_judgment_findings_get_acknowledge_checkboxes(console, harness, example_payload):
    payload = _starting_in(new_payload(example_payload, deployment="saas", type="add_on"), -40)
    opp = await harness.submit(payload)
    csrf = await sign_in(console, "demo-om-amer")
    html = (await console.get(f"/console/opportunities/{opp.id}")).text
    assert 'id="ack-START_DATE_CONFIRMATION_NEEDED"' in html
    url = f"/console/opportunities/{opp.id}/decide"
    form = {"csrf": csrf, "stage": "om", "action": "approve", "round": "1"}

    unacknowledged = await console.post(url, data=form)
    assert unacknowledged.status_code == 422
    assert "START_DATE_CONFIRMATION_NEEDED" in unacknowledged.text
    assert 'role="alert"' in unacknowledged.text

    acknowledged = await console.post(
        url, data={**form, "acknowledged": ["START_DATE_CONFIRMATION_NEEDED"]}
    )
    assert acknowledged.status_code == 303
    await wait_stage(harness, opp.id, "finance_review")


async def test_hard_findings_get_override_checkboxes_and_a_required_comment(
    console, harness, example_payload
):
    opp = await harness.submit(new_payload(example_payload, deployment="saas", order_form=None))
    csrf = await sign_in(console, "demo-om-amer")
    html = (await console.get(f"/console/opportunities/{opp.id}")).text
    assert 'id="override-ORDER_FORM_MISSING" name="overrides"' in html
    assert '<label for="approve-comment">Why the deal may be booked anyway (required)' in html
    url = f"/console/opportunities/{opp.id}/decide"
    form = {"csrf": csrf, "stage": "om", "action": "approve", "round": "1", "comment": "paper"}

    unticked = await console.post(url, data=form)
    assert unticked.status_code == 422 and 'role="alert"' in unticked.text
    assert "must be fixed: ORDER_FORM_MISSING" in unticked.text
    silent = await console.post(
        url, data={**form, "comment": "", "overrides": "ORDER_FORM_MISSING"}
    )
    assert silent.status_code == 422 and "needs a comment" in silent.text
    assert (await harness.status(opp.id)).stage == "om_review"

    ticked = await console.post(url, data={**form, "overrides": "ORDER_FORM_MISSING"})
    assert ticked.status_code == 303
    status = await wait_stage(harness, opp.id, "finance_review")
    assert status.rounds[0].overrides == ["ORDER_FORM_MISSING"]


async def test_auditor_sees_everything_but_no_controls_and_posts_are_403(
    console, harness, example_payload
):
    opp = await harness.submit(new_payload(example_payload, po_required=True))
    csrf = await sign_in(console, "demo-auditor")
    html = (await console.get(f"/console/opportunities/{opp.id}")).text
    assert "PO_MISSING" in html and "Q-10042" in html and 'data-testid="history"' in html
    main = html.split('<main id="main"', 1)[1]
    assert "<button" not in main and "<form" not in main and 'type="checkbox"' not in main

    history_before = len((await harness.status(opp.id)).history)
    for path, data in [
        ("decide", {"stage": "om", "action": "approve", "round": "1"}),
        ("rep", {"action": "recall"}),
    ]:
        response = await console.post(
            f"/console/opportunities/{opp.id}/{path}", data={"csrf": csrf, **data}
        )
        assert response.status_code == 403 and "read-only" in response.text
    bulk = await console.post("/console/queue/approve", data={"csrf": csrf, "ids": [opp.id]})
    assert bulk.status_code == 403 and "only Billing" in bulk.text
    status = await harness.status(opp.id)
    assert status.stage == "om_review" and len(status.history) == history_before


async def test_posts_without_the_sessions_csrf_token_are_403_and_change_nothing(
    console, harness, example_payload
):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    await sign_in(console, "demo-om-amer")
    url = f"/console/opportunities/{opp.id}/decide"
    decision = {"stage": "om", "action": "approve"}
    missing = await console.post(url, data=decision)
    assert missing.status_code == 403 and "CSRF" in missing.text
    forged = await console.post(url, data={**decision, "csrf": "0" * 64})
    assert forged.status_code == 403

    # Another user's token does not sign this user's forms either.
    async with _client(harness) as other:
        other_csrf = await sign_in(other, "demo-om-emea")
    stolen = await console.post(url, data={**decision, "csrf": other_csrf})
    assert stolen.status_code == 403
    assert (await harness.status(opp.id)).stage == "om_review"


async def test_refusals_are_shown_inline_with_the_apis_status(console, harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    url = f"/console/opportunities/{opp.id}/decide"

    async with _client(harness) as emea:
        emea_csrf = await sign_in(emea, "demo-om-emea")
        other_region = await emea.post(
            url, data={"csrf": emea_csrf, "stage": "om", "action": "approve", "round": "1"}
        )
    # Not theirs to read (no cover, breach or handoff): as for an unknown id,
    # without the region or any fact of the deal.
    assert other_region.status_code == 404
    assert "AMER" not in other_region.text and "Traceback" not in other_region.text
    assert (await harness.status(opp.id)).stage == "om_review"

    csrf = await sign_in(console, "demo-om-amer")
    reject = {"csrf": csrf, "stage": "om", "action": "reject", "round": "1"}
    no_reason = await console.post(url, data={**reject, "comment": "fix it"})
    assert no_reason.status_code == 422 and "at least one reason code" in no_reason.text
    assert "fix it" in no_reason.text  # the comment typed is kept
    bogus = await console.post(url, data={**reject, "reasons": ["BOGUS"], "comment": "x"})
    assert bogus.status_code == 422 and "BOGUS" in bogus.text

    approve = {"csrf": csrf, "stage": "om", "action": "approve", "round": "1"}
    first = await console.post(url, data=approve)
    assert first.status_code == 303
    shown = await console.get(first.headers["location"])
    assert 'data-testid="flash"' in shown.text and "finance_review" in shown.text
    again = await console.post(url, data=approve)
    assert again.status_code == 409
    assert "no Order Management review is pending" in again.text
    assert 'data-testid="approve-form"' not in again.text  # the page shows where it stands now

    missing = await console.get("/console/opportunities/006NOTHERE")
    assert missing.status_code == 404 and "has no approval workflow" in missing.text


async def test_om_rejects_with_two_codes_then_the_rep_resubmits(console, harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    csrf = await sign_in(console, "demo-om-amer")
    rejected = await console.post(
        f"/console/opportunities/{opp.id}/decide",
        data={
            "csrf": csrf,
            "stage": "om",
            "action": "reject",
            "round": "1",
            "reasons": ["PO_MISSING", "VAT_ID_MISSING"],
            "comment": "Attach the PO and add the VAT ID",
        },
    )
    assert rejected.status_code == 303
    status = await wait_stage(harness, opp.id, "rejected")
    chatter = harness.fakes.chatter[-1].body
    assert "PO_MISSING" in chatter and "VAT_ID_MISSING" in chatter
    assert status.rounds[0].outcome is not None

    async with _client(harness) as rep:
        rep_csrf = await sign_in(rep, "demo-riley-rep")
        html = (await rep.get(f"/console/opportunities/{opp.id}")).text
        assert 'data-testid="rep-forms"' in html and "Resubmit for approval" in html
        assert 'data-testid="decision-forms"' not in html
        resubmitted = await rep.post(
            f"/console/opportunities/{opp.id}/rep",
            data={"csrf": rep_csrf, "action": "resubmit", "comment": "PO attached"},
        )
        assert resubmitted.status_code == 303
    status = await wait_stage(harness, opp.id, "om_review")
    assert status.round == 2


async def test_billing_gets_finance_forms_after_om_approval(console, harness, example_payload):
    opp = await harness.submit(_starting_in(new_payload(example_payload, deployment="saas"), 5))
    await harness.approvals.decide(opp.id, "om.amer@example.com", "om", "approve")
    await wait_stage(harness, opp.id, "finance_review")
    csrf = await sign_in(console, "demo-billing")
    html = (await console.get(f"/console/opportunities/{opp.id}")).text
    assert "Billing decision" in html and 'name="stage" value="finance"' in html
    approved = await console.post(
        f"/console/opportunities/{opp.id}/decide",
        data={"csrf": csrf, "stage": "finance", "action": "approve", "round": "1"},
    )
    assert approved.status_code == 303
    status = await harness.status(opp.id)
    assert status.stage not in ("om_review", "finance_review")


async def test_the_same_rendered_form_sent_twice_gets_the_first_answer(
    console, harness, example_payload
):
    """A double click or a resend after a lost answer: the form's id is the
    Update id, so the second post is answered like the first, not with 409."""
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    csrf = await sign_in(console, "demo-om-amer")
    html = (await console.get(f"/console/opportunities/{opp.id}")).text
    form_id = re.search(r'name="form_id" value="([\w-]+-approve)"', html).group(1)
    form = {"csrf": csrf, "stage": "om", "action": "approve", "round": "1", "form_id": form_id}
    first = await console.post(f"/console/opportunities/{opp.id}/decide", data=form)
    again = await console.post(f"/console/opportunities/{opp.id}/decide", data=form)
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]

    # A fresh rendering is a new decision, which the workflow refuses now.
    html = (await console.get(f"/console/opportunities/{opp.id}")).text
    assert 'name="form_id"' not in html  # OM's forms are gone after approval
    other = await console.post(
        f"/console/opportunities/{opp.id}/decide",
        data={**form, "form_id": "another-rendering-approve"},
    )
    assert other.status_code == 409 and "refused" in other.text
    decided = [h for h in (await harness.status(opp.id)).history if h.action == "finance_review"]
    assert len(decided) == 1


# ---- queue (dev server) ------------------------------------------------------------------


@pytest.fixture
async def dev_console(dev_harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(dev_harness) as client:
        yield client


async def listed(harness: Harness, *ids: str, region=None) -> None:
    """Wait until the dev server's visibility lists every one of `ids`."""
    for _ in range(200):
        found = {i.opportunity_id for i in await harness.approvals.queue(region)}
        if set(ids) <= found:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{ids} never listed")


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-id="([A-Za-z0-9]+)"', html)


async def test_queue_lists_rows_in_priority_order_with_sla_countdown(
    dev_console, dev_harness, example_payload
):
    # Round-the-clock calendars with a 12 h SLA: the countdown depends only on
    # when the round was submitted, not on the day the test runs.
    twelve_hours = round_the_clock().model_copy(update={"sla_business_hours": 12})
    use_calendars(dev_harness, AMER=twelve_hours, EMEA=twelve_hours, APAC=twelve_hours)
    now = datetime.now(UTC)
    fresh = await dev_harness.submit(new_payload(example_payload, deployment="saas"), now)
    amber = await dev_harness.submit(
        new_payload(example_payload, deployment="saas"), now - timedelta(hours=7)
    )
    urgent = await dev_harness.submit(
        new_payload(example_payload, deployment="saas", urgent=True), now - timedelta(hours=10)
    )
    emea = await dev_harness.submit(
        new_payload(
            example_payload,
            deployment="saas",
            account={**example_payload["account"], "country": "GB", "region": "EMEA"},
        )
    )
    await listed(dev_harness, fresh.id, amber.id, urgent.id, emea.id)
    await sign_in(dev_console, "demo-om-amer")

    html = (await dev_console.get("/console/queue")).text
    rows = _rows(html)
    assert {fresh.id, amber.id, urgent.id} <= set(rows) and emea.id not in rows
    assert rows.index(urgent.id) < rows.index(fresh.id)  # urgent first
    assert '<option value="AMER" selected>' in html

    def sla_class(opportunity_id: str) -> str:
        row = html.split(f'<tr data-id="{opportunity_id}"', 1)[1].split("</tr>", 1)[0]
        return re.search(r'class="sla (\w+)"', row).group(1)

    assert (sla_class(fresh.id), sla_class(amber.id), sla_class(urgent.id)) == (
        "ok",
        "amber",
        "red",
    )
    assert 'class="badge urgent"' in html

    # Another region's queue shows an AMER specialist only what they may
    # take there (no cover, no breach here: nothing); EMEA's own sees it.
    not_theirs = await dev_console.get("/console/queue?region=EMEA&stage=om_review")
    assert emea.id not in _rows(not_theirs.text)
    await sign_in(dev_console, "demo-om-emea")
    emea_view = await dev_console.get("/console/queue?region=EMEA&stage=om_review")
    assert emea.id in _rows(emea_view.text) and fresh.id not in _rows(emea_view.text)
    lower = await dev_console.get("/console/queue?region=emea&stage=om_review")
    assert _rows(lower.text) == _rows(emea_view.text)
    bad = await dev_console.get("/console/queue?region=MARS")
    assert bad.status_code == 422 and "unknown region" in bad.text

    api = await dev_console.get(
        "/queue?region=AMER", headers={"Authorization": "Bearer demo-om-amer"}
    )
    by_id = {item["opportunity_id"]: item for item in api.json()}
    amer = {"Authorization": "Bearer demo-om-amer"}
    lower = await dev_console.get("/queue?region=amer", headers=amer)
    assert lower.status_code == 200
    assert [i["opportunity_id"] for i in lower.json()] == [i["opportunity_id"] for i in api.json()]
    bad_api = await dev_console.get("/queue?region=eu", headers=amer)
    assert bad_api.status_code == 422 and "'AMER', 'EMEA' or 'APAC'" in bad_api.text
    # Each row's deadline on its queue's clock, labelled by region and offset.
    deadline = datetime.fromisoformat(by_id[fresh.id]["sla_deadline"])
    local = local_label(deadline, Region.AMER, dev_harness.settings.calendar)
    assert local.endswith(" AMER (UTC+00:00)")  # the round-the-clock calendars are in UTC
    assert f">{local}</time>" in html
    assert " EMEA (UTC+00:00)</time>" in emea_view.text
    left = by_id[amber.id]["business_time_left_seconds"]
    assert 4.5 * 3600 < left < 5 * 3600 + 60
    assert by_id[fresh.id]["business_time_left_seconds"] > 11.9 * 3600


async def test_breached_reviews_of_other_regions_are_flagged_as_cover(
    dev_console, dev_harness, example_payload
):
    use_calendars(dev_harness)  # 2-second SLA: the round breaches at once
    opp = await dev_harness.submit(new_payload(example_payload, deployment="saas"))
    for _ in range(200):
        items = await dev_harness.approvals.queue(None)
        if any(i.opportunity_id == opp.id and i.breached for i in items):
            break
        await asyncio.sleep(0.05)
    await sign_in(dev_console, "demo-om-emea")
    html = (await dev_console.get("/console/queue")).text
    row = html.split(f'<tr data-id="{opp.id}"', 1)[1].split("</tr>", 1)[0]
    assert 'class="badge breached"' in row and 'class="badge cover"' in row
    assert 'class="sla red"' in row and "overdue" in row


async def test_billing_bulk_approve_reports_each_row(dev_console, dev_harness, example_payload):
    due = await dev_harness.submit(_starting_in(new_payload(example_payload, deployment="saas"), 5))
    early = await dev_harness.submit(
        _starting_in(new_payload(example_payload, deployment="saas"), 60)
    )
    for opp in (due, early):
        await dev_harness.approvals.decide(opp.id, "om.amer@example.com", "om", "approve")
        await wait_stage(dev_harness, opp.id, "finance_review")
    for _ in range(200):
        items = {i.opportunity_id: i.stage for i in await dev_harness.approvals.queue(None)}
        if items.get(due.id) == items.get(early.id) == "finance_review":
            break
        await asyncio.sleep(0.05)
    csrf = await sign_in(dev_console, "demo-billing")
    html = (await dev_console.get("/console/queue")).text
    assert "Finance review queue" in html and "Approve selected" in html
    assert f'<label for="select-{due.id}"' in html
    # Billing may not approve the early one yet: not offered, and says from when.
    early_row = html.split(f'<tr data-id="{early.id}"', 1)[1].split("</tr>", 1)[0]
    assert f'id="select-{early.id}"' not in html and 'data-testid="not-yet"' in early_row
    assert "reviewable from " in early_row and "Pacific" in early_row

    # A form posted with it anyway (a stale page, a script) is still refused.

    response = await dev_console.post(
        "/console/queue/approve", data={"csrf": csrf, "ids": [due.id, early.id]}
    )
    assert response.status_code == 200
    results = response.text.split('data-testid="bulk-results"', 1)[1].split("</table>", 1)[0]
    ok_row = results.split(f'data-id="{due.id}"', 1)[1].split("</tr>", 1)[0]
    refused_row = results.split(f'data-id="{early.id}"', 1)[1].split("</tr>", 1)[0]
    assert "badge ok" in ok_row
    assert "refused (409)" in refused_row and "Billing reviews this opportunity from" in refused_row
    assert (await dev_harness.status(due.id)).stage not in ("finance_review",)
    assert (await dev_harness.status(early.id)).stage == "finance_review"
    billing_due = (await dev_harness.status(early.id)).billing_review_due
    assert billing_due is not None and billing_due.date() > clock_today()


async def test_queue_api_serves_one_shared_listing_and_shows_own_decisions_at_once(
    dev_console, dev_harness, example_payload
):
    """GET /queue reads the app's shared listing (om.queue_snapshot):
    the same rule as the region query, `limit`, the listing's time, and a
    decision sent through the app leaving its row at once."""
    first = await dev_harness.submit(new_payload(example_payload, deployment="saas"))
    # Urgent rounds go to whichever region is open; a bigger deal stays home.
    second = await dev_harness.submit(new_payload(example_payload, deployment="saas", amount=9e6))
    await listed(dev_harness, first.id, second.id)
    ours = {first.id, second.id}

    # Filtering one listing of all regions in memory is the region query's rule.
    everything = await dev_harness.approvals.list_queue(None)
    for region in Region:
        by_query = await dev_harness.approvals.list_queue(region)
        in_memory = for_region(everything, region)
        assert [(i.opportunity_id, i.cover) for i in by_query if i.opportunity_id in ours] == [
            (i.opportunity_id, i.cover) for i in in_memory if i.opportunity_id in ours
        ]

    om = {"Authorization": "Bearer demo-om-amer"}
    response = await dev_console.get("/queue?region=AMER", headers=om)
    listed_at = datetime.fromisoformat(response.headers["X-Queue-Listed-At"])
    assert datetime.now(UTC) - listed_at < timedelta(seconds=30)
    rows = [r["opportunity_id"] for r in response.json() if r["opportunity_id"] in ours]
    assert rows == [second.id, first.id]  # higher revenue first
    top = (await dev_console.get("/queue?region=AMER&limit=1", headers=om)).json()
    assert [r["opportunity_id"] for r in top] == [response.json()[0]["opportunity_id"]]
    too_many = await dev_console.get("/queue?limit=0", headers=om)
    assert too_many.status_code == 422 and "limit" in too_many.text

    decided = await dev_console.post(
        f"/opportunities/{first.id}/decisions",
        json={"stage": "om", "action": "approve"},
        headers=om,
    )
    assert decided.status_code == 200, decided.text
    # Read-your-writes: gone at once, though the shared listing is younger
    # than its max age and visibility may not have caught up yet.
    after = {r["opportunity_id"] for r in (await dev_console.get("/queue", headers=om)).json()}
    assert first.id not in after and second.id in after
    # ... and back, in Billing's review, once a later listing shows it.
    for _ in range(400):
        listing = (await dev_console.get("/queue", headers=om)).json()
        if {r["opportunity_id"]: r["stage"] for r in listing}.get(first.id) == "finance_review":
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"{first.id} never listed in finance_review")


async def test_a_long_queue_page_shows_its_first_rows_and_says_so(
    dev_console, dev_harness, example_payload, monkeypatch
):
    monkeypatch.setattr("api.console.queue.CONSOLE_QUEUE_ROWS", 1)
    first = await dev_harness.submit(new_payload(example_payload, deployment="saas"))
    second = await dev_harness.submit(new_payload(example_payload, deployment="saas"))
    await listed(dev_harness, first.id, second.id)
    await sign_in(dev_console, "demo-om-amer")
    html = (await dev_console.get("/console/queue")).text
    assert len(_rows(html)) == 1 and 'data-testid="queue-cut"' in html
    total = int(re.search(r"(\d+) open reviews for AMER", html).group(1))
    assert total >= 2


# ---- queue rows that decide (GET /queue, OpenAPI, the console page) ---------------------


async def _queue_row(client: httpx.AsyncClient, opportunity_id: str, region: str, check) -> dict:  # type: ignore[no-untyped-def]
    """`opportunity_id`'s row in `GET /queue?region=` once `check(row)` holds."""
    headers = {"Authorization": "Bearer demo-om-amer"}
    for _ in range(200):
        response = await client.get(f"/queue?region={region}", headers=headers)
        assert response.status_code == 200, response.text
        rows = {r["opportunity_id"]: r for r in response.json()}
        if opportunity_id in rows and check(rows[opportunity_id]):
            return rows[opportunity_id]
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"{opportunity_id}: row never as expected; last {rows.get(opportunity_id)}"
    )


async def test_queue_rows_carry_what_a_decision_needs(dev_console, dev_harness, example_payload):
    """Name, account, amount with currency, regions, round (resubmitted),
    findings hard / judgment, clock state, assignee, cover and handoff
    reasons, Billing's dates: in GET /queue, its OpenAPI schema and the page.
    Calendars are pinned: AMER round the clock; APAC closed from yesterday to
    the day after tomorrow (its clock has not started); cover on every day."""
    twelve_hours = round_the_clock().model_copy(update={"sla_business_hours": 12})
    today = clock_today()
    closed = round_the_clock(tuple(today + timedelta(days=d) for d in (-1, 0, 1, 2)))
    closed = closed.model_copy(update={"sla_business_hours": 12})
    use_calendars(dev_harness, AMER=twelve_hours, EMEA=twelve_hours, APAC=closed)
    dev_harness.settings.cover_business_days = 31  # every day is in a cover window
    saas = dict(deployment="saas")
    hard = await dev_harness.submit(new_payload(example_payload, po_required=True, **saas))
    apac_account = {**example_payload["account"], "country": "SG", "region": "APAC"}
    waiting = await dev_harness.submit(new_payload(example_payload, account=apac_account, **saas))
    again = await dev_harness.submit(new_payload(example_payload, **saas))
    await dev_harness.approvals.decide(
        again.id, "om.amer@example.com", "om", "reject", ["PO_MISSING"], "attach the PO"
    )
    await wait_stage(dev_harness, again.id, "rejected")
    await dev_harness.approvals.rep_action(again.id, "resubmit", example_payload["owner"]["email"])
    billing = await dev_harness.submit(_starting_in(new_payload(example_payload, **saas), 60))
    await dev_harness.approvals.decide(billing.id, "om.amer@example.com", "om", "approve")
    await wait_stage(dev_harness, billing.id, "finance_review")

    status = await dev_harness.status(hard.id)
    row = await _queue_row(dev_console, hard.id, "AMER", lambda r: r["findings_hard"] is not None)
    n_hard = sum(f.severity == "hard" for f in status.findings)
    assert n_hard >= 1
    assert (row["findings_hard"], row["findings_judgment"]) == (
        n_hard,
        len(status.findings) - n_hard,
    )
    assert (row["name"], row["account_name"], row["currency"]) == (
        example_payload["name"],
        example_payload["account"]["name"],
        example_payload["currency"],
    )
    assert row["amount"] == example_payload["amount"]
    assert (row["region"], row["queue_region"], row["round"], row["resubmitted"]) == (
        "AMER",
        "AMER",
        1,
        False,
    )
    assert row["clock_started"] is True and row["clock"].startswith("1")  # 11h/12h left
    assert " business left, due " in row["clock"] and row["clock"].endswith("AMER (UTC+00:00)")
    assert row["cover_reason"] is None and row["handoff_reason"] is None
    assert row["assignee"] is None and row["reviewable_now"] is True

    row = await _queue_row(dev_console, again.id, "AMER", lambda r: r["round"] == 2)
    assert row["resubmitted"] is True

    # APAC's clock starts when APAC opens again, on APAC's clock; and on a
    # cover day the AMER queue lists the APAC review with the reason.
    row = await _queue_row(dev_console, waiting.id, "AMER", lambda r: r["clock"] != "")
    opens = datetime.combine(today + timedelta(days=3), datetime.min.time(), tzinfo=UTC)
    assert row["clock_started"] is False and row["business_time_left_seconds"] is None
    assert row["clock"] == "clock starts " + local_label(
        opens, Region.APAC, dev_harness.settings.calendar
    )
    assert row["cover"] is True
    assert row["cover_reason"] in ("end of month cover", "end of quarter cover")
    assert (row["region"], row["queue_region"]) == ("APAC", "APAC")

    # Billing's row: its own dates, not the OM SLA; not yet reviewable.
    due = (await dev_harness.status(billing.id)).billing_review_due
    row = await _queue_row(
        dev_console, billing.id, "AMER", lambda r: r["stage"] == "finance_review"
    )
    assert due is not None and datetime.fromisoformat(row["reviewable_from"]) == due
    assert row["reviewable_now"] is False and row["business_time_left_seconds"] is None
    assert row["clock"].startswith("reviewable from ") and "Pacific" in row["clock"]
    assert datetime.fromisoformat(row["billing_due"]) == due + timedelta(days=1)
    assert row["assignee"] == "om.amer@example.com"

    response = await dev_console.get("/queue", headers={"Authorization": "Bearer demo-om-amer"})
    assert response.headers["X-Queue-Stale"] in ("true", "false")
    assert float(response.headers["X-Queue-Age-Seconds"]) >= 0
    schema = (await dev_console.get("/openapi.json")).json()
    entry = schema["components"]["schemas"]["QueueEntry"]["properties"]
    for field in (
        "name",
        "account_name",
        "currency",
        "round",
        "resubmitted",
        "findings_hard",
        "findings_judgment",
        "clock",
        "clock_started",
        "cover_reason",
        "handoff_reason",
        "reviewable_from",
        "reviewable_now",
        "billing_due",
        "assignee",
    ):
        assert field in entry and entry[field].get("description"), field
    headers = schema["paths"]["/queue"]["get"]["responses"]["200"]["headers"]
    assert {"X-Queue-Listed-At", "X-Queue-Age-Seconds", "X-Queue-Stale"} <= set(headers)

    # The console shows the same fields.
    csrf = await sign_in(dev_console, "demo-om-amer")
    assert csrf
    html = (await dev_console.get("/console/queue?region=AMER&stage=")).text
    row_html = html.split(f'<tr data-id="{waiting.id}"', 1)[1].split("</tr>", 1)[0]
    assert "clock starts " in row_html and "APAC (UTC+00:00)" in row_html
    assert "end of month cover" in row_html or "end of quarter cover" in row_html
    row_html = html.split(f'<tr data-id="{hard.id}"', 1)[1].split("</tr>", 1)[0]
    assert example_payload["name"] in row_html and example_payload["account"]["name"] in row_html
    assert f"{n_hard} hard" in row_html and example_payload["currency"] in row_html
    assert 'data-testid="freshness"' in html


async def test_opportunity_page_says_who_did_what_in_the_handbooks_words(
    console, harness, example_payload
):
    """A reseller deal: no customer Order Form is asked for, so its empty
    fields are explained, not shown in red; the OM approval reads as such in
    the flash and the history; Billing's view shows Billing's date, not the
    OM SLA deadline."""
    payload = _starting_in(
        new_payload(
            example_payload,
            deployment="saas",
            sales_route="reseller",
            order_form={"attached": False, "partner_signed": True},
            eula_accepted=True,
        ),
        60,
    )
    opp = await harness.submit(payload)
    status = await wait_stage(harness, opp.id, "om_review")
    assert not any(f.field.startswith("order_form") for f in status.findings)
    csrf = await sign_in(console, "demo-om-amer")
    html = (await console.get(f"/console/opportunities/{opp.id}")).text
    assert 'data-testid="order-form-na"' in html and "Not applicable: a reseller deal" in html
    order_form = html.split("<h3>Order form</h3>", 1)[1].split("<h3>", 1)[0]
    assert 'class="missing"' not in order_form and "Signer" not in order_form

    answer = await console.post(
        f"/console/opportunities/{opp.id}/decide",
        data={"csrf": csrf, "stage": "om", "action": "approve", "round": "1"},
    )
    assert answer.status_code == 303
    await wait_stage(harness, opp.id, "finance_review")
    html = (await console.get(answer.headers["location"])).text
    assert "Order Management approved (round 1); waiting for Billing" in html
    history = html.split('data-testid="history"', 1)[1]
    entry = history.split('data-action="finance_review">', 1)[1].split("</li>", 1)[0]
    assert entry.startswith("Order Management approved</span>")
    assert "om.amer@example.com" in entry

    await sign_in(console, "demo-billing")
    html = (await console.get(f"/console/opportunities/{opp.id}")).text
    assert "OM SLA deadline" not in html and 'data-testid="sla-deadline"' not in html
    billing_from = html.split('data-testid="billing-from">', 1)[1].split("</dd>", 1)[0]
    due = (await harness.status(opp.id)).billing_review_due
    assert due is not None
    assert local_label(due, Region.AMER, harness.settings.calendar) in billing_from
    assert "Billing approves from 15 days before the start" in billing_from
