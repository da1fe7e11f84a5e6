"""Weekly renewal / subscription reconciliation, as a pure function.

The handbook's goal is exactly one renewal opportunity per customer
subscription, with an ARR basis equal to the subscription's CARR and a start
date equal to the end of its current term. `reconcile` compares what
Salesforce holds against that goal and returns one `Discrepancy` per thing an
operator (or the apply mode) has to fix. It does no I/O, so the report mode,
the apply mode and the weekly schedule all share one definition of "wrong",
and the benchmark can time it without Salesforce.

Rules, with the interpretation chosen where the handbook leaves room:

* Renewals marked duplicate are invisible everywhere: they link to nothing,
  never satisfy or trigger MISSING_RENEWAL, never count as a DUPLICATE_RENEWAL
  and are never ORPHAN_RENEWAL. The apply mode fixes a duplicate by marking
  and unlinking it, so counting marked ones anywhere would make a rerun after
  the fix report the same renewals again (as orphans).
* MISSING_RENEWAL: only an Active subscription with no linked renewal.
  Cancelled and Expired subscriptions are not renewed, so no renewal is
  owed. A closed renewal (won or lost) counts as a renewal: the subscription
  has had its renewal, opening another would double it.
* DUPLICATE_RENEWAL: any subscription, whatever its status, with more than
  one linked renewal. One is kept: a closed-won one first, then any closed
  one, then the oldest `created_at`, then the smallest id (plain string
  order). Each other one is reported, with the kept one named in the
  message, whatever the status of the subscription.
* ORPHAN_RENEWAL: an open renewal whose subscription_id is None or matches
  no subscription in the input. A renewal linked to a Cancelled or Expired
  subscription matches a subscription, so it is not an orphan. Closed
  renewals are history and are never orphans.
  The orphan's subscription_id is reported as given (None or the unknown id).
* ARR_BASIS_MISMATCH / START_DATE_MISMATCH: checked only on the kept
  renewal, only when it is open (a closed deal is not edited) and only when
  the subscription has no contract reset (a reset means the renewal's terms
  were renegotiated on purpose). They apply whatever the subscription's
  status, as the handbook does not restrict them. A missing (None) ARR basis or
  start date is a mismatch. ARR passes when the two differ by at most 0.01
  (exactly one cent passes); a slack of 1e-6 absorbs binary float error, so
  100.00 vs 100.01 passes although 100.01 - 100.00 > 0.01 in floats (the
  slack is far below a cent, so it never hides a real difference).
* A contract reset excuses only the two mismatches: a reset subscription
  still needs exactly one renewal, so MISSING and DUPLICATE still apply.

Output order: by subscription_id with None last, then code in string order
(ARR_BASIS_MISMATCH, DUPLICATE_RENEWAL, MISSING_RENEWAL, ORPHAN_RENEWAL,
START_DATE_MISMATCH), then opportunity_id. The result does not depend on
the order of the inputs.

Inputs are any iterables, each read once (a streamed SOQL read can be passed
straight in). `created_at` values must be mutually comparable (all aware,
as Salesforce's CreatedDate is). A subscription id, or the id of a renewal
being reported, that appears twice raises ValueError rather than producing
a report built on a bad read.

Scale: one million subscriptions must reconcile in under 3 s on two slow
cores, and pure Python there costs tens of nanoseconds per bytecode, so the
join is two linear passes over one plain dict with a minimal common path,
records are slotted dataclasses with f-string messages, and the output is
sorted by subscription id alone: records are collected per code and
concatenated in code order, so one stable string sort yields the report
order without building a tuple key per record.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any, Final, Literal

from pydantic import BaseModel, Field


class SubscriptionStatus(StrEnum):
    """Salesforce subscription status values; plain strings compare equal."""

    ACTIVE = "Active"
    CANCELLED = "Cancelled"
    EXPIRED = "Expired"


_STATUSES: Final = frozenset(SubscriptionStatus)


class DiscrepancyCode(StrEnum):
    """What is wrong; a str, so reports, JSON and CSV carry the bare name."""

    MISSING_RENEWAL = "MISSING_RENEWAL"
    DUPLICATE_RENEWAL = "DUPLICATE_RENEWAL"
    ORPHAN_RENEWAL = "ORPHAN_RENEWAL"
    ARR_BASIS_MISMATCH = "ARR_BASIS_MISMATCH"
    START_DATE_MISMATCH = "START_DATE_MISMATCH"


MISSING_RENEWAL: Final = DiscrepancyCode.MISSING_RENEWAL
DUPLICATE_RENEWAL: Final = DiscrepancyCode.DUPLICATE_RENEWAL
ORPHAN_RENEWAL: Final = DiscrepancyCode.ORPHAN_RENEWAL
ARR_BASIS_MISMATCH: Final = DiscrepancyCode.ARR_BASIS_MISMATCH
START_DATE_MISMATCH: Final = DiscrepancyCode.START_DATE_MISMATCH

ARR_TOLERANCE: Final = 0.01
"""ARR basis and CARR may differ by this much (inclusive) and still match."""
_ARR_LIMIT: Final = ARR_TOLERANCE + 1e-6  # float slack: one cent exactly must pass


@dataclass(frozen=True, slots=True)
class Subscription:
    """A customer subscription as read from Salesforce.

    Slotted because a million of them are held at once, frozen because the
    report and the apply step share them. The status is checked here so a
    mapping error in the SOQL adapter fails on the first bad row instead of
    silently reporting every subscription as not Active.
    """

    id: str
    account_id: str
    status: str
    current_term_end_date: date
    carr: float
    contract_reset: bool = False

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("subscription id must not be empty")
        if self.status not in _STATUSES:
            raise ValueError(
                f"subscription {self.id}: status {self.status!r} is not one of "
                "'Active', 'Cancelled', 'Expired'"
            )


@dataclass(frozen=True, slots=True)
class RenewalOpportunity:
    """A renewal opportunity as read from Salesforce.

    `subscription_id` is None when the renewal is linked to nothing.
    `arr_basis` and `start_date` may be None (empty Salesforce fields); on
    the kept open renewal that is reported as a mismatch. Won implies closed
    in Salesforce, so a won-but-open row means the adapter mapped stages
    wrongly and is refused rather than ranked.
    """

    id: str
    account_id: str
    subscription_id: str | None
    is_closed: bool
    is_won: bool
    arr_basis: float | None
    start_date: date | None
    created_at: datetime
    marked_duplicate: bool = False

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("renewal opportunity id must not be empty")
        if self.is_won and not self.is_closed:
            raise ValueError(f"renewal {self.id}: is_won without is_closed is impossible")


@dataclass(slots=True)
class Discrepancy:
    """One thing to fix, with a sentence an operator can act on.

    Slotted but not frozen: a frozen dataclass sets each field through
    `object.__setattr__`, which makes building hundreds of thousands of them
    two to three times slower, and nothing writes to a record after
    `reconcile` returns it.
    """

    code: DiscrepancyCode
    subscription_id: str | None
    opportunity_id: str | None
    message: str


class _Sentinel:
    """Stands in for a renewal in the hot loop of pass 2.

    Its ARR basis equals nothing, so a sentinel always leaves the common
    path (both values match) and is told apart on the slow path, where the
    cost does not matter. `_ABSENT` is what a subscription without renewal
    finds; `_CLAIMED` replaces a renewal once its subscription took it, so
    unclaimed entries are the orphans and a second subscription with the
    same id is noticed.
    """

    __slots__ = ()
    arr_basis = start_date = object()
    is_closed = True


_ABSENT: Final = _Sentinel()
_CLAIMED: Final = _Sentinel()
_BY_SUBSCRIPTION = attrgetter("subscription_id")
_BY_OPPORTUNITY = attrgetter("opportunity_id")


def _keep_key(r: RenewalOpportunity) -> tuple[bool, bool, datetime, str]:
    # won implies closed (checked on construction), so this is: closed-won,
    # then closed, then oldest, then smallest id
    return (not r.is_won, not r.is_closed, r.created_at, r.id)


def _why_kept(kept: RenewalOpportunity, other: RenewalOpportunity) -> str:
    if kept.is_won and not other.is_won:
        return "closed won"
    if kept.is_closed and not other.is_closed:
        return "closed"
    if kept.created_at < other.created_at:
        return "created first"
    return "same creation time, smaller id"


def reconcile(
    subscriptions: Iterable[Subscription], renewals: Iterable[RenewalOpportunity]
) -> list[Discrepancy]:
    """Every discrepancy between subscriptions and their renewals, in report order.

    A hash join in two linear passes. The first indexes the renewals that
    count by subscription id and settles duplicates as they collide, so the
    index holds exactly the kept renewal per id and the second pass, one
    lookup per subscription, needs no grouping logic on its common path.
    Index entries no subscription claims are the orphans, so unknown ids
    cost no extra lookups. The cyclic garbage collector is paused while the
    result is built: none of these objects can form cycles, and with
    millions of live inputs each full collection it would otherwise trigger
    rescans them all (it is re-enabled on the way out, errors included).

    Raises ValueError when a subscription id, or the id of a renewal that
    would be reported, appears twice: the reading side paged badly and any
    report would be wrong.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _reconcile(subscriptions, renewals)
    finally:
        if gc_was_enabled:
            gc.enable()


def _reconcile(
    subscriptions: Iterable[Subscription], renewals: Iterable[RenewalOpportunity]
) -> list[Discrepancy]:
    # Pass 1: the kept renewal per subscription id. Losers of a collision are
    # set aside: duplicates if the id turns out to be a subscription's,
    # orphans otherwise. The index starts with None claimed, so renewals with
    # no subscription id collide and go to `unlinked`; that non-str key also
    # makes CPython store each key's hash in the table, so the dozen or so
    # resizes on the way to a million entries do not re-read every key string
    # (measured: a third faster than a str-only dict at 1M).
    claimed = _CLAIMED
    kept_by_sid: dict[str | None, Any] = {None: claimed}
    setdefault = kept_by_sid.setdefault
    losers: list[RenewalOpportunity] = []
    unlinked: list[RenewalOpportunity] = []
    for r in renewals:
        if r.marked_duplicate:
            continue
        prev = setdefault(r.subscription_id, r)
        if prev is not r:  # rare: no subscription id, a duplicate, or an orphan
            sid = r.subscription_id
            if sid is None:
                unlinked.append(r)
            elif r.id == prev.id:
                raise ValueError(f"renewal {r.id} appears more than once in the input")
            elif _keep_key(r) < _keep_key(prev):
                kept_by_sid[sid] = r
                losers.append(prev)
            else:
                losers.append(r)
    kept_of_loser = {r.subscription_id: kept_by_sid[r.subscription_id] for r in losers}

    # Pass 2: each subscription claims its kept renewal. Records go to one
    # list per code so that concatenating the lists in code order and then
    # sorting stably by subscription id gives the report order.
    arr_out: list[Discrepancy] = []
    missing_out: list[Discrepancy] = []
    start_out: list[Discrepancy] = []
    arr_emit = arr_out.append
    missing_emit = missing_out.append
    start_emit = start_out.append
    get = kept_by_sid.get
    absent = _ABSENT
    active = SubscriptionStatus.ACTIVE.value
    for s in subscriptions:
        sid = s.id
        r = get(sid, absent)
        kept_by_sid[sid] = claimed
        if r.arr_basis == s.carr and r.start_date == s.current_term_end_date:
            continue  # the common case, kept as short as possible
        if r is absent:
            if s.status == active:
                missing_emit(
                    Discrepancy(
                        MISSING_RENEWAL,
                        sid,
                        None,
                        f"Active subscription {sid} (account {s.account_id}) has no renewal "
                        f"opportunity; it needs one with ARR basis {s.carr:,.2f} starting "
                        f"{s.current_term_end_date.isoformat()}.",
                    )
                )
            continue
        if r.is_closed or s.contract_reset:
            if r is claimed:
                raise ValueError(f"subscription {sid} appears more than once in the input")
            continue
        if r.arr_basis != s.carr:
            arr = r.arr_basis
            carr = s.carr
            if arr is None:
                arr_emit(
                    Discrepancy(
                        ARR_BASIS_MISMATCH,
                        sid,
                        r.id,
                        f"Renewal {r.id} has no ARR basis but subscription {sid} has "
                        f"CARR {carr:,.2f}.",
                    )
                )
            elif not abs(arr - carr) <= _ARR_LIMIT:  # "not <=": NaN mismatches too
                arr_emit(
                    Discrepancy(
                        ARR_BASIS_MISMATCH,
                        sid,
                        r.id,
                        f"Renewal {r.id} has ARR basis {arr:,.2f} but subscription {sid} has "
                        f"CARR {carr:,.2f}.",
                    )
                )
        if r.start_date != s.current_term_end_date:
            start = r.start_date
            starts = "has no start date" if start is None else f"starts on {start.isoformat()}"
            start_emit(
                Discrepancy(
                    START_DATE_MISMATCH,
                    sid,
                    r.id,
                    f"Renewal {r.id} {starts} but subscription {sid}'s current term ends on "
                    f"{s.current_term_end_date.isoformat()}.",
                )
            )

    # Losers: duplicates where a subscription claimed the id, else orphans.
    dup_out: list[Discrepancy] = []
    orphans: list[RenewalOpportunity] = []
    for r in losers:
        sid = r.subscription_id
        if kept_by_sid[sid] is not claimed:
            orphans.append(r)
            continue
        kept = kept_of_loser[sid]
        dup_out.append(
            Discrepancy(
                DUPLICATE_RENEWAL,
                sid,
                r.id,
                f"Renewal {r.id} duplicates renewal {kept.id} of subscription {sid}, which is "
                f"kept ({_why_kept(kept, r)}); mark {r.id} as duplicate and unlink it.",
            )
        )
    # Index entries nobody claimed: renewals of unknown (or no) subscription.
    orphans += [r for r in kept_by_sid.values() if r is not claimed]
    orphans += unlinked
    named: list[Discrepancy] = []
    unnamed: list[Discrepancy] = []
    for r in orphans:
        if r.is_closed:
            continue
        sid = r.subscription_id
        if sid is None:
            unnamed.append(
                Discrepancy(
                    ORPHAN_RENEWAL,
                    None,
                    r.id,
                    f"Open renewal {r.id} (account {r.account_id}) is linked to no subscription.",
                )
            )
        else:
            named.append(
                Discrepancy(
                    ORPHAN_RENEWAL,
                    sid,
                    r.id,
                    f"Open renewal {r.id} (account {r.account_id}) is linked to subscription "
                    f"{sid}, which does not exist.",
                )
            )
    for listed in (dup_out, named, unnamed):
        _sort_by_opportunity_refusing_repeats(listed)

    # Codes in string order: ARR < DUPLICATE < MISSING < ORPHAN < START. ARR,
    # MISSING and START occur at most once per subscription id, DUPLICATE and
    # ORPHAN records are already in opportunity id order, so one stable sort
    # by subscription id finishes the report.
    out = arr_out + dup_out + missing_out + named + start_out
    out.sort(key=_BY_SUBSCRIPTION)
    out += unnamed
    return out


def _sort_by_opportunity_refusing_repeats(found: list[Discrepancy]) -> None:
    found.sort(key=_BY_OPPORTUNITY)
    for a, b in zip(found, found[1:], strict=False):
        if a.opportunity_id == b.opportunity_id:
            raise ValueError(f"renewal {a.opportunity_id} appears more than once in the input")


# ---- a run's report, as JSON-friendly data (activity result, CLI output) ----


class DiscrepancyRow(BaseModel):
    """A `domain.reconciliation.Discrepancy` as JSON-friendly data."""

    code: str
    subscription_id: str | None
    opportunity_id: str | None
    message: str

    @classmethod
    def of(cls, d: Discrepancy) -> DiscrepancyRow:
        return cls(
            code=str(d.code),
            subscription_id=d.subscription_id,
            opportunity_id=d.opportunity_id,
            message=d.message,
        )


class ApplyReport(BaseModel):
    """What an apply wrote; counts are complete, `failed` is capped."""

    created: list[str] = Field(default_factory=list, description="new renewal ids")
    already_present: list[str] = Field(
        default_factory=list,
        description="subscriptions whose missing renewal a previous run had created",
    )
    marked_duplicate: int = 0
    arr_basis_fixed: int = 0
    start_date_fixed: int = 0
    orphans_reported: int = 0
    calls: int = Field(0, description="composite collection calls made")
    failed: dict[str, str] = Field(default_factory=dict, description="record id -> error")
    failed_count: int = 0

    def fail(self, record_id: str, error: str) -> None:
        self.failed_count += 1
        if len(self.failed) < 100:
            self.failed[record_id] = error


class RenewalsRun(BaseModel):
    """One reconciliation run: what was read, found and (maybe) fixed."""

    mode: Literal["report", "apply"]
    started_at: datetime
    finished_at: datetime
    subscriptions_read: int
    renewals_read: int
    counts: dict[str, int] = Field(description="discrepancies per code")
    discrepancies: list[DiscrepancyRow]
    discrepancies_truncated: bool = False
    applied: ApplyReport | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())
