"""The console in headless Chromium: what a specialist does all day.

The app runs under uvicorn on a free port, in a background thread with its
own event loop, next to a worker with the fake external systems; both talk
to a Temporal dev server (the time-skipping server cannot list the queue).
Calendars are round the clock with the usual 12-hour SLA, so a round
submitted 7 hours ago is amber and 10 hours ago red, whatever the day the
tests run.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.calendar import CalendarPolicy
from domain.messages import ApprovalStatus
from domain.models import Opportunity, Region
from om.settings import Settings
from tests.browser.conftest import remember_artifact
from tests.devserver import dev_server, free_port
from tests.workflow.test_review_sla import round_the_clock

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OM_AMER = "Alex OM (AMER)"
AUDITOR = "Ari Auditor"
BILLING = "Bea Billing"


class LiveConsole:
    """uvicorn + a worker with fake external systems, in one background thread."""

    def __init__(self, address: str) -> None:
        twelve_hours = round_the_clock().model_copy(update={"sla_business_hours": 12})
        # APAC is closed from yesterday to the day after tomorrow: its rounds'
        # clocks have not started, and its urgent ones are handed off.
        today = datetime.now(UTC).date()
        apac_closed = round_the_clock(tuple(today + timedelta(days=d) for d in (-1, 0, 1, 2)))
        apac_closed = apac_closed.model_copy(update={"sla_business_hours": 12})
        self.apac_opens = today + timedelta(days=3)
        self.address = address
        self.settings = Settings(
            temporal_address=address,
            task_queue=f"browser-{uuid.uuid4().hex[:8]}",
            cover_business_days=0,
            calendar=CalendarPolicy(
                regions={r: apac_closed if r == Region.APAC else twelve_hours for r in Region}
            ),
            # The pages serve the queue from the app's shared listing; a short
            # max age keeps the tests quick while they still go through it.
            queue_cache_seconds=1,
            demo=True,  # one-click demo sign-in, as `make run` serves it
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, name="live-console", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.result(timeout=60)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:  # report start-up failures to the test thread
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    async def _serve(self) -> None:
        import uvicorn
        from temporalio.client import Client
        from temporalio.contrib.pydantic import pydantic_data_converter

        from api.app import create_app
        from om.approvals import Approvals
        from tests.workflow.fakes import FakeSystems
        from workers.search_attributes import ensure_search_attributes
        from workers.worker import build_worker

        self._stop = asyncio.Event()
        client = await Client.connect(self.address, data_converter=pydantic_data_converter)
        await ensure_search_attributes(client)
        app = create_app(self.settings, client)
        # The tests wait on the listing the pages read, not on one of their own.
        self.approvals = Approvals(client, self.settings, snapshot=app.state.queue_snapshot)
        self.fakes = FakeSystems()
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
            )
        )
        async with build_worker(client, self.settings, activities=self.fakes.activities()):
            serving = asyncio.create_task(server.serve())
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.02)
            self._ready.set_result(None)
            await self._stop.wait()
            server.should_exit = True
            await serving

    def call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run `coroutine` on the app's loop (its Temporal client lives there)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    # ---- arranging work for the tests ------------------------------------------

    def submit(self, hours_ago: float = 0, days_to_start: int = 10, **changes: Any) -> str:
        """Submit a fresh copy of the example opportunity; its id once it is listed."""
        payload = json.loads((FIXTURES / "opportunity.example.json").read_text())
        payload.update(id="006WEB" + uuid.uuid4().hex[:10].upper(), deployment="saas")
        start = datetime.now(UTC).date() + timedelta(days=days_to_start)
        payload["quote"].update(
            start_date=start.isoformat(), end_date=(start + timedelta(days=364)).isoformat()
        )
        payload.update(changes)
        opportunity = Opportunity.model_validate(payload)
        submitted = datetime.now(UTC) - timedelta(hours=hours_ago)
        self.call(self.approvals.submit(opportunity, submitted))
        self.wait(opportunity.id, lambda s: s.stage == "om_review")
        return opportunity.id

    def status(self, opportunity_id: str) -> ApprovalStatus:
        return self.call(self.approvals.status(opportunity_id))

    def wait(self, opportunity_id: str, check, stage: str | None = None) -> ApprovalStatus:  # type: ignore[no-untyped-def]
        """Until `check(status)` holds, effects are done and the queue lists the stage."""
        deadline = time.monotonic() + 20
        while True:
            status = self.status(opportunity_id)
            if check(status) and status.pending_effects == 0:
                listed = {i.opportunity_id: i for i in self.call(self.approvals.queue(None))}
                item = listed.get(opportunity_id)
                if status.stage not in ("om_review", "finance_review") or (
                    item is not None
                    and item.stage == status.stage
                    and item.breached == status.breached
                ):
                    return status
            if time.monotonic() > deadline:
                raise AssertionError(f"{opportunity_id}: condition not met; last {status}")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, browser) -> Iterator[LiveConsole]:  # type: ignore[no-untyped-def]
    # `browser` first: without Chromium the module skips before starting servers.
    with dev_server(tmp_path_factory.mktemp("browser-temporal")) as address:
        console = LiveConsole(address)
        console.start()
        yield console
        console.stop()


@pytest.fixture
def context(browser):  # type: ignore[no-untyped-def]
    """A fresh browser profile (its own cookies) per test, laptop-sized."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


def sign_in(page, live: LiveConsole, who: str, path: str = "/console/queue") -> None:  # type: ignore[no-untyped-def]
    """Open a console page, get sent to sign-in, pick the demo user."""
    from playwright.sync_api import expect

    page.goto(live.url + path)
    expect(page).to_have_url(re.compile(r"/console/login"))
    page.get_by_role("button", name=re.compile(re.escape(who))).click()
    expect(page.get_by_test_id("who")).to_have_text(who)


def fits(page) -> bool:  # type: ignore[no-untyped-def]
    """No table on the page needs sideways scrolling."""
    return page.evaluate(
        "() => [...document.querySelectorAll('.table-wrap')]"
        ".every(w => w.scrollWidth <= w.clientWidth)"
    )


def test_queue_in_priority_order_with_sla_colours_and_a_screenshot(live, context, artifacts):
    from playwright.sync_api import expect

    fresh = live.submit()
    amber = live.submit(hours_ago=7)
    red = live.submit(hours_ago=10, urgent=True)
    breached_emea = live.submit(
        hours_ago=13,
        account={"id": "001EMEA", "name": "Globex GmbH", "country": "DE", "region": "EMEA"},
    )
    live.wait(breached_emea, lambda s: s.breached)
    page = context.new_page()
    sign_in(page, live, OM_AMER)

    table = page.get_by_test_id("queue")
    rows = table.locator("tbody tr")
    ids = rows.evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert {fresh, amber, red, breached_emea} <= set(ids)
    assert ids.index(red) < ids.index(fresh)  # urgent first
    row = lambda i: table.locator(f'tr[data-id="{i}"]')  # noqa: E731
    expect(row(fresh).get_by_test_id("sla")).to_have_class(re.compile(r"\bok\b"))
    expect(row(amber).get_by_test_id("sla")).to_have_class(re.compile(r"\bamber\b"))
    expect(row(red).get_by_test_id("sla")).to_have_class(re.compile(r"\bred\b"))
    expect(row(red)).to_contain_text("urgent")
    expect(row(breached_emea)).to_contain_text("breached")
    expect(row(breached_emea)).to_contain_text("cover · EMEA")
    # Deadlines on the queue's clock name region and offset, not a shared "PST".
    expect(row(fresh)).to_contain_text(re.compile(r"\d{2}:\d{2} AMER \(UTC[+-]\d{2}:\d{2}\)"))

    shot = artifacts / "queue.png"
    page.screenshot(path=str(shot), full_page=True)
    remember_artifact(shot)
    assert fits(page), "the queue table scrolls sideways at 1280px"

    # Keyboard: the first Tab lands on the skip link, with a visible outline.
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => [document.activeElement.className, getComputedStyle(document.activeElement)"
        ".outlineStyle]"
    )
    assert focused[0] == "skip-link" and focused[1] != "none"

    # Tablet width: nothing is cut off sideways.
    page.evaluate("() => document.activeElement.blur()")
    page.set_viewport_size({"width": 768, "height": 1024})
    tablet = artifacts / "queue-768.png"
    page.screenshot(path=str(tablet), full_page=True)
    remember_artifact(tablet)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 768
    assert fits(page), "the queue table scrolls sideways at 768px"
    for opportunity_id in (fresh, amber, red, breached_emea):
        box = row(opportunity_id).get_by_test_id("sla").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 768, "SLA cut off at 768px"


def test_sign_in_and_approve_one_item_overriding_its_hard_finding(live, context, artifacts):
    from playwright.sync_api import expect

    opportunity_id = live.submit(po_required=True)
    page = context.new_page()
    sign_in(page, live, OM_AMER)
    page.get_by_role("link", name=opportunity_id).click()
    expect(page.get_by_test_id("findings")).to_contain_text("PO_MISSING")
    expect(page.get_by_test_id("stage")).to_have_text("om_review")
    shot = artifacts / "opportunity.png"
    page.screenshot(path=str(shot), full_page=True)
    remember_artifact(shot)
    assert fits(page), "a table on the opportunity page scrolls sideways at 1280px"
    page.set_viewport_size({"width": 768, "height": 1024})
    assert fits(page), "a table on the opportunity page scrolls sideways at 768px"
    page.set_viewport_size({"width": 1280, "height": 900})
    # PO_MISSING is a hard finding: approving needs its box and a comment.
    overrides = page.get_by_test_id("override-findings")
    expect(overrides.get_by_role("checkbox")).to_have_count(1)
    why = page.get_by_label("Why the deal may be booked anyway (required)")
    why.fill("PO waived by phone, noted")
    page.get_by_role("button", name="Approve", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("422")
    expect(alert).to_contain_text("hard findings that must be fixed: PO_MISSING")
    expect(page.get_by_test_id("stage")).to_have_text("om_review")
    assert not any(
        h.action == "hard_findings_overridden" for h in live.status(opportunity_id).history
    )
    # The refused form comes back as sent: the comment kept, the box to tick.
    expect(why).to_have_value("PO waived by phone, noted")
    page.get_by_label(re.compile("Override PO_MISSING")).check()
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    expect(page.get_by_test_id("stage")).to_have_text("finance_review")
    history = page.get_by_test_id("history")
    expect(history).to_contain_text("om.amer@example.com")
    expect(history).to_contain_text("overrode PO_MISSING (round 1): PO waived by phone, noted")
    expect(page.get_by_test_id("round-overrides")).to_have_text("overrode PO_MISSING")
    assert live.status(opportunity_id).om_approver == "om.amer@example.com"

    # An auditor reads the override in the timeline, and Billing sees it too.
    auditor = context.browser.new_context().new_page()
    sign_in(auditor, live, AUDITOR, f"/console/opportunities/{opportunity_id}")
    expect(auditor.get_by_test_id("history")).to_contain_text(
        "overrode PO_MISSING (round 1): PO waived by phone, noted"
    )
    auditor.context.close()


def test_reject_one_with_two_reason_codes(live, context):
    from playwright.sync_api import expect

    opportunity_id = live.submit()
    page = context.new_page()
    sign_in(page, live, OM_AMER, f"/console/opportunities/{opportunity_id}")
    page.get_by_label("PO_MISSING").check()
    page.get_by_label("VAT_ID_MISSING").check()
    page.get_by_label("Comment for the rep (required)").fill("Attach the PO and add the VAT ID")
    page.get_by_role("button", name="Reject", exact=True).click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    expect(page.get_by_test_id("stage")).to_have_text("rejected")
    history = page.get_by_test_id("history")
    expect(history).to_contain_text("PO_MISSING")
    expect(history).to_contain_text("VAT_ID_MISSING")
    chatter = [p.body for p in live.fakes.chatter if p.opportunity_id == opportunity_id]
    assert chatter and "Attach the PO and add the VAT ID" in chatter[-1]


def test_two_tabs_decide_the_same_round_and_the_second_sees_409(live, context):
    from playwright.sync_api import expect

    opportunity_id = live.submit()
    first = context.new_page()
    sign_in(first, live, OM_AMER, f"/console/opportunities/{opportunity_id}")
    second = context.new_page()
    second.goto(f"{live.url}/console/opportunities/{opportunity_id}")
    expect(second.get_by_test_id("approve-form")).to_be_visible()

    first.get_by_role("button", name="Approve", exact=True).click()
    expect(first.get_by_test_id("stage")).to_have_text("finance_review")
    second.get_by_role("button", name="Approve", exact=True).click()
    alert = second.get_by_role("alert")
    expect(alert).to_contain_text("409")
    expect(alert).to_contain_text("no Order Management review is pending")
    assert "Traceback" not in second.content()


def test_auditor_sees_no_buttons(live, context):
    from playwright.sync_api import expect

    opportunity_id = live.submit(po_required=True)
    page = context.new_page()
    sign_in(page, live, AUDITOR, "/console/queue")
    expect(page.get_by_test_id("queue")).to_contain_text(opportunity_id)
    assert page.get_by_role("button", name="Approve selected").count() == 0
    assert page.locator("main input[type=checkbox]").count() == 0

    page.get_by_role("link", name=opportunity_id).click()
    expect(page.get_by_test_id("findings")).to_contain_text("PO_MISSING")
    expect(page.get_by_test_id("history")).to_be_visible()
    assert page.locator("main button").count() == 0
    assert page.locator("main form").count() == 0
    assert page.locator("main input, main textarea").count() == 0


def test_billing_approves_selected_rows_with_a_result_per_row(live, context):
    from playwright.sync_api import expect

    due = live.submit(days_to_start=5)
    early = live.submit(days_to_start=60)
    for opportunity_id in (due, early):
        live.call(live.approvals.decide(opportunity_id, "om.amer@example.com", "om", "approve"))
        live.wait(opportunity_id, lambda s: s.stage == "finance_review")
    page = context.new_page()
    sign_in(page, live, BILLING)
    expect(page.get_by_role("heading", name="Finance review queue")).to_be_visible()
    table = page.get_by_test_id("queue")
    # The early row is listed with its date but not offered: Billing would be refused.
    early_row = table.locator(f'tr[data-id="{early}"]')
    expect(early_row.get_by_test_id("not-yet")).to_be_visible()
    expect(early_row.get_by_test_id("reviewable-from")).to_contain_text(
        re.compile(r"reviewable from \w{3} \d{2} \w{3} 00:00 Pacific \(UTC-0[78]:00\)")
    )
    assert early_row.locator("input[type=checkbox]").count() == 0
    assert page.get_by_label(f"Select {early}").count() == 0
    # Billing's own due date, not the OM SLA, on the row Billing may take.
    due_row = table.locator(f'tr[data-id="{due}"]')
    expect(due_row.get_by_test_id("billing-due")).to_contain_text("Billing due by ")
    expect(due_row.get_by_test_id("billing-due")).to_contain_text("Pacific")
    assert due_row.get_by_test_id("sla").count() == 0
    expect(due_row.get_by_test_id("assignee")).to_have_text("om.amer@example.com")
    page.get_by_label(f"Select {due}").check()
    page.get_by_role("button", name="Approve selected").click()
    results = page.get_by_test_id("bulk-results")
    expect(results.locator(f'tr[data-id="{due}"]')).to_contain_text("ok")
    assert results.locator(f'tr[data-id="{early}"]').count() == 0
    assert live.status(early).stage == "finance_review"


def test_queue_rows_carry_what_a_decision_needs(live, context, artifacts):
    """Each field of a queue row in the console: name, account, amount with
    currency, region and queue region, round (resubmitted), findings hard /
    judgment, clock state (not started), handoff and cover reasons, and how
    old the listing is."""
    from playwright.sync_api import expect

    payload = json.loads((FIXTURES / "opportunity.example.json").read_text())
    hard = live.submit(po_required=True)
    judgment = live.submit(days_to_start=-40, type="add_on")
    again = live.submit()
    owner = payload["owner"]["email"]
    live.call(
        live.approvals.decide(again, "om.amer@example.com", "om", "reject", ["PO_MISSING"], "PO?")
    )
    live.wait(again, lambda s: s.stage == "rejected")
    live.call(live.approvals.rep_action(again, "resubmit", owner))
    live.wait(again, lambda s: s.stage == "om_review" and s.round == 2)
    apac = {"id": "001APAC", "name": "Initech Pte", "country": "SG", "region": "APAC"}
    waiting = live.submit(account=apac)
    handed = live.submit(account=apac, urgent=True)
    breached_emea = live.submit(
        hours_ago=13,
        account={"id": "001EMEA", "name": "Globex GmbH", "country": "DE", "region": "EMEA"},
    )
    live.wait(breached_emea, lambda s: s.breached)
    for opportunity_id in (hard, judgment, again, waiting, handed):
        live.wait(opportunity_id, lambda s: s.findings is not None and s.sla_deadline is not None)

    # Billing reads every row of every region (a specialist only those they
    # may take): the all-regions queue shows each kind of row.
    page = context.new_page()
    sign_in(page, live, BILLING, "/console/queue?region=&stage=")
    table = page.get_by_test_id("queue")
    row = lambda i: table.locator(f'tr[data-id="{i}"]')  # noqa: E731
    expect(row(hard).get_by_test_id("name")).to_have_text(payload["name"])
    expect(row(hard).get_by_test_id("account")).to_have_text(payload["account"]["name"])
    expect(row(hard).get_by_test_id("amount")).to_have_text(
        f"{payload['amount']:,.2f} {payload['currency']}"
    )
    expect(row(hard).get_by_test_id("region")).to_have_text("AMER")
    expect(row(hard).get_by_test_id("findings")).to_contain_text("1 hard")
    expect(row(judgment).get_by_test_id("findings")).to_contain_text("1 judgment")
    expect(row(hard).get_by_test_id("round")).to_have_text("1")
    assert row(hard).get_by_test_id("resubmitted").count() == 0
    expect(row(again).get_by_test_id("round")).to_have_text("2")
    expect(row(again).get_by_test_id("resubmitted")).to_be_visible()
    expect(row(hard).get_by_test_id("sla")).to_be_visible()
    expect(row(hard).get_by_test_id("clock")).to_contain_text(
        re.compile(r"due \w{3} \d{2} \w{3} \d{2}:\d{2} AMER \(UTC\+00:00\)")
    )
    expect(row(hard).get_by_test_id("assignee")).to_have_text("—")
    # APAC is closed until the day after tomorrow: the clock has not started.
    opens = live.apac_opens
    expect(row(waiting).get_by_test_id("clock-not-started")).to_have_text(
        f"clock starts {opens:%a %d %b} 00:00 APAC (UTC+00:00)"
    )
    assert row(waiting).get_by_test_id("sla").count() == 0
    expect(row(waiting).get_by_test_id("region")).to_have_text("APAC")
    # The urgent one was handed to a region open now, and says why.
    expect(row(handed).get_by_test_id("handoff-reason")).to_contain_text(
        "handoff: urgent; APAC closed"
    )
    expect(row(handed).get_by_test_id("region")).to_contain_text("(home APAC)")
    expect(page.get_by_test_id("freshness")).to_contain_text(re.compile(r"listed|old"))

    # AMER's own queue lists the breached EMEA review, marked with the reason,
    # and not APAC's review that waits for APAC to open.
    context.clear_cookies()
    sign_in(page, live, OM_AMER)
    assert row(waiting).count() == 0
    expect(row(breached_emea).get_by_test_id("cover-reason")).to_have_text(
        "SLA breached: escalated to every region"
    )
    shot = artifacts / "queue-rows.png"
    page.screenshot(path=str(shot), full_page=True)
    remember_artifact(shot)
    assert fits(page), "the queue table scrolls sideways at 1280px"

    # The findings table reads its messages as sentences, not a word a line.
    page.goto(f"{live.url}/console/opportunities/{hard}")
    for width in (1280, 768):
        page.set_viewport_size({"width": width, "height": 900})
        lines, words = page.evaluate(
            """() => {
              const cell = document.querySelector('[data-testid=findings] tbody td.message');
              const height = cell.getBoundingClientRect().height;
              const line = parseFloat(getComputedStyle(cell).lineHeight) || 20;
              return [Math.round(height / line), cell.textContent.trim().split(/\\s+/).length];
            }"""
        )
        assert lines <= max(3, words // 4), f"{lines} lines for {words} words at {width}px"
        assert fits(page), f"a table on the opportunity page scrolls sideways at {width}px"
