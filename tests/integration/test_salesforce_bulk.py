"""Bulk API 2.0 query jobs: the sandbox's job endpoints over TLS, and the
adapter choosing them (through simple-salesforce's bulk2 client) when a
read's COUNT() reaches `bulk_threshold`, with the same typed records as
REST paging. Each test starts its own sandbox so the job count is its own."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from activities.config import SalesforceSettings
from activities.errors import RequestRejected
from activities.renewals import reconcile_and_apply
from activities.salesforce import SalesforceAdapter
from om.settings import Settings
from sandbox.server import Sandbox, SandboxInfo
from tests.integration.test_renewals import EXPECTED, MIXED, found

SUBSCRIPTIONS = (
    "SELECT Id, Name, Account__c, Status__c, CARR__c, Contract_Reset__c FROM Subscription__c"
)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = Sandbox(tmp_path / "home", query_page_size=3)
    sandbox.start()
    try:
        sandbox.seed(MIXED)
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def info(running: Sandbox) -> SandboxInfo:
    assert running.info is not None
    return running.info


def sf_settings(info: SandboxInfo, **changes: Any) -> SalesforceSettings:
    return SalesforceSettings(
        instance_url=info.salesforce_instance_url,
        session_id=info.session_id,
        ca_file=info.ca_file,
        **changes,
    )


def api(info: SandboxInfo, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method,
        f"{info.salesforce_instance_url}/services/data/v59.0/{path}",
        headers={"Authorization": f"Bearer {info.session_id}"},
        verify=info.ca_file,
        timeout=10,
        **kwargs,
    )


def test_a_large_read_goes_through_a_bulk_job_with_the_same_typed_records(
    running: Sandbox, info: SandboxInfo
):
    rest = list(SalesforceAdapter(sf_settings(info, bulk_threshold=0)).query_large(SUBSCRIPTIONS))
    assert running.state.bulk_jobs.created == 0
    bulk_adapter = SalesforceAdapter(sf_settings(info, bulk_threshold=7, bulk_page_size=2))
    assert bulk_adapter.count(SUBSCRIPTIONS) == 7
    bulk = list(bulk_adapter.query_large(SUBSCRIPTIONS))
    assert running.state.bulk_jobs.created == 1
    assert bulk == rest and len(bulk) == 7
    reset = next(r for r in bulk if r["Name"] == "SUB-6")
    assert reset["Contract_Reset__c"] is True and reset["CARR__c"] == 6000.0
    plain = next(r for r in bulk if r["Name"] == "SUB-1")
    assert plain["Contract_Reset__c"] is False


def test_a_read_under_the_threshold_pages_through_rest(running: Sandbox, info: SandboxInfo):
    adapter = SalesforceAdapter(sf_settings(info, bulk_threshold=8))
    assert len(list(adapter.query_large(SUBSCRIPTIONS))) == 7
    assert running.state.bulk_jobs.created == 0


def test_reconciliation_reads_through_bulk_and_finds_the_same(running: Sandbox, info: SandboxInfo):
    settings = Settings(
        home=info.home, salesforce=sf_settings(info, bulk_threshold=1, bulk_page_size=2)
    )
    run = reconcile_and_apply(settings, apply=False)
    assert sorted(found(run), key=str) == sorted(EXPECTED, key=str)
    assert running.state.bulk_jobs.created == 2  # subscriptions and renewals


def test_job_endpoints_follow_bulk_api_2(info: SandboxInfo):
    created = api(info, "POST", "jobs/query", json={"operation": "query", "query": SUBSCRIPTIONS})
    assert created.status_code == 200, created.text
    job = created.json()
    assert (job["state"], job["object"]) == ("UploadComplete", "Subscription__c")
    early = api(info, "GET", f"jobs/query/{job['id']}/results")
    assert early.status_code == 400
    assert api(info, "GET", f"jobs/query/{job['id']}").json()["state"] == "InProgress"
    done = api(info, "GET", f"jobs/query/{job['id']}").json()
    assert (done["state"], done["numberRecordsProcessed"]) == ("JobComplete", 7)
    rows: list[dict[str, str]] = []
    locator = None
    pages = 0
    while True:
        params: dict[str, Any] = {"maxRecords": 3}
        if locator:
            params["locator"] = locator
        page = api(info, "GET", f"jobs/query/{job['id']}/results", params=params)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/csv")
        batch = list(csv.DictReader(io.StringIO(page.text)))
        assert int(page.headers["Sforce-NumberOfRecords"]) == len(batch)
        rows += batch
        pages += 1
        locator = page.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert pages == 3 and len(rows) == 7
    assert {r["Contract_Reset__c"] for r in rows} == {"true", "false"}
    bad = api(info, "GET", f"jobs/query/{job['id']}/results", params={"locator": "zz"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALIDLOCATOR"
    assert api(info, "DELETE", f"jobs/query/{job['id']}").status_code == 204
    assert api(info, "GET", f"jobs/query/{job['id']}").status_code == 404


def test_a_bad_query_job_is_refused_by_name(info: SandboxInfo):
    refused = api(
        info,
        "POST",
        "jobs/query",
        json={"operation": "query", "query": "SELECT Nope__c FROM Subscription__c"},
    )
    assert refused.status_code == 400
    assert (
        refused.json()[0]["errorCode"] == "INVALID_FIELD"
        and "Nope__c" in refused.json()[0]["message"]
    )
    adapter = SalesforceAdapter(sf_settings(info, bulk_threshold=1))
    with pytest.raises(RequestRejected, match="Nope__c"):
        list(adapter.query_bulk("SELECT Nope__c FROM Subscription__c"))
