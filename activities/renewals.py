"""Weekly renewal / subscription reconciliation: the Salesforce side.

`domain.reconciliation.reconcile` decides what is wrong; this module reads
its input from Salesforce and writes the fixes back:

- reading streams `Subscription__c` and the renewal opportunities (Type
  "renewal") by SOQL through `query_all_iter`, page by page, straight into
  the domain objects, so a million subscriptions never exist as raw JSON all
  at once;
- applying sends the fixes through the composite sObject collections
  endpoint, `batch_size` (at most 200) records per call.

Every fix is idempotent, so a run that dies half way (a crash, an outage on
the second batch) is finished by simply running again:

- MISSING_RENEWAL creates a renewal only after asking Salesforce whether a
  renewal (not marked duplicate) is linked to that subscription already:
  a rerun after a crash between the write and its answer finds the first
  one instead of creating a second;
- DUPLICATE_RENEWAL sets Marked_Duplicate__c and clears Subscription__c,
  and the ARR / start date fixes set values: writing them twice changes
  nothing;
- ORPHAN_RENEWAL is reported only: whether an orphan belongs to some
  subscription or should be closed is a person's call.

`reconcile_and_apply` is the one entry point for the CLI and the activity.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

from temporalio import activity

from activities.config import AdapterSettings, SalesforceSettings
from activities.errors import NonRetryableError, RequestRejected, as_activity_errors
from activities.salesforce import SalesforceAdapter, soql_quote
from domain.messages import ActivityName
from domain.reconciliation import (
    ARR_BASIS_MISMATCH,
    DUPLICATE_RENEWAL,
    MISSING_RENEWAL,
    ORPHAN_RENEWAL,
    START_DATE_MISMATCH,
    ApplyReport,
    Discrepancy,
    DiscrepancyRow,
    RenewalOpportunity,
    RenewalsRun,
    Subscription,
    reconcile,
)

"""The activity name `RenewalReconciliationWorkflow` calls."""

COLLECTION_LIMIT = 200
"""Salesforce's maximum records per composite sObject collections call."""
RENEWAL_TYPE = "renewal"
"""Opportunity.Type of a renewal as the sandbox stores it (contract values);
a real org's picklist says "Renewal", which SOQL's = matches too."""
NEW_RENEWAL_STAGE = "1-Prospecting"
"""Stage a created renewal starts in: it is a new pipeline deal."""
PROGRESS_EVERY = 1000
"""Records between two progress callbacks (and so two activity heartbeats)."""
LISTED_IN_ACTIVITY_RESULT = 200
"""Discrepancies a workflow result carries: a million would exceed Temporal's
payload limit; the counts are always complete."""

SUBSCRIPTION_FIELDS = (
    "Id",
    "Account__c",
    "Status__c",
    "Current_Term_End_Date__c",
    "CARR__c",
    "Contract_Reset__c",
)
RENEWAL_FIELDS = (
    "Id",
    "AccountId",
    "Subscription__c",
    "IsClosed",
    "IsWon",
    "ARR_Basis__c",
    "Renewal_Start_Date__c",
    "CreatedDate",
    "Marked_Duplicate__c",
)

Progress = Callable[[str, int], None]
"""progress(what, count): `what` is "subscriptions", "renewals" or
"applied"; `count` how many so far."""


class InvalidRenewalData(NonRetryableError):
    """A Salesforce record does not fit the reconciliation's input; retrying
    reads the same record, so a person has to fix it."""


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _date(value: Any) -> date | None:
    return date.fromisoformat(value[:10]) if isinstance(value, str) and value else None


def _datetime(value: Any) -> datetime:
    """Salesforce's `2026-11-26T20:01:00.000+0000` (or ISO with a colon)."""
    if not isinstance(value, str):
        return datetime.fromtimestamp(0, UTC)
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class RenewalsAdapter:
    """Reads the reconciliation's input from Salesforce and applies its fixes.

    Built over `SalesforceAdapter` so connection, TLS pinning, re-login and
    error translation are the approval workflow's own.
    """

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        batch_size: int = COLLECTION_LIMIT,
        renewal_type: str = RENEWAL_TYPE,
        salesforce: SalesforceAdapter | None = None,
    ) -> None:
        if not 1 <= batch_size <= COLLECTION_LIMIT:
            raise ValueError(f"batch_size must be 1..{COLLECTION_LIMIT}, not {batch_size}")
        self.sf = salesforce or SalesforceAdapter(settings)
        self.batch_size = batch_size
        self.renewal_type = renewal_type

    # -- reads --------------------------------------------------------------

    def _counted(self, what: str, rows: Iterator[Any], progress: Progress | None) -> Iterator[Any]:
        count = 0
        for row in rows:
            yield row
            count += 1
            if progress is not None and count % PROGRESS_EVERY == 0:
                progress(what, count)
        if progress is not None:
            progress(what, count)

    def subscriptions(self, progress: Progress | None = None) -> Iterator[Subscription]:
        """Every subscription, streamed."""
        soql = f"SELECT {', '.join(SUBSCRIPTION_FIELDS)} FROM Subscription__c"
        for row in self._counted("subscriptions", self.sf.query_large(soql), progress):
            try:
                yield Subscription(
                    id=row["Id"],
                    account_id=row.get("Account__c") or "",
                    status=row.get("Status__c") or "",
                    current_term_end_date=_date(row.get("Current_Term_End_Date__c")),  # type: ignore[arg-type]
                    carr=float(row.get("CARR__c") or 0.0),
                    contract_reset=bool(row.get("Contract_Reset__c")),
                )
            except (ValueError, TypeError) as exc:
                raise InvalidRenewalData(
                    f"subscription {row.get('Id')} cannot be reconciled: {exc}",
                    service="salesforce",
                ) from exc

    def renewals(self, progress: Progress | None = None) -> Iterator[RenewalOpportunity]:
        """Every renewal opportunity (Type = renewal), streamed."""
        soql = (
            f"SELECT {', '.join(RENEWAL_FIELDS)} FROM Opportunity "
            f"WHERE Type = {soql_quote(self.renewal_type)}"
        )
        for row in self._counted("renewals", self.sf.query_large(soql), progress):
            try:
                yield RenewalOpportunity(
                    id=row["Id"],
                    account_id=row.get("AccountId") or "",
                    subscription_id=row.get("Subscription__c") or None,
                    is_closed=bool(row.get("IsClosed")),
                    is_won=bool(row.get("IsWon")),
                    arr_basis=_float(row.get("ARR_Basis__c")),
                    start_date=_date(row.get("Renewal_Start_Date__c")),
                    created_at=_datetime(row.get("CreatedDate")),
                    marked_duplicate=bool(row.get("Marked_Duplicate__c")),
                )
            except (ValueError, TypeError) as exc:
                raise InvalidRenewalData(
                    f"renewal {row.get('Id')} cannot be reconciled: {exc}", service="salesforce"
                ) from exc

    def _linked_renewals(self, subscription_ids: list[str]) -> set[str]:
        """Which of these subscriptions have a renewal (not marked duplicate) now."""
        ids = ", ".join(soql_quote(i) for i in subscription_ids)
        rows = self.sf.query(
            "SELECT Id, Subscription__c FROM Opportunity "
            f"WHERE Type = {soql_quote(self.renewal_type)} AND Subscription__c IN ({ids}) "
            "AND Marked_Duplicate__c != true"
        )
        return {row["Subscription__c"] for row in rows}

    def _names(self, subscription_ids: list[str]) -> dict[str, str]:
        ids = ", ".join(soql_quote(i) for i in subscription_ids)
        rows = self.sf.query(f"SELECT Id, Name FROM Subscription__c WHERE Id IN ({ids})")
        return {row["Id"]: row.get("Name") or row["Id"] for row in rows}

    # -- writes -------------------------------------------------------------

    def _send(
        self, method: str, records: list[dict[str, Any]], report: ApplyReport
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """One composite collections call; (record, result) pairs that succeeded.
        A whole-call failure (outage, refused session) raises: the caller's
        retry reruns the reconciliation, which only redoes what is left."""
        results = self.sf.restful(
            f"{'create' if method == 'POST' else 'update'} {len(records)} records",
            "composite/sobjects",
            method,
            {"allOrNone": False, "records": records},
        )
        report.calls += 1
        if not isinstance(results, list) or len(results) != len(records):
            raise RequestRejected(
                f"composite sobjects answered {str(results)[:200]}", service="salesforce"
            )
        done = []
        for record, result in zip(records, results, strict=True):
            if result.get("success"):
                done.append((record, result))
            else:
                errors = result.get("errors") or [{}]
                first = errors[0] if isinstance(errors[0], dict) else {}
                report.fail(
                    record.get("Id") or record.get("Subscription__c") or "?",
                    f"{first.get('statusCode', '')} {first.get('message', '')}".strip(),
                )
        return done

    def apply_fixes(
        self,
        discrepancies: Iterable[Discrepancy],
        subscriptions_by_id: Mapping[str, Subscription],
        progress: Progress | None = None,
    ) -> ApplyReport:
        """Write the fixes for `discrepancies`, `batch_size` records per call.

        Updates first (duplicates unlinked, ARR / start dates set), then the
        missing renewals, each batch re-checked against Salesforce right
        before it is created.
        """
        report = ApplyReport()
        updates: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        for d in discrepancies:
            sub = subscriptions_by_id.get(d.subscription_id or "")
            if d.code == ORPHAN_RENEWAL:
                report.orphans_reported += 1
            elif d.code == MISSING_RENEWAL and sub is not None:
                missing.append(sub.id)
            elif d.code == DUPLICATE_RENEWAL and d.opportunity_id:
                fix = updates.setdefault(d.opportunity_id, {})
                fix.update({"Marked_Duplicate__c": True, "Subscription__c": None})
            elif d.code == ARR_BASIS_MISMATCH and d.opportunity_id and sub is not None:
                updates.setdefault(d.opportunity_id, {})["ARR_Basis__c"] = sub.carr
            elif d.code == START_DATE_MISMATCH and d.opportunity_id and sub is not None:
                updates.setdefault(d.opportunity_id, {})["Renewal_Start_Date__c"] = (
                    sub.current_term_end_date.isoformat()
                )
        written = 0
        records = [
            {"attributes": {"type": "Opportunity"}, "Id": opp_id, **fields}
            for opp_id, fields in updates.items()
        ]
        for batch in _chunks(records, self.batch_size):
            for record, _ in self._send("PATCH", batch, report):
                if record.get("Marked_Duplicate__c"):
                    report.marked_duplicate += 1
                if "ARR_Basis__c" in record:
                    report.arr_basis_fixed += 1
                if "Renewal_Start_Date__c" in record:
                    report.start_date_fixed += 1
            written += len(batch)
            if progress is not None:
                progress("applied", written)
        for batch_ids in _chunks(missing, self.batch_size):
            present = self._linked_renewals(batch_ids)
            report.already_present += [i for i in batch_ids if i in present]
            todo = [subscriptions_by_id[i] for i in batch_ids if i not in present]
            if todo:
                names = self._names([s.id for s in todo])
                creates = [self._new_renewal(s, names.get(s.id, s.id)) for s in todo]
                for _, result in self._send("POST", creates, report):
                    report.created.append(str(result.get("id")))
            written += len(batch_ids)
            if progress is not None:
                progress("applied", written)
        return report

    def _new_renewal(self, sub: Subscription, name: str) -> dict[str, Any]:
        start = sub.current_term_end_date.isoformat()
        return {
            "attributes": {"type": "Opportunity"},
            "Name": f"{name} renewal",
            "AccountId": sub.account_id,
            "Type": self.renewal_type,
            "StageName": NEW_RENEWAL_STAGE,
            "CloseDate": start,
            "Amount": sub.carr,
            "Subscription__c": sub.id,
            "ARR_Basis__c": sub.carr,
            "Renewal_Start_Date__c": start,
        }


def reconcile_and_apply(
    settings: AdapterSettings,
    apply: bool,
    progress: Progress | None = None,
    *,
    batch_size: int = COLLECTION_LIMIT,
    max_listed: int | None = None,
    adapter: RenewalsAdapter | None = None,
) -> RenewalsRun:
    """Read, reconcile and (when `apply`) fix; the CLI and the activity share it.

    Subscriptions are kept by id only when applying (the fixes need their
    CARR and term end); a report-only run streams them straight through.
    `max_listed` caps the discrepancies carried in the result (not the
    counts), for results that travel through Temporal.
    """
    started = datetime.now(UTC)
    renewals_adapter = adapter or RenewalsAdapter(settings.salesforce, batch_size=batch_size)
    kept: dict[str, Subscription] = {}
    read = Counter[str]()

    def counting(what: str, count: int) -> None:
        read[what] = count
        if progress is not None:
            progress(what, count)

    subscriptions: Iterable[Subscription] = renewals_adapter.subscriptions(counting)
    if apply:
        subscriptions = _keeping(subscriptions, kept)
    # Renewals first: reconcile() reads them into its index before the
    # subscriptions, and each iterable is consumed once.
    found = reconcile(subscriptions, renewals_adapter.renewals(counting))
    applied = renewals_adapter.apply_fixes(found, kept, counting) if apply else None
    listed = found if max_listed is None else found[:max_listed]
    return RenewalsRun(
        mode="apply" if apply else "report",
        started_at=started,
        finished_at=datetime.now(UTC),
        subscriptions_read=read["subscriptions"],
        renewals_read=read["renewals"],
        counts=dict(Counter(str(d.code) for d in found)),
        discrepancies=[DiscrepancyRow.of(d) for d in listed],
        discrepancies_truncated=len(listed) < len(found),
        applied=applied,
    )


def _keeping(
    subscriptions: Iterable[Subscription], into: dict[str, Subscription]
) -> Iterator[Subscription]:
    for sub in subscriptions:
        into[sub.id] = sub
        yield sub


class RenewalActivities:
    """The reconciliation as an activity, run by the weekly Schedule's workflow."""

    def __init__(self, settings: AdapterSettings) -> None:
        self.settings = settings

    @activity.defn(name=ActivityName.RECONCILE_RENEWALS)
    @as_activity_errors
    async def reconcile(self, apply: bool) -> RenewalsRun:
        """Run in a thread; progress becomes heartbeats, so a worker lost
        mid-read is noticed within the heartbeat timeout, not the hours-long
        start-to-close one. A retry reruns everything: every fix is idempotent."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()

        def beat(what: str, count: int) -> None:
            loop.call_soon_threadsafe(activity.heartbeat, what, count, context=context)

        return await asyncio.to_thread(
            reconcile_and_apply,
            self.settings,
            apply,
            beat,
            max_listed=LISTED_IN_ACTIVITY_RESULT,
        )

    def activities(self) -> list[Callable[..., Any]]:
        return [self.reconcile]
