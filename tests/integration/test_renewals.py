"""The weekly renewal / subscription reconciliation against a real sandbox:
SOQL paging, the composite sObject collections and fault injection over TLS,
through simple-salesforce and the real adapters.

Each test starts its own small sandbox (page size 3, so every read pages):
the reconciliation reads every subscription and renewal in the org, so a
shared sandbox would mix in other tests' records.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from activities.config import SalesforceSettings
from activities.errors import ServiceUnavailable
from activities.renewals import RenewalsAdapter, reconcile_and_apply
from activities.salesforce import SalesforceAdapter, _PinnedSession
from cli.renewals import register
from domain.reconciliation import MISSING_RENEWAL, Discrepancy
from om.settings import Settings
from sandbox.client import SandboxAdminClient
from sandbox.seed import load_demo_seed
from sandbox.server import Sandbox, SandboxInfo
from tests.cli_runner import in_process_cli

PAGE = 3
ACME, GLOBEX = "001RENTEST000001", "001RENTEST000002"


def sub(n: int, **changes: Any) -> dict[str, Any]:
    record = {
        "id": f"a1SRENTEST{n:08d}",
        "name": f"SUB-{n}",
        "account_id": ACME,
        "account_name": "Acme",
        "status": "Active",
        "current_term_end_date": "2027-01-31",
        "carr": 1000.0 * n,
    }
    return {**record, **changes}


def ren(n: int, subscription: int | None, **changes: Any) -> dict[str, Any]:
    record = {
        "id": f"006RENTEST{n:08d}",
        "name": f"renewal {n}",
        "account_id": ACME,
        "subscription_id": f"a1SRENTEST{subscription:08d}" if subscription else None,
        "arr_basis": 1000.0 * (subscription or 1),
        "start_date": "2027-01-31",
        "created_at": f"2026-10-{n:02d}T09:00:00Z",
    }
    return {**record, **changes}


def sid(n: int) -> str:
    return f"a1SRENTEST{n:08d}"


def oid(n: int) -> str:
    return f"006RENTEST{n:08d}"


# One of each case: 1 fine, 2 missing, 3 duplicated (4 is the later copy),
# 4 ARR off, 5 start date off, 6 both off but reset, 7 cancelled without
# renewal, renewal 9 orphaned (no link), renewal 10 linked to an unknown id.
MIXED = {
    "subscriptions": [
        sub(1),
        sub(2),
        sub(3),
        sub(4, account_id=GLOBEX, account_name="Globex"),
        sub(5),
        sub(6, contract_reset=True),
        sub(7, status="Cancelled"),
    ],
    "renewals": [
        ren(1, 1),
        ren(3, 3),
        ren(4, 3),
        ren(5, 4, arr_basis=3999.0, account_id=GLOBEX),
        ren(6, 5, start_date="2027-02-01"),
        ren(7, 6, arr_basis=1.0, start_date="2030-01-01"),
        ren(9, None),
        ren(10, 99),
    ],
}
EXPECTED = [
    ("MISSING_RENEWAL", sid(2), None),
    ("DUPLICATE_RENEWAL", sid(3), oid(4)),
    ("ARR_BASIS_MISMATCH", sid(4), oid(5)),
    ("START_DATE_MISMATCH", sid(5), oid(6)),
    ("ORPHAN_RENEWAL", sid(99), oid(10)),
    ("ORPHAN_RENEWAL", None, oid(9)),
]
ORPHANS = [row for row in EXPECTED if row[0] == "ORPHAN_RENEWAL"]


@pytest.fixture
def renewal_sandbox(tmp_path: Path) -> Iterator[SandboxInfo]:
    running = Sandbox(tmp_path / "om-home", query_page_size=PAGE)
    info = running.start()
    try:
        yield info
    finally:
        running.stop()


@pytest.fixture
def admin(renewal_sandbox: SandboxInfo) -> SandboxAdminClient:
    return SandboxAdminClient(renewal_sandbox.admin_url, renewal_sandbox.session_id)


@pytest.fixture
def settings(renewal_sandbox: SandboxInfo) -> Settings:
    return Settings(
        home=renewal_sandbox.home,
        salesforce=SalesforceSettings(
            instance_url=renewal_sandbox.salesforce_instance_url,
            session_id=renewal_sandbox.session_id,
            ca_file=renewal_sandbox.ca_file,
        ),
    )


def found(run) -> list[tuple[str, str | None, str | None]]:  # type: ignore[no-untyped-def]
    return [(d.code, d.subscription_id, d.opportunity_id) for d in run.discrepancies]


def renewal_records(admin: SandboxAdminClient) -> list[dict[str, Any]]:
    return [o for o in admin.opportunities(10_000) if o.get("Type") == "renewal"]


def live_links(admin: SandboxAdminClient) -> Counter[str]:
    """Renewals per subscription, not counting those marked duplicate."""
    return Counter(
        o["Subscription__c"]
        for o in renewal_records(admin)
        if o.get("Subscription__c") and not o.get("Marked_Duplicate__c")
    )


def test_dry_run_reports_each_kind_and_changes_nothing(admin, settings):
    admin.seed(MIXED)
    before = renewal_records(admin)
    progress: list[tuple[str, int]] = []

    run = reconcile_and_apply(settings, apply=False, progress=lambda w, n: progress.append((w, n)))

    assert found(run) == EXPECTED
    assert run.mode == "report" and run.applied is None
    assert (run.subscriptions_read, run.renewals_read) == (7, 8)
    assert ("subscriptions", 7) in progress and ("renewals", 8) in progress
    assert run.counts == {
        "DUPLICATE_RENEWAL": 1,
        "MISSING_RENEWAL": 1,
        "ARR_BASIS_MISMATCH": 1,
        "START_DATE_MISMATCH": 1,
        "ORPHAN_RENEWAL": 2,
    }
    assert renewal_records(admin) == before


def test_apply_fixes_everything_and_a_rerun_reports_only_orphans(admin, settings):
    admin.seed(MIXED)

    run = reconcile_and_apply(settings, apply=True)

    applied = run.applied
    assert applied is not None and applied.failed_count == 0
    assert len(applied.created) == 1 and applied.already_present == []
    assert (applied.marked_duplicate, applied.arr_basis_fixed, applied.start_date_fixed) == (
        1,
        1,
        1,
    )
    assert applied.orphans_reported == 2
    [created] = applied.created
    new = admin.opportunity(created)
    assert new["Name"] == "SUB-2 renewal"
    assert new["Subscription__c"] == sid(2) and new["AccountId"] == ACME
    assert new["ARR_Basis__c"] == 2000.0 and new["Renewal_Start_Date__c"] == "2027-01-31"
    assert new["Type"] == "renewal" and new["IsClosed"] is False
    duplicate = admin.opportunity(oid(4))
    assert duplicate["Marked_Duplicate__c"] is True and duplicate["Subscription__c"] is None
    assert admin.opportunity(oid(5))["ARR_Basis__c"] == 4000.0
    assert admin.opportunity(oid(6))["Renewal_Start_Date__c"] == "2027-01-31"
    reset = admin.opportunity(oid(7))
    assert (reset["ARR_Basis__c"], reset["Renewal_Start_Date__c"]) == (1.0, "2030-01-01")

    again = reconcile_and_apply(settings, apply=True)

    assert found(again) == ORPHANS
    assert again.applied is not None and again.applied.created == []
    assert again.applied.calls == 0
    assert max(live_links(admin).values()) == 1
    assert len(renewal_records(admin)) == 9


def test_rerun_after_a_partial_apply_finishes_without_doubling(admin, settings):
    admin.seed(
        {
            "subscriptions": [sub(n) for n in range(1, 6)],
            "renewals": [ren(1, 1, arr_basis=5.0), ren(2, 2, arr_basis=5.0)],
        }
    )
    # Batches of one: the first composite call goes through, the second fails.
    admin.set_faults(
        {"salesforce": {"status": 503, "match": "composite/sobjects", "skip": 1, "count": 1}}
    )
    with pytest.raises(ServiceUnavailable):
        reconcile_and_apply(settings, apply=True, batch_size=1)
    assert admin.opportunity(oid(1))["ARR_Basis__c"] == 1000.0
    assert admin.opportunity(oid(2))["ARR_Basis__c"] == 5.0

    rerun = reconcile_and_apply(settings, apply=True, batch_size=1)

    assert rerun.applied is not None
    assert rerun.applied.arr_basis_fixed == 1 and len(rerun.applied.created) == 3
    assert found(reconcile_and_apply(settings, apply=False)) == []
    assert live_links(admin) == {sid(n): 1 for n in range(1, 6)}


def test_a_stale_missing_renewal_is_not_created_twice(admin, settings):
    """A crash after the create but before its answer: the rerun's
    discrepancy says missing, Salesforce already holds the renewal."""
    admin.seed({"subscriptions": [sub(1), sub(2)]})
    adapter = RenewalsAdapter(settings.salesforce)
    subscriptions = {s.id: s for s in adapter.subscriptions()}
    stale = [Discrepancy(MISSING_RENEWAL, sid(n), None, "missing") for n in (1, 2)]
    first = adapter.apply_fixes(stale, subscriptions)

    second = adapter.apply_fixes(stale, subscriptions)

    assert len(first.created) == 2
    assert second.created == [] and sorted(second.already_present) == [sid(1), sid(2)]
    assert live_links(admin) == {sid(1): 1, sid(2): 1}


def test_reads_page_through_next_records_url(admin, settings):
    admin.seed({"subscriptions": [sub(n) for n in range(1, 11)]})
    pages: list[str] = []
    session = _PinnedSession(settings.salesforce.ca_file, 30.0)
    session.hooks["response"].append(lambda r, *a, **k: pages.append(r.request.path_url))
    adapter = RenewalsAdapter(
        settings.salesforce, salesforce=SalesforceAdapter(settings.salesforce, session)
    )

    read = [s.id for s in adapter.subscriptions()]

    assert read == [sid(n) for n in range(1, 11)]
    more = [p for p in pages if "/query/" in p and "?q=" not in p]
    assert len(more) == 3  # 10 records, 3 a page: the first answer and 3 more


def test_composite_collections_follow_salesforce_rules(settings, admin):
    admin.seed({"subscriptions": [sub(1)]})
    adapter = SalesforceAdapter(settings.salesforce)
    records = [
        {"attributes": {"type": "Opportunity"}, "Name": "ok", "StageName": "Closed Won"},
        {"attributes": {"type": "Opportunity"}, "Name": "bad", "StageName": "x", "Nope": 1},
    ]
    results = adapter.restful("create", "composite/sobjects", "POST", {"records": records})
    assert [r["success"] for r in results] == [True, False]
    assert results[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    won = admin.opportunity(results[0]["id"])
    assert (won["IsClosed"], won["IsWon"], won["Marked_Duplicate__c"]) == (True, True, False)
    rolled = adapter.restful(
        "create", "composite/sobjects", "POST", {"allOrNone": True, "records": records}
    )
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    lost = [
        {"attributes": {"type": "Opportunity"}, "Id": results[0]["id"], "StageName": "Closed Lost"}
    ]
    assert adapter.restful("update", "composite/sobjects", "PATCH", {"records": lost})[0]["success"]
    assert admin.opportunity(results[0]["id"])["IsWon"] is False
    too_many = [records[0]] * 201
    with pytest.raises(Exception, match="EXCEEDED_ID_LIMIT"):
        adapter.restful("create", "composite/sobjects", "POST", {"records": too_many})


def test_the_demo_seed_shows_every_kind(admin, settings):
    admin.seed(load_demo_seed())

    run = reconcile_and_apply(settings, apply=False)

    demo = [
        row
        for row in found(run)
        if (row[1] or "").startswith("a1SDEMO") or "DEMOREN" in (row[2] or "")
    ]
    assert {code for code, *_ in demo} == {
        "MISSING_RENEWAL",
        "DUPLICATE_RENEWAL",
        "ORPHAN_RENEWAL",
        "ARR_BASIS_MISMATCH",
        "START_DATE_MISMATCH",
    }
    assert len(demo) == 5
    # The contract seed's open renewal deals carry no subscription link.
    others = [row for row in found(run) if row not in demo]
    assert others and {code for code, *_ in others} == {"ORPHAN_RENEWAL"}


def test_cli_dry_run_json_csv_apply_and_one_line_errors(admin, renewal_sandbox, tmp_path):
    admin.seed(MIXED)
    om = in_process_cli(register, {"OM_HOME": str(renewal_sandbox.home)})
    report_csv = tmp_path / "report.csv"

    table = om("renewals", "reconcile", "--dry-run", "--csv", str(report_csv))
    as_json = om("renewals", "reconcile", "--dry-run", "--json")

    assert table.exit_code == 0, table.output
    assert "MISSING_RENEWAL" in table.output and sid(2) in table.output
    assert "6 discrepancies" in table.output
    rows = list(csv.DictReader(report_csv.open()))
    assert [
        (r["code"], r["subscription_id"] or None, r["opportunity_id"] or None) for r in rows
    ] == (EXPECTED)
    assert as_json.exit_code == 0
    assert len(json.loads(as_json.stdout)["discrepancies"]) == 6

    applied = om("renewals", "reconcile")

    assert applied.exit_code == 0, applied.output
    assert "applied: 1 renewals created" in applied.output
    after = om("renewals", "reconcile", "--dry-run", "--json")
    assert json.loads(after.stdout)["counts"] == {"ORPHAN_RENEWAL": 2}

    admin.set_faults({"salesforce": {"status": 503, "count": 1}})
    broken = om("renewals", "reconcile", "--dry-run")
    assert broken.exit_code == 1
    assert broken.output.strip().startswith("error: Salesforce answered 503")
    assert len(broken.output.strip().splitlines()) == 1


def test_unreachable_salesforce_is_one_line(tmp_path):
    om = in_process_cli(
        register,
        {
            "OM_HOME": str(tmp_path),
            "OM_SALESFORCE__INSTANCE_URL": "https://127.0.0.1:9",
            "OM_SALESFORCE__SESSION_ID": "x",
        },
    )
    result = om("renewals", "reconcile", "--dry-run")
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot reach Salesforce at https://127.0.0.1:9:")
    assert len(result.output.strip().splitlines()) == 1


async def test_activity_heartbeats_its_progress_and_caps_the_list(admin, settings, monkeypatch):
    from temporalio.testing import ActivityEnvironment

    import activities.renewals as renewals

    admin.seed(MIXED)
    monkeypatch.setattr(renewals, "PROGRESS_EVERY", 2)
    monkeypatch.setattr(renewals, "LISTED_IN_ACTIVITY_RESULT", 4)
    env = ActivityEnvironment()
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)

    run = await env.run(renewals.RenewalActivities(settings).reconcile, False)

    assert len(run.discrepancies) == 4 and run.discrepancies_truncated
    assert sum(run.counts.values()) == 6
    assert ("subscriptions", 7) in beats and ("renewals", 8) in beats
