"""The reports page in headless Chromium, as a regional manager sees it.

The app runs under uvicorn on a free port with JavaScript switched off in
the browser: the charts are SVG drawn on the server, so they must show
without it. The reporting store holds recorded workflow histories projected
as the scheduled projection does, plus generated decided rounds. No
Temporal is needed (the page reads only the store), so the app's queue
warm-up (its lifespan) is left off.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.ports import free_port
from loadtest.reports_data import fill, generate, pending
from om.reporting import project_history
from om.reporting_store import ReportingStore
from om.settings import Settings
from tests.browser.conftest import remember_artifact
from tests.unit.test_reporting_store import HISTORIES, load

CHARTS = 13


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    from api.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('reports') / 'reporting.db'}"
    with ReportingStore(url) as store:
        project_history(
            store, load(HISTORIES / "test_finance_reject_returns_to_om_as_accuracy_miss.json")
        )
        fill(store, *generate(600, seed=11))
        fill(store, *pending(6))
    app = create_app(
        Settings(
            api_metrics=False,
            reporting_url=url,
            temporal_address="127.0.0.1:1",
            demo=True,  # one-click demo sign-in, as `make run` serves it
        )
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="reports-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def sign_in(page, url: str, who: str, path: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(url + path)
    expect(page).to_have_url(re.compile(r"/console/login"))
    page.get_by_role("button", name=re.compile(re.escape(who))).click()
    expect(page.get_by_test_id("who")).to_have_text(who)


def test_a_manager_sees_every_report_as_an_svg_chart_with_data_marks(
    browser, live: str, artifacts: Path
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1400, "height": 900}
    )
    page = context.new_page()
    try:
        sign_in(page, live, "Mila Manager (EMEA)", "/console/reports?period=2026Q4")
        assert page.url.endswith("/console/reports?period=2026Q4")
        sections = page.locator("section.report")
        assert sections.count() == CHARTS
        for i in range(CHARTS):
            section = sections.nth(i)
            name = section.get_attribute("data-chart")
            svg = section.locator("figure.chart svg")
            assert svg.count() == 1, name
            box = svg.bounding_box()
            assert box and box["width"] > 300 and box["height"] > 200, name
            # A series' bars or points: pygal draws each value as one mark.
            marks = svg.locator("g.series rect.rect, g.series circle.dot")
            table = section.locator("table.data").first
            values = table.locator("tbody tr").count()
            if "none in this period" in table.inner_text():
                values = 0
            assert marks.count() >= values, f"{name}: {marks.count()} marks, {values} rows"
            if name != "license_long_open":  # may be empty in a generated quarter
                assert values > 0 and marks.count() > 0, f"{name}: no data marks"
            assert section.get_by_role("link", name="Download CSV").count() == 1, name
        # The region is the manager's: every Closed Won bar is EMEA's.
        table = page.get_by_test_id("table-closed_won_region")
        assert table.locator("tbody tr").all_inner_texts() == [
            t for t in table.locator("tbody tr").all_inner_texts() if t.startswith("EMEA")
        ]
        path = artifacts / "reports-manager-emea.png"
        page.screenshot(path=str(path), full_page=True)
        remember_artifact(path)
        page.locator("section.report").first.screenshot(
            path=str(artifacts / "reports-sla-chart.png")
        )
        remember_artifact(artifacts / "reports-sla-chart.png")

        page.get_by_label(re.compile("Policy JSON")).fill(
            '{"calendar": {"regions": {"EMEA": {"sla_business_hours": 6}}}}'
        )
        page.get_by_role("button", name=re.compile("Simulate")).click()
        row = page.get_by_test_id("simulation").locator("tbody tr").first
        expect(row).to_be_visible()
        cells = row.locator("td").all_inner_texts()
        assert row.locator("th").inner_text() == "EMEA"
        assert int(cells[4]) > int(cells[3])  # simulated breaches above the actual
        path = artifacts / "reports-simulation.png"
        page.get_by_test_id("simulation").screenshot(path=str(path))
        remember_artifact(path)
    finally:
        context.close()


def test_a_specialist_of_another_region_is_refused(browser, live: str, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live, "Alex OM (AMER)", "/console/reports?period=2026Q4&region=EMEA")
        error = page.get_by_test_id("error")
        assert "Not allowed (403)" in error.inner_text()
        assert "the EMEA reports are not yours to read: you serve AMER" in error.inner_text()
        assert page.locator("svg").count() == 0
        path = artifacts / "reports-refused.png"
        page.screenshot(path=str(path), full_page=True)
        remember_artifact(path)
    finally:
        context.close()
