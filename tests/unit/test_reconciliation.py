"""Renewal / subscription reconciliation: each rule alone, then mixed.

Every rule is shown failing and passing, because the apply mode trusts this
function to say what to fix and a false positive becomes a wrong write in
Salesforce.
"""

from __future__ import annotations

import dataclasses
import gc
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.reconciliation import (
    Discrepancy,
    DiscrepancyCode,
    RenewalOpportunity,
    Subscription,
    SubscriptionStatus,
    reconcile,
)

END = date(2026, 7, 1)
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

MISSING = "MISSING_RENEWAL"
DUPLICATE = "DUPLICATE_RENEWAL"
ORPHAN = "ORPHAN_RENEWAL"
ARR = "ARR_BASIS_MISMATCH"
START = "START_DATE_MISMATCH"


def sub(
    id: str = "S1",
    status: str = "Active",
    *,
    end: date = END,
    carr: float = 1000.0,
    reset: bool = False,
    account: str = "A1",
) -> Subscription:
    return Subscription(id, account, status, end, carr, reset)


def ren(
    id: str = "O1",
    sid: str | None = "S1",
    *,
    closed: bool = False,
    won: bool = False,
    arr: float | None = 1000.0,
    start: date | None = END,
    created: datetime = T0,
    marked: bool = False,
    account: str = "A1",
) -> RenewalOpportunity:
    return RenewalOpportunity(id, account, sid, closed, won, arr, start, created, marked)


def keys(found: list[Discrepancy]) -> list[tuple[str, str | None, str | None]]:
    return [(d.code, d.subscription_id, d.opportunity_id) for d in found]


# --------------------------------------------------------------------------
# Contract
# --------------------------------------------------------------------------


def test_positional_construction_as_in_the_contract():
    s = Subscription("S1", "A1", "Active", END, 1000.0)
    r = RenewalOpportunity("O1", "A1", None, False, False, 1000.0, END, T0)
    assert s.contract_reset is False and r.marked_duplicate is False
    assert r.subscription_id is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.carr = 1.0  # type: ignore[misc]


def test_discrepancy_fields_and_codes_are_plain_strings():
    (d,) = reconcile([sub()], [])
    assert (d.code, d.subscription_id, d.opportunity_id) == (MISSING, "S1", None)
    assert d.code == DiscrepancyCode.MISSING_RENEWAL and isinstance(d.code, str)
    assert isinstance(d.message, str)
    assert [f.name for f in dataclasses.fields(Discrepancy)] == [
        "code",
        "subscription_id",
        "opportunity_id",
        "message",
    ]


@pytest.mark.parametrize("status", ["active", "Closed", "", "ACTIVE"])
def test_unknown_status_is_refused(status):
    with pytest.raises(ValueError, match="status"):
        sub(status=status)


def test_status_enum_members_are_accepted():
    assert reconcile([sub(status=SubscriptionStatus.ACTIVE)], []) != []
    assert reconcile([sub(status=SubscriptionStatus.EXPIRED)], []) == []


def test_won_but_open_renewal_is_refused():
    with pytest.raises(ValueError, match="is_won"):
        ren(closed=False, won=True)


def test_empty_ids_are_refused():
    with pytest.raises(ValueError):
        sub(id="")
    with pytest.raises(ValueError):
        ren(id="")


@pytest.mark.parametrize("renewals", [[], [ren()]], ids=["without renewal", "with renewal"])
def test_same_subscription_twice_is_refused(renewals):
    with pytest.raises(ValueError, match="S1 appears more than once"):
        reconcile([sub(), sub()], renewals)


@pytest.mark.parametrize("enabled", [True, False])
def test_garbage_collector_state_is_restored(enabled):
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        reconcile([sub()], [])
        assert gc.isenabled() is enabled
        with pytest.raises(ValueError):
            reconcile([sub(), sub()], [])
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_same_renewal_twice_is_refused():
    with pytest.raises(ValueError, match="more than once"):
        reconcile([sub()], [ren(), ren()])
    with pytest.raises(ValueError, match="O9 appears more than once"):
        reconcile([], [ren("O9", None), ren("O9", None)])


def test_empty_inputs():
    assert reconcile([], []) == []


def test_any_iterables_are_accepted():
    found = reconcile((s for s in [sub("S1"), sub("S2")]), iter([ren("O1", "S1")]))
    assert keys(found) == [(MISSING, "S2", None)]


def test_clean_pair_has_no_discrepancy():
    assert reconcile([sub()], [ren()]) == []


# --------------------------------------------------------------------------
# MISSING_RENEWAL
# --------------------------------------------------------------------------


def test_active_subscription_without_renewal_is_missing():
    (d,) = reconcile([sub(carr=12345.6, account="ACME")], [])
    assert keys([d]) == [(MISSING, "S1", None)]
    assert "S1" in d.message and "ACME" in d.message
    assert "12,345.60" in d.message and "2026-07-01" in d.message


@pytest.mark.parametrize("status", ["Cancelled", "Expired"])
def test_cancelled_or_expired_subscription_without_renewal_is_not_missing(status):
    assert reconcile([sub(status=status)], []) == []


@pytest.mark.parametrize("won", [True, False])
def test_closed_renewal_satisfies_the_subscription(won):
    assert reconcile([sub()], [ren(closed=True, won=won, arr=1.0, start=None)]) == []


def test_only_a_marked_duplicate_still_leaves_it_missing():
    assert keys(reconcile([sub()], [ren(marked=True)])) == [(MISSING, "S1", None)]


def test_contract_reset_does_not_excuse_a_missing_renewal():
    assert keys(reconcile([sub(reset=True)], [])) == [(MISSING, "S1", None)]


# --------------------------------------------------------------------------
# DUPLICATE_RENEWAL and which one is kept
# --------------------------------------------------------------------------


def test_two_open_renewals_keep_the_oldest():
    found = reconcile([sub()], [ren("O1", created=T0 + timedelta(1)), ren("O2", created=T0)])
    assert keys(found) == [(DUPLICATE, "S1", "O1")]
    assert "O2" in found[0].message and "created first" in found[0].message


def test_closed_won_is_kept_over_an_older_closed_lost():
    found = reconcile(
        [sub()],
        [
            ren("O1", closed=True, created=T0),
            ren("O2", closed=True, won=True, created=T0 + timedelta(1)),
        ],
    )
    assert keys(found) == [(DUPLICATE, "S1", "O1")]
    assert "closed won" in found[0].message


def test_closed_won_is_kept_over_an_older_open_one():
    found = reconcile(
        [sub()],
        [ren("O1", created=T0), ren("O2", closed=True, won=True, created=T0 + timedelta(1))],
    )
    assert keys(found) == [(DUPLICATE, "S1", "O1")]


def test_closed_lost_is_kept_over_an_older_open_one():
    found = reconcile(
        [sub()], [ren("O1", created=T0), ren("O2", closed=True, created=T0 + timedelta(1))]
    )
    assert keys(found) == [(DUPLICATE, "S1", "O1")]
    assert "(closed)" in found[0].message


def test_created_at_tie_keeps_the_smallest_id():
    found = reconcile([sub()], [ren("O2"), ren("O10"), ren("O1")])
    # string order: "O1" < "O10" < "O2"
    assert keys(found) == [(DUPLICATE, "S1", "O10"), (DUPLICATE, "S1", "O2")]
    assert all("smaller id" in d.message for d in found)


def test_tie_on_won_and_created_at_keeps_the_smallest_id():
    found = reconcile([sub()], [ren("O2", closed=True, won=True), ren("O1", closed=True, won=True)])
    assert keys(found) == [(DUPLICATE, "S1", "O2")]


def test_marked_duplicates_do_not_count_as_duplicates():
    assert reconcile([sub()], [ren("O1"), ren("O2", marked=True), ren("O3", marked=True)]) == []


def test_duplicates_are_reported_whatever_the_subscription_status():
    found = reconcile([sub(status="Cancelled")], [ren("O1"), ren("O2", created=T0 + timedelta(1))])
    assert keys(found) == [(DUPLICATE, "S1", "O2")]


def test_contract_reset_does_not_excuse_duplicates():
    found = reconcile([sub(reset=True)], [ren("O1", arr=5.0), ren("O2", created=T0 + timedelta(1))])
    assert keys(found) == [(DUPLICATE, "S1", "O2")]


# --------------------------------------------------------------------------
# ORPHAN_RENEWAL
# --------------------------------------------------------------------------


def test_open_renewal_without_subscription_id_is_an_orphan():
    (d,) = reconcile([], [ren("O1", None, account="ACME")])
    assert keys([d]) == [(ORPHAN, None, "O1")]
    assert "O1" in d.message and "ACME" in d.message and "no subscription" in d.message


def test_open_renewal_with_unknown_subscription_id_is_an_orphan():
    (d,) = reconcile([sub("S1")], [ren("O0", "S1"), ren("O1", "S404")])
    assert keys([d]) == [(ORPHAN, "S404", "O1")]
    assert "S404" in d.message and "does not exist" in d.message


@pytest.mark.parametrize("won", [True, False])
def test_closed_renewal_without_subscription_is_not_an_orphan(won):
    assert (
        reconcile([], [ren("O1", None, closed=True, won=won), ren("O2", "S9", closed=True)]) == []
    )


def test_marked_duplicate_without_subscription_is_not_an_orphan():
    # what the apply mode leaves behind after fixing a duplicate
    assert reconcile([], [ren("O1", None, marked=True), ren("O2", "S404", marked=True)]) == []


@pytest.mark.parametrize("status", ["Cancelled", "Expired"])
def test_renewal_of_a_cancelled_or_expired_subscription_is_not_an_orphan(status):
    assert reconcile([sub(status=status)], [ren()]) == []


def test_several_orphans_on_one_unknown_subscription_are_each_reported():
    found = reconcile([], [ren("O2", "S404"), ren("O1", "S404"), ren("O3", "S404", closed=True)])
    assert keys(found) == [(ORPHAN, "S404", "O1"), (ORPHAN, "S404", "O2")]


# --------------------------------------------------------------------------
# ARR_BASIS_MISMATCH
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("carr", "arr"),
    [
        (100.0, 100.01),
        (100.01, 100.0),
        (1000.0, 999.99),
        (1_234_567.89, 1_234_567.9),
        (9_999_999.99, 10_000_000.0),
        (0.0, 0.01),
        (100.0, 100.005),
    ],
)
def test_arr_basis_within_one_cent_passes(carr, arr):
    assert reconcile([sub(carr=carr)], [ren(arr=arr)]) == []


@pytest.mark.parametrize(
    ("carr", "arr"),
    [
        (100.0, 100.02),
        (100.0, 100.011),
        (100.0, 99.98),
        (1_234_567.89, 1_234_567.91),
        (100.0, float("nan")),
    ],
)
def test_arr_basis_more_than_one_cent_away_mismatches(carr, arr):
    (d,) = reconcile([sub(carr=carr)], [ren(arr=arr)])
    assert keys([d]) == [(ARR, "S1", "O1")]
    assert f"{arr:,.2f}" in d.message and f"{carr:,.2f}" in d.message


def test_missing_arr_basis_mismatches():
    (d,) = reconcile([sub()], [ren(arr=None)])
    assert keys([d]) == [(ARR, "S1", "O1")] and "no ARR basis" in d.message


def test_contract_reset_excuses_arr_basis():
    assert reconcile([sub(reset=True)], [ren(arr=1.0)]) == []


def test_closed_kept_renewal_is_not_checked_for_arr_basis():
    assert reconcile([sub()], [ren(closed=True, won=True, arr=1.0)]) == []


def test_only_the_kept_renewal_is_checked():
    found = reconcile(
        [sub()], [ren("O1", created=T0), ren("O2", arr=5.0, start=None, created=T0 + timedelta(1))]
    )
    assert keys(found) == [(DUPLICATE, "S1", "O2")]


def test_mismatch_on_kept_open_renewal_next_to_duplicates():
    found = reconcile(
        [sub()], [ren("O1", arr=5.0, created=T0), ren("O2", created=T0 + timedelta(1))]
    )
    assert keys(found) == [(ARR, "S1", "O1"), (DUPLICATE, "S1", "O2")]


def test_no_mismatch_when_a_closed_one_is_kept_over_a_wrong_open_one():
    found = reconcile(
        [sub()], [ren("O1", arr=5.0, start=None), ren("O2", closed=True, won=True, arr=7.0)]
    )
    assert keys(found) == [(DUPLICATE, "S1", "O1")]


@pytest.mark.parametrize("status", ["Cancelled", "Expired"])
def test_mismatches_are_checked_whatever_the_subscription_status(status):
    found = reconcile([sub(status=status)], [ren(arr=5.0, start=END - timedelta(1))])
    assert keys(found) == [(ARR, "S1", "O1"), (START, "S1", "O1")]


# --------------------------------------------------------------------------
# START_DATE_MISMATCH
# --------------------------------------------------------------------------


@pytest.mark.parametrize("start", [END - timedelta(days=1), END + timedelta(days=1)])
def test_start_date_other_than_term_end_mismatches(start):
    (d,) = reconcile([sub()], [ren(start=start)])
    assert keys([d]) == [(START, "S1", "O1")]
    assert start.isoformat() in d.message and END.isoformat() in d.message


def test_missing_start_date_mismatches():
    (d,) = reconcile([sub()], [ren(start=None)])
    assert keys([d]) == [(START, "S1", "O1")] and "no start date" in d.message


def test_contract_reset_excuses_start_date():
    assert reconcile([sub(reset=True)], [ren(start=None)]) == []


def test_closed_kept_renewal_is_not_checked_for_start_date():
    assert reconcile([sub()], [ren(closed=True, start=date(2020, 1, 1))]) == []


# --------------------------------------------------------------------------
# Mixed cases and order
# --------------------------------------------------------------------------


def test_output_order_subscription_then_code_then_opportunity_with_none_last():
    subs = [sub("S3"), sub("S1"), sub("S2"), sub("S4", "Cancelled")]
    rens = [
        ren("O9", None),
        ren("O5", None),
        ren("O7", "S2", arr=1.0, start=None),  # kept: ARR + START
        ren("O8", "S2", created=T0 + timedelta(1)),  # DUPLICATE
        ren("O6", "S2", created=T0 + timedelta(2)),  # DUPLICATE
        ren("O4", "S0"),  # unknown id, sorts before S1
        ren("O3", "S3"),
    ]
    found = reconcile(subs, rens)
    assert keys(found) == [
        (ORPHAN, "S0", "O4"),
        (MISSING, "S1", None),
        (ARR, "S2", "O7"),
        (DUPLICATE, "S2", "O6"),
        (DUPLICATE, "S2", "O8"),
        (START, "S2", "O7"),
        (ORPHAN, None, "O5"),
        (ORPHAN, None, "O9"),
    ]


def test_mixed_portfolio():
    subs = [
        sub("S01"),  # clean
        sub("S02"),  # missing
        sub("S03", "Cancelled"),  # nothing owed
        sub("S04", "Expired"),  # nothing owed
        sub("S05", reset=True),  # reset: values ignored
        sub("S06"),  # duplicates, kept closed won
        sub("S07", carr=2000.0),  # ARR off
        sub("S08", end=date(2026, 9, 30)),  # start off
        sub("S09"),  # only marked duplicate
        sub("S10", "Cancelled"),  # renewal linked, fine
        sub("S11", carr=500.0),  # one cent away: fine
    ]
    rens = [
        ren("O01", "S01"),
        ren("O05", "S05", arr=1.0, start=None),
        ren("O06a", "S06", created=T0),
        ren("O06b", "S06", closed=True, won=True, created=T0 + timedelta(3)),
        ren("O06c", "S06", marked=True),
        ren("O07", "S07", arr=1999.0),
        ren("O08", "S08"),
        ren("O09", "S09", marked=True),
        ren("O10", "S10"),
        ren("O11", "S11", arr=500.01),
        ren("O90", None),
        ren("O91", "S99"),
        ren("O92", None, closed=True),
    ]
    found = reconcile(subs, rens)
    assert keys(found) == [
        (MISSING, "S02", None),
        (DUPLICATE, "S06", "O06a"),
        (ARR, "S07", "O07"),
        (START, "S08", "O08"),
        (MISSING, "S09", None),
        (ORPHAN, "S99", "O91"),
        (ORPHAN, None, "O90"),
    ]
    assert all(d.message.endswith(".") and d.message.count(". ") == 0 for d in found)


# --------------------------------------------------------------------------
# Properties: order independence, and a fixed portfolio reconciles clean
# --------------------------------------------------------------------------

_IDS = [f"S{i}" for i in range(6)]


@st.composite
def portfolios(draw):
    subs = [
        Subscription(
            sid,
            "A",
            draw(st.sampled_from(["Active", "Cancelled", "Expired"])),
            END + timedelta(days=draw(st.integers(0, 2))),
            float(draw(st.sampled_from([100, 200]))),
            draw(st.booleans()),
        )
        for sid in _IDS
        if draw(st.booleans())
    ]
    rens = []
    for k in range(draw(st.integers(0, 10))):
        closed = draw(st.booleans())
        rens.append(
            RenewalOpportunity(
                f"O{k}",
                "A",
                draw(st.sampled_from([*_IDS, None, "S404"])),
                closed,
                closed and draw(st.booleans()),
                draw(st.sampled_from([100.0, 100.01, 100.02, 200.0, None])),
                draw(st.sampled_from([END, END + timedelta(days=1), None])),
                T0 + timedelta(hours=draw(st.integers(0, 2))),
                draw(st.booleans()),
            )
        )
    return subs, rens


def apply_fixes(subs, rens, found):
    """What the apply mode does for each discrepancy, applied to the inputs."""
    by_sub = {s.id: s for s in subs}
    by_opp = {r.id: r for r in rens}
    created = []
    for d in found:
        if d.code == MISSING:
            s = by_sub[d.subscription_id]
            created.append(
                ren(f"new-{s.id}", s.id, arr=s.carr, start=s.current_term_end_date, created=T0)
            )
        elif d.code in (DUPLICATE, ORPHAN):
            # a duplicate is marked and unlinked; an orphan is left for a person
            if d.code == DUPLICATE:
                r = by_opp[d.opportunity_id]
                by_opp[r.id] = dataclasses.replace(r, marked_duplicate=True, subscription_id=None)
        elif d.code == ARR:
            r = by_opp[d.opportunity_id]
            by_opp[r.id] = dataclasses.replace(r, arr_basis=by_sub[d.subscription_id].carr)
        elif d.code == START:
            r = by_opp[d.opportunity_id]
            end = by_sub[d.subscription_id].current_term_end_date
            by_opp[r.id] = dataclasses.replace(r, start_date=end)
    return list(by_opp.values()) + created


@settings(max_examples=120, deadline=None)
@given(portfolios(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_input_order_and_is_sorted(portfolio, rnd: random.Random):
    subs, rens = portfolio
    found = reconcile(subs, rens)
    assert reconcile(rnd.sample(subs, len(subs)), rnd.sample(rens, len(rens))) == found
    order = [
        (d.subscription_id is None, d.subscription_id or "", d.code, d.opportunity_id or "")
        for d in found
    ]
    assert order == sorted(order)


@settings(max_examples=120, deadline=None)
@given(portfolios())
def test_after_applying_every_fix_only_orphans_remain(portfolio):
    subs, rens = portfolio
    found = reconcile(subs, rens)
    fixed = reconcile(subs, apply_fixes(subs, rens, found))
    assert keys(fixed) == [k for k in keys(found) if k[0] == ORPHAN]
