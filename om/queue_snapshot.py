"""One listing of the open reviews, shared by every queue request of a process.

Listing the queue from visibility costs about a millisecond per open review
on the dev server's SQLite store (3.6 s for a region's 3,334 rows with
10,000 parked), and SQL visibility cannot sort by our priority, so no page of
it is "the top 50". The API and the console therefore serve the queue from a
snapshot of every open review, listed at most once per `max_age` seconds
however many specialists read it, and filter, sort and count SLA time in
memory for each request.

Freshness is bounded, stated, and read-your-writes holds for this process:
- a snapshot younger than `max_age` is served as it is (longer when listing
  is slow: see LISTING_DUTY_FACTOR);
- a request finding it older starts a listing and waits for it when listing
  is quick (the last one took at most WAIT_FOR_LISTING_SECONDS, as on any
  queue of hundreds), so a small queue is never served older than `max_age`;
  a large queue's request is answered from the old listing meanwhile, and
  says so (`age_seconds`, `stale`: the API's headers and the console's
  hint), up to `stale_limit`; a request finding it older than that (or none
  yet) waits for the listing;
- a decision sent through this process drops its row at once (`forget`),
  also from a listing already under way or begun within the visibility lag;
  it and a submission (`changed`) make the next requests refresh until a
  listing began after visibility caught up, so the new state shows within
  a listing's time rather than `max_age` (on a small queue).
`max_age=0` turns the snapshot off: every request lists.

The API also keeps it warm (`keep_warm`): a new listing begins shortly
before the served one is `refresh_after` old, so a request rarely finds it
out of date and then waits only for the rest of a listing under way; the
first request of the day or after a quiet spell does not wait either. On a
small queue that is a listing of milliseconds every few seconds; at 10,000
open reviews one listing (about 8 s of the server's time) per 30-odd
seconds and API process (LISTING_DUTY_FACTOR).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from domain.models import Region
from domain.queue import CoverRule, QueueItem, for_region

Loader = Callable[[], Awaitable[list[QueueItem]]]
log = logging.getLogger(__name__)
WAIT_FOR_LISTING_SECONDS = 0.5
"""A request finding the listing out of date waits for a new one when the
last listing took at most this long (and at most this long for it)."""
LISTING_DUTY_FACTOR = 4.0
"""A listing is refreshed no sooner than this many times its own duration
after it began: the server spends at most a quarter of its time listing for
one API process, however large the queue (at 10,000 open reviews a listing
takes about 8 s, so it is refreshed every 30-odd seconds, not every 5)."""
VISIBILITY_LAG_SECONDS = 2.0
"""How long after a decision a listing may still show the row as it was:
visibility is updated asynchronously from the workflow's history."""


class QueueSnapshot:
    """Every open review as last listed, and when."""

    def __init__(
        self,
        max_age: float,
        stale_limit: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age = max_age
        self.stale_limit = max(stale_limit, max_age)
        self._clock = clock
        self._rows: list[QueueItem] | None = None
        self._listed_at = 0.0  # clock() when the listing in _rows began
        self._listing_seconds = 0.0  # how long that listing took
        self.listed_at: datetime | None = None
        """Wall time the served listing began, for the `X-Queue-Listed-At` header."""
        self._refreshing: asyncio.Task[None] | None = None
        self._forgotten: dict[str, float] = {}
        self._views: dict[tuple[int, Region | None, tuple[str | None, ...]], list[QueueItem]] = {}
        self._generation = 0  # bumped whenever _rows changes
        self._settled_at = 0.0
        """clock() from which visibility shows this process's last write."""

    @property
    def enabled(self) -> bool:
        return self.max_age > 0

    @property
    def _duty_pause(self) -> float:
        return LISTING_DUTY_FACTOR * self._listing_seconds

    @property
    def refresh_after(self) -> float:
        """Age from which a listing is replaced: `max_age`, or longer when
        listing is slow (LISTING_DUTY_FACTOR)."""
        return max(self.max_age, self._duty_pause)

    @property
    def effective_stale_limit(self) -> float:
        """Age past which a listing is not served; room for two refreshes."""
        return max(self.stale_limit, self.refresh_after + 2 * self._listing_seconds)

    def age_seconds(self) -> float:
        """How old the listing last served is (0 with the snapshot off)."""
        if not self.enabled or self._rows is None:
            return 0.0
        return max(0.0, self._clock() - self._listed_at)

    @property
    def stale(self) -> bool:
        """The rows last served are older than promised (`max_age`), or began
        before this process's last write was visible: a fresh listing is
        under way, and the caller must say how old the rows are."""
        if not self.enabled or self._rows is None:
            return False
        return self.age_seconds() > self.refresh_after or self._listed_at < self._settled_at

    async def items(
        self, region: Region | None, load: Loader, cover: CoverRule | None = None
    ) -> list[QueueItem]:
        """The open reviews `region` sees (all when None), in priority order;
        `cover` says which home regions any region may cover now."""
        if not self.enabled:
            self.listed_at = datetime.now(UTC)
            return for_region(await load(), region, cover)
        age = self._clock() - self._listed_at
        if self._rows is None or age > self.effective_stale_limit:
            await self._refresh(load)
        elif age > self.refresh_after or (
            self._listed_at < self._settled_at and age >= self._duty_pause
        ):
            self._refresh_in_background(load)
            if self._listing_seconds <= WAIT_FOR_LISTING_SECONDS and self._refreshing:
                # Quick listings are waited for: the answer is then current.
                # A failure or a slow one leaves the old rows, served as stale.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        asyncio.shield(self._refreshing), WAIT_FOR_LISTING_SECONDS
                    )
        assert self._rows is not None
        return self._for_region(region, cover)

    def _for_region(self, region: Region | None, cover: CoverRule | None) -> list[QueueItem]:
        """`for_region` of the current listing, remembered until the listing
        or the cover windows change: on a cover day a region's queue is every
        open review, and copying and sorting 10,000 rows per request cost
        more than answering; the same row objects also let the answer reuse
        what it formatted for them before."""
        assert self._rows is not None
        reasons = tuple(cover(r) if cover else None for r in Region)
        key = (self._generation, region, reasons)
        found = self._views.get(key)
        if found is None:
            if len(self._views) > 16 or any(k[0] != self._generation for k in self._views):
                self._views.clear()
            found = self._views[key] = for_region(self._rows, region, cover)
        return found

    def changed(self) -> None:
        """Something this process did (a submission) changes the queue: list
        again on the next requests, as often as LISTING_DUTY_FACTOR allows,
        until a listing began after visibility caught up with it."""
        self._settled_at = max(self._settled_at, self._clock() + VISIBILITY_LAG_SECONDS)

    def forget(self, opportunity_id: str) -> None:
        """A decision on `opportunity_id` went through: its row is out of date."""
        if not self.enabled:
            return
        self._forgotten[opportunity_id] = self._clock()
        if self._rows is not None:
            self._rows = [r for r in self._rows if r.opportunity_id != opportunity_id]
            self._generation += 1
        self.changed()

    async def keep_warm(self, loader: Callable[[], Awaitable[Loader]]) -> None:
        """List again shortly before the served listing is `refresh_after`
        old (at least every `stale_limit / 2`), until cancelled, so requests
        seldom wait for a listing. `loader()` gives the listing function (it
        may connect first); failures are logged and tried again next time."""
        if not self.enabled:
            return
        # Submissions made just after start (the demo's, another process's)
        # may not be visible to the first listing: the next requests list again.
        self.changed()
        while True:
            try:
                await self._refresh(await loader())
            except Exception as exc:  # logged; a request past the limit sees it itself
                log.warning("queue listing failed (%s); served listings may be old", exc)
            await asyncio.sleep(self._warm_pause())

    def _warm_pause(self) -> float:
        """Seconds from the end of one background listing to the start of
        the next: the next one should be done before the served listing is
        `refresh_after` old (its age counts from when it began)."""
        if self._listing_seconds <= WAIT_FOR_LISTING_SECONDS:
            # Quick: requests would wait for it, so have it done in time.
            ahead = self.refresh_after - 2 * self._listing_seconds - WAIT_FOR_LISTING_SECONDS
            pause = max(ahead, self.refresh_after / 2)
        else:
            # Slow: requests are served the old one meanwhile (and told so);
            # begin when it is due, keeping the server's duty share.
            pause = self.refresh_after - self._listing_seconds
        return max(min(pause, self.stale_limit / 2), 0.001)

    async def close(self) -> None:
        """Stop a background listing (the app is shutting down)."""
        task, self._refreshing = self._refreshing, None
        if task is not None and not task.done():
            task.cancel()
            # Shutting down: a failed listing has no one left to tell.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ---- listing ------------------------------------------------------------

    def _refresh_in_background(self, load: Loader) -> None:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._list(load))
            self._refreshing.add_done_callback(_swallow)

    async def _refresh(self, load: Loader) -> None:
        """List now, or join the listing under way; its errors reach the caller."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._list(load))
        # shield: one caller giving up (a closed connection) does not cancel
        # the listing the others wait for.
        await asyncio.shield(self._refreshing)

    async def _list(self, load: Loader) -> None:
        began, began_wall = self._clock(), datetime.now(UTC)
        rows = await load()
        # Decisions made while the listing ran, or just before it began, may
        # not be in it yet: their rows stay out until a later listing.
        since = began - VISIBILITY_LAG_SECONDS
        self._forgotten = {i: t for i, t in self._forgotten.items() if t >= since}
        self._rows = [r for r in rows if r.opportunity_id not in self._forgotten]
        self._generation += 1
        self._listed_at, self.listed_at = began, began_wall
        self._listing_seconds = self._clock() - began


def _swallow(task: asyncio.Task[None]) -> None:
    """A failed background listing leaves the previous snapshot in place; the
    next request past `stale_limit` lists again and sees the error itself."""
    if not task.cancelled():
        task.exception()
