"""The API's shared queue listing (om.queue_snapshot): how often it
lists, what it serves meanwhile, and that a decision's row goes at once."""

from __future__ import annotations

import asyncio

import pytest

from domain.models import Region
from domain.queue import QueueItem, for_region
from om.queue_snapshot import VISIBILITY_LAG_SECONDS, QueueSnapshot


def item(opportunity_id: str, queue_region: Region, priority: str, **changes) -> QueueItem:  # type: ignore[no-untyped-def]
    return QueueItem(
        opportunity_id=opportunity_id,
        stage=changes.pop("stage", "om_review"),
        region=changes.pop("region", queue_region),
        queue_region=queue_region,
        priority=priority,
        **changes,
    )


class Visibility:
    """A loader that counts listings and can be held mid-listing."""

    def __init__(self, rows: list[QueueItem]) -> None:
        self.rows = rows
        self.listings = 0
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None

    async def __call__(self) -> list[QueueItem]:
        self.listings += 1
        rows = list(self.rows)  # what visibility held when the listing began
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return rows


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


AMER_ROWS = [
    item("B", Region.AMER, "1|b"),
    item("A", Region.AMER, "0|a", urgent=True),
    item("E", Region.EMEA, "1|e"),
    item("X", Region.EMEA, "1|x", breached=True),
    item("C", Region.AMER, "1|c", stage="closed_won"),
]


def test_for_region_is_the_queue_rule_applied_in_memory():
    assert [i.opportunity_id for i in for_region(AMER_ROWS, None)] == ["A", "B", "E", "X"]
    amer = for_region(AMER_ROWS, Region.AMER)
    assert [(i.opportunity_id, i.cover) for i in amer] == [("A", False), ("B", False), ("X", True)]
    emea = for_region(AMER_ROWS, Region.EMEA)
    assert [(i.opportunity_id, i.cover) for i in emea] == [("E", False), ("X", False)]
    assert not AMER_ROWS[3].cover  # the listing itself is not changed


async def test_requests_within_max_age_share_one_listing():
    clock, visibility = Clock(), Visibility(AMER_ROWS)
    snapshot = QueueSnapshot(max_age=5, clock=clock)
    first = await snapshot.items(Region.AMER, visibility)
    clock.now += 4
    again = await snapshot.items(Region.EMEA, visibility)
    assert visibility.listings == 1
    assert [i.opportunity_id for i in first] == ["A", "B", "X"]
    assert [i.opportunity_id for i in again] == ["E", "X"]
    assert snapshot.listed_at is not None


async def test_concurrent_first_requests_wait_for_one_listing():
    visibility = Visibility(AMER_ROWS)
    visibility.gate = asyncio.Event()
    snapshot = QueueSnapshot(max_age=5, clock=Clock())
    waiting = [asyncio.create_task(snapshot.items(None, visibility)) for _ in range(20)]
    await asyncio.sleep(0)
    visibility.gate.set()
    results = await asyncio.gather(*waiting)
    assert visibility.listings == 1 and all(len(r) == 4 for r in results)


async def test_an_old_snapshot_is_refreshed_first_when_listing_is_quick():
    """A small queue lists in milliseconds: a request finding the listing
    older than max_age waits for a new one and is served current rows."""
    clock, visibility = Clock(), Visibility(AMER_ROWS[:2])
    snapshot = QueueSnapshot(max_age=5, stale_limit=60, clock=clock)
    await snapshot.items(None, visibility)
    visibility.rows = AMER_ROWS
    clock.now += 6
    assert snapshot.stale and snapshot.age_seconds() == 6
    assert len(await snapshot.items(None, visibility)) == 4
    assert visibility.listings == 2
    assert not snapshot.stale and snapshot.age_seconds() == 0


async def test_a_slow_listing_serves_the_old_snapshot_and_says_how_old():
    """At thousands of rows a listing takes seconds: requests are answered
    from the old listing while one refreshes it, flagged stale with its age."""
    clock, visibility = Clock(), Visibility(AMER_ROWS[:2])

    async def slow() -> list[QueueItem]:
        rows = await visibility()
        clock.now += 8  # this listing took 8 s
        return rows

    snapshot = QueueSnapshot(max_age=5, stale_limit=120, clock=clock)
    await snapshot.items(None, slow)
    visibility.rows = AMER_ROWS
    visibility.gate = asyncio.Event()
    clock.now += 30  # 38 s after it began: past 4 x 8 s
    served = [await snapshot.items(None, slow) for _ in range(3)]
    assert all(len(s) == 2 for s in served)  # the old listing, at once
    assert snapshot.stale and snapshot.age_seconds() == 38
    await asyncio.sleep(0)
    assert visibility.listings == 2  # one refresh for the three requests
    visibility.gate.set()
    await asyncio.sleep(0)
    assert len(await snapshot.items(None, slow)) == 4
    assert not snapshot.stale


async def test_the_first_listing_after_start_is_not_served_as_current():
    """Submissions made just after start may not be in the first listing:
    it is flagged stale and the next request lists again."""
    clock, visibility = Clock(), Visibility(AMER_ROWS[:2])
    snapshot = QueueSnapshot(max_age=5, stale_limit=60, clock=clock)

    async def loader():  # type: ignore[no-untyped-def]
        return visibility

    warm = asyncio.create_task(snapshot.keep_warm(loader))
    while visibility.listings == 0:
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert snapshot.stale  # listed within the visibility lag of start
    visibility.rows = AMER_ROWS  # the demo's submissions become visible
    clock.now += VISIBILITY_LAG_SECONDS + 0.1
    assert len(await snapshot.items(None, visibility)) == 4
    assert not snapshot.stale
    warm.cancel()
    await snapshot.close()


async def test_cover_windows_list_other_regions_reviews_with_the_reason():
    clock, visibility = Clock(), Visibility(AMER_ROWS)
    snapshot = QueueSnapshot(max_age=5, clock=clock)
    month_end = {Region.EMEA: "end of month cover"}
    amer = await snapshot.items(Region.AMER, visibility, month_end.get)
    assert [(i.opportunity_id, i.cover_reason) for i in amer] == [
        ("A", None),
        ("B", None),
        ("E", "end of month cover"),
        ("X", "SLA breached: escalated to every region"),
    ]


async def test_past_the_stale_limit_a_request_waits_and_sees_the_error():
    clock, visibility = Clock(), Visibility(AMER_ROWS)
    snapshot = QueueSnapshot(max_age=5, stale_limit=60, clock=clock)
    await snapshot.items(None, visibility)
    clock.now += 61
    visibility.fail = ConnectionError("visibility down")
    with pytest.raises(ConnectionError):
        await snapshot.items(None, visibility)
    visibility.fail = None
    assert len(await snapshot.items(None, visibility)) == 4


async def test_a_failed_background_listing_keeps_the_old_snapshot():
    clock, visibility = Clock(), Visibility(AMER_ROWS)
    snapshot = QueueSnapshot(max_age=5, clock=clock)
    await snapshot.items(None, visibility)
    clock.now += 6
    visibility.fail = ConnectionError("visibility down")
    assert len(await snapshot.items(None, visibility)) == 4
    await asyncio.sleep(0)
    assert len(await snapshot.items(None, visibility)) == 4


async def test_a_decision_drops_its_row_also_from_a_listing_under_way():
    clock, visibility = Clock(), Visibility(AMER_ROWS)
    snapshot = QueueSnapshot(max_age=5, clock=clock)
    await snapshot.items(None, visibility)
    clock.now += 6
    visibility.gate = asyncio.Event()
    await snapshot.items(None, visibility)  # starts a background listing, still held
    clock.now += 0.5
    snapshot.forget("A")  # decided while visibility still lists it
    assert "A" not in {i.opportunity_id for i in await snapshot.items(None, visibility)}
    visibility.gate.set()
    await asyncio.sleep(0)
    assert "A" not in {i.opportunity_id for i in await snapshot.items(None, visibility)}

    # Once the visibility lag has passed, a new listing shows its next state.
    visibility.gate = None
    visibility.rows = [r for r in AMER_ROWS if r.opportunity_id != "A"] + [
        item("A", Region.AMER, "0|a", stage="finance_review")
    ]
    clock.now += VISIBILITY_LAG_SECONDS + 6
    await snapshot.items(None, visibility)
    await asyncio.sleep(0)
    rows = {i.opportunity_id: i.stage for i in await snapshot.items(None, visibility)}
    assert rows["A"] == "finance_review"


async def test_a_decision_asks_for_a_refresh_before_max_age():
    clock, visibility = Clock(), Visibility(AMER_ROWS)
    snapshot = QueueSnapshot(max_age=5, clock=clock)
    await snapshot.items(None, visibility)
    snapshot.forget("B")
    await snapshot.items(None, visibility)
    await asyncio.sleep(0)
    assert visibility.listings == 2


async def test_max_age_zero_lists_on_every_request():
    visibility = Visibility(AMER_ROWS)
    snapshot = QueueSnapshot(max_age=0, clock=Clock())
    for _ in range(3):
        await snapshot.items(Region.AMER, visibility)
    snapshot.forget("A")  # nothing kept, nothing to drop
    assert visibility.listings == 3
    assert len(await snapshot.items(Region.AMER, visibility)) == 3


async def test_close_cancels_a_background_listing():
    clock, visibility = Clock(), Visibility(AMER_ROWS)
    snapshot = QueueSnapshot(max_age=5, clock=clock)
    await snapshot.items(None, visibility)
    clock.now += 6
    visibility.gate = asyncio.Event()
    await snapshot.items(None, visibility)
    await snapshot.close()
    assert snapshot._refreshing is None


async def test_keep_warm_lists_on_start_and_then_before_max_age(caplog):
    visibility = Visibility(AMER_ROWS)
    snapshot = QueueSnapshot(max_age=0.01, stale_limit=0.1)
    calls = 0

    async def loader():  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("temporal is restarting")
        return visibility

    warm = asyncio.create_task(snapshot.keep_warm(loader))
    await asyncio.sleep(0.01)
    assert visibility.listings == 1  # warm before any request
    await asyncio.sleep(0.18)
    warm.cancel()
    assert visibility.listings >= 2 and calls >= 3  # went on after the failure
    assert "temporal is restarting" in caplog.text


def test_the_background_listing_is_done_before_the_served_one_is_out_of_date():
    clock = Clock()
    snapshot = QueueSnapshot(max_age=5, stale_limit=60, clock=clock)
    snapshot._listing_seconds = 0.2  # a small queue
    pause = snapshot._warm_pause()
    assert pause + 0.2 < 5 and pause >= 2.5  # listed about every max_age, not more often
    snapshot._listing_seconds = 8.0  # 10,000 open reviews: 4 x 8 s between listings
    assert snapshot.refresh_after == 32 and snapshot._warm_pause() == 24  # begins at 32 s


async def test_a_slow_listing_is_refreshed_less_often():
    """At 10,000 open reviews a listing takes seconds of the server's time:
    refreshes keep at most a quarter of it (LISTING_DUTY_FACTOR), and own
    writes wait for that too."""
    clock, visibility = Clock(), Visibility(AMER_ROWS)

    async def slow() -> list[QueueItem]:
        rows = await visibility()
        clock.now += 8  # the listing took 8 s
        return rows

    snapshot = QueueSnapshot(max_age=5, stale_limit=60, clock=clock)
    await snapshot.items(None, slow)
    assert snapshot.refresh_after == 32
    clock.now += 10  # 18 s after the listing began: past max_age, not 4 x 8 s
    snapshot.changed()
    await snapshot.items(None, slow)
    await asyncio.sleep(0)
    assert visibility.listings == 1
    clock.now += 15  # 33 s
    await snapshot.items(None, slow)
    await asyncio.sleep(0)
    assert visibility.listings == 2


async def test_a_regions_view_is_reused_until_the_listing_or_cover_changes():
    clock, visibility = Clock(), Visibility(AMER_ROWS)
    snapshot = QueueSnapshot(max_age=5, clock=clock)
    first = await snapshot.items(Region.AMER, visibility)
    assert await snapshot.items(Region.AMER, visibility) is first  # no copy, no sort
    covered = await snapshot.items(Region.AMER, visibility, {Region.EMEA: "end of month cover"}.get)
    assert covered is not first and "E" in [i.opportunity_id for i in covered]
    snapshot.forget("A")
    assert [i.opportunity_id for i in await snapshot.items(Region.AMER, visibility)] == ["B", "X"]
    visibility.rows = AMER_ROWS[:1]
    clock.now += 6
    assert [i.opportunity_id for i in await snapshot.items(Region.AMER, visibility)] == ["B"]
