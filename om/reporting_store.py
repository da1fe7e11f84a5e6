"""The reporting store: workflow transitions, review rounds and CSAT responses
in any SQL database SQLAlchemy speaks (SQLite in `<home>/reporting.db` by
default; PostgreSQL in docker-compose via `OM_REPORTING_URL`).

Why a store of its own: the KPIs must not depend on the workflow (whose code
cannot change under running histories) nor query Temporal for every report.
The store is a projection of the event histories (om.reporting), so it
can be dropped and rebuilt at any time, and it is written idempotently:

* `transitions` is append-only, one row per fact the audit timeline reads
  from a history event, unique on (workflow_id, run_id, event_id, seq); `seq`
  tells apart the rare facts sharing an event (the pre-check marker that also
  rejects the round automatically). Projecting a history again adds only the
  events that are new.
* `rounds` holds one row per review round with its SLA figures, Billing's
  outcome and license delivery; a run's rounds are replaced as a whole each
  time it is projected, since a pending round's figures change until decided.
* `runs` remembers each projected run and whether its history had ended,
  so closed runs are not fetched again.
* `csat_responses` are keyed by (source, position): the SHA-256 of the
  imported file and the response's place in it, so importing the same file
  twice adds nothing.

SQLAlchemy Core, not the ORM: rows are plain values and the domain's
dataclasses (`domain.kpi.ReviewRound`, `CsatResponse`) are what callers get.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from domain.kpi import CsatAnswer, CsatResponse, ReviewRound
from domain.models import Region
from om.settings import Settings


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every database.

    SQLite keeps no offset: an aware datetime would be stored as its local
    wall-clock time and read back naive. Storing UTC and reading it back as
    UTC keeps comparisons and periods right whatever the database.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the reporting store keeps UTC instants")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

transitions = sa.Table(
    "transitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workflow_id", sa.String(255), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("event_id", sa.Integer, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False, default=0),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("opportunity_id", sa.String(64), nullable=False),
    sa.Column("region", sa.String(8), nullable=False),
    sa.Column("round", sa.Integer),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("role", sa.String(32)),
    sa.Column("actor_region", sa.String(32)),
    sa.Column("summary", sa.Text, nullable=False, default=""),
    sa.Column("data", sa.JSON, nullable=False),
    sa.UniqueConstraint("workflow_id", "run_id", "event_id", "seq", name="uq_transition_event"),
    sa.Index("ix_transitions_kind_at", "kind", "at"),
)

rounds = sa.Table(
    "rounds",
    metadata,
    sa.Column("workflow_id", sa.String(255), primary_key=True),
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("round", sa.Integer, primary_key=True),
    sa.Column("opportunity_id", sa.String(64), nullable=False),
    sa.Column("home_region", sa.String(8), nullable=False),
    sa.Column("assigned_region", sa.String(8)),
    sa.Column("clock_start", UtcDateTime),
    sa.Column("sla_deadline", UtcDateTime),
    sa.Column("outcome", sa.String(16)),
    sa.Column("decided_at", UtcDateTime),
    sa.Column("decided_by", sa.String(255)),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("business_seconds_to_decision", sa.Float),
    sa.Column("sla_met", sa.Boolean),
    sa.Column("breached", sa.Boolean, nullable=False, default=False),
    sa.Column("taken_because", sa.Text),
    sa.Column("finance_outcome", sa.String(16)),
    sa.Column("finance_decided_at", UtcDateTime),
    sa.Column("finance_decided_by", sa.String(255)),
    sa.Column("finance_reasons", sa.JSON, nullable=False),
    sa.Column("deployment", sa.String(32)),
    sa.Column("license_delivered_at", UtcDateTime),
    sa.Column("license_tickets", sa.Integer, nullable=False, default=0),
    sa.Column("overrides", sa.JSON),
    sa.Index("ix_rounds_clock_start", "clock_start"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("workflow_id", sa.String(255), primary_key=True),
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("opportunity_id", sa.String(64), nullable=False),
    sa.Column("region", sa.String(8), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("stage", sa.String(32)),
    sa.Column("event_count", sa.Integer, nullable=False),
    sa.Column("projected_at", UtcDateTime, nullable=False),
)

csat_responses = sa.Table(
    "csat_responses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("region", sa.String(8), nullable=False),
    sa.Column("quarter", sa.String(16), nullable=False),
    sa.Column("response", sa.String(16), nullable=False),
    sa.Column("imported_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("source", "position", name="uq_csat_source_position"),
)


# The rounds with their reason lists as the database's JSON text: most are
# empty, and decoding 20,000 "[]" took a quarter report a third of its time.
# Likewise the instants as the database's text where it keeps text (SQLite):
# `datetime.fromisoformat` reads them several times faster than the generic
# DateTime processor, and a quarter report reads 60,000 of them.
_ROUNDS_QUERY = sa.select(
    *(
        sa.type_coerce(c, sa.Text).label(c.name)
        if c.name in ("reasons", "finance_reasons") or isinstance(c.type, UtcDateTime)
        else c
        for c in rounds.c
    )
)


def _instant(value: Any) -> datetime | None:
    """An instant read as text (SQLite: UTC without offset) or as a datetime
    (drivers that convert themselves), as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            # Stored as UTC without an offset: reading it with one is ten
            # times faster than `.replace(tzinfo=UTC)` afterwards.
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:  # text that carries its own offset
            value = datetime.fromisoformat(value)
    instant: datetime = value
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def _codes(value: Any) -> tuple[str, ...]:
    """A reason list read as JSON text (SQLite) or already decoded (drivers
    that decode JSON themselves, psycopg)."""
    if value is None or value == "[]":
        return ()
    return tuple(json.loads(value) if isinstance(value, str) else value)


@dataclass(frozen=True)
class Transition:
    """One fact of a run's history, as the audit timeline reads it."""

    event_id: int
    at: datetime
    kind: str
    actor: str
    seq: int = 0
    round: int | None = None
    role: str | None = None
    actor_region: str | None = None
    summary: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunFacts:
    """What identifies a projected run and how far its history went."""

    workflow_id: str
    run_id: str
    opportunity_id: str
    region: Region
    status: str
    stage: str | None
    event_count: int


def reporting_url(settings: Settings) -> str:
    """The store's SQLAlchemy URL: `settings.reporting_url`
    (`OM_REPORTING_URL`), else SQLite in the state folder."""
    return settings.reporting_url or f"sqlite:///{(settings.home / 'reporting.db').as_posix()}"


def _engine(url: str) -> Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            # One shared connection, or each thread would see its own empty database.
            return sa.create_engine(
                url, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        if not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url)
        sa.event.listen(engine, "connect", _sqlite_wal)
        return engine
    return sa.create_engine(url)


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    """WAL, so `om kpi` reads while a scheduled projection writes; and fsync at
    checkpoints rather than every commit (15 ms a run here): a crash may lose
    the last runs projected, never corrupt the file, and the next pass
    projects them again."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class ReportingStore:
    """The reporting tables behind one SQLAlchemy engine; creates them if missing."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        metadata.create_all(self.engine)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Add the nullable columns a store created by an earlier version lacks.

        `create_all` creates missing tables, never missing columns; the store
        is a projection, so a new column is only ever nullable and filled as
        histories are projected again."""
        inspector = sa.inspect(self.engine)
        with self.engine.begin() as conn:
            for table in metadata.sorted_tables:
                present = {c["name"] for c in inspector.get_columns(table.name)}
                for column in table.columns:
                    if column.name not in present and column.nullable:
                        kind = column.type.compile(dialect=self.engine.dialect)
                        conn.execute(
                            sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
                        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ReportingStore:
        return cls(reporting_url(settings))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ReportingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- projection ------------------------------------------------------------------

    def closed_runs(self) -> set[tuple[str, str]]:
        """(workflow_id, run_id) of the runs projected after their history ended."""
        query = sa.select(runs.c.workflow_id, runs.c.run_id).where(runs.c.status != "running")
        with self.engine.connect() as conn:
            return {(w, r) for w, r in conn.execute(query)}

    def record_run(
        self,
        run: RunFacts,
        facts: Sequence[Transition],
        review_rounds: Sequence[ReviewRound],
        now: datetime,
    ) -> int:
        """Append the run's new transitions, replace its rounds and remember the
        run, in one transaction. Returns how many transitions were new."""
        key = (transitions.c.workflow_id == run.workflow_id) & (transitions.c.run_id == run.run_id)
        with self.engine.begin() as conn:
            known = {
                (e, s)
                for e, s in conn.execute(
                    sa.select(transitions.c.event_id, transitions.c.seq).where(key)
                )
            }
            new = [t for t in facts if (t.event_id, t.seq) not in known]
            if new:
                conn.execute(transitions.insert(), [self._transition_row(run, t) for t in new])
            self._replace(conn, rounds, run, [self._round_row(run, r) for r in review_rounds])
            self._replace(
                conn,
                runs,
                run,
                [
                    {
                        "workflow_id": run.workflow_id,
                        "run_id": run.run_id,
                        "opportunity_id": run.opportunity_id,
                        "region": run.region.value,
                        "status": run.status,
                        "stage": run.stage,
                        "event_count": run.event_count,
                        "projected_at": now,
                    }
                ],
            )
        return len(new)

    @staticmethod
    def _replace(
        conn: Connection, table: sa.Table, run: RunFacts, rows: list[dict[str, Any]]
    ) -> None:
        conn.execute(
            table.delete().where(
                (table.c.workflow_id == run.workflow_id) & (table.c.run_id == run.run_id)
            )
        )
        if rows:
            conn.execute(table.insert(), rows)

    @staticmethod
    def _transition_row(run: RunFacts, t: Transition) -> dict[str, Any]:
        return {
            "workflow_id": run.workflow_id,
            "run_id": run.run_id,
            "event_id": t.event_id,
            "seq": t.seq,
            "at": t.at,
            "opportunity_id": run.opportunity_id,
            "region": run.region.value,
            "round": t.round,
            "kind": t.kind,
            "actor": t.actor,
            "role": t.role,
            "actor_region": t.actor_region,
            "summary": t.summary,
            "data": t.data,
        }

    @staticmethod
    def _round_row(run: RunFacts, r: ReviewRound) -> dict[str, Any]:
        return {
            "workflow_id": run.workflow_id,
            "run_id": run.run_id,
            "round": r.round,
            "opportunity_id": r.opportunity_id,
            "home_region": r.home_region.value,
            "assigned_region": r.assigned_region.value if r.assigned_region else None,
            "clock_start": r.clock_start,
            "sla_deadline": r.sla_deadline,
            "outcome": r.outcome,
            "decided_at": r.decided_at,
            "decided_by": r.decided_by,
            "reasons": list(r.reasons),
            "business_seconds_to_decision": r.business_seconds_to_decision,
            "sla_met": r.sla_met,
            "breached": r.breached,
            "taken_because": r.taken_because,
            "finance_outcome": r.finance_outcome,
            "finance_decided_at": r.finance_decided_at,
            "finance_decided_by": r.finance_decided_by,
            "finance_reasons": list(r.finance_reasons),
            "deployment": r.deployment,
            "license_delivered_at": r.license_delivered_at,
            "license_tickets": r.license_tickets,
            "overrides": list(r.overrides),
        }

    # ---- reading ---------------------------------------------------------------------

    def review_rounds(
        self,
        start: date | None = None,
        end: date | None = None,
        region: Region | None = None,
    ) -> list[ReviewRound]:
        """The rounds whose clock started around [start, end] (a day's margin
        each side: the exact period, by local date, is `domain.kpi.rounds_in`'s
        to decide), of `region` when given."""
        query = _ROUNDS_QUERY
        if start is not None:
            since = datetime.combine(start, time(0), tzinfo=UTC) - timedelta(days=1)
            query = query.where(rounds.c.clock_start >= since)
        if end is not None:
            until = datetime.combine(end, time(0), tzinfo=UTC) + timedelta(days=2)
            query = query.where(rounds.c.clock_start < until)
        if region is not None:
            query = query.where(rounds.c.home_region == region.value)
        query = query.order_by(rounds.c.clock_start, rounds.c.workflow_id, rounds.c.round)
        with self.engine.connect() as conn:
            return [self._review_round(row._mapping) for row in conn.execute(query).all()]

    def open_rounds(self, region: Region | None = None) -> list[ReviewRound]:
        """The rounds waiting for Order Management now (no outcome), of any period."""
        query = _ROUNDS_QUERY.where(rounds.c.outcome.is_(None))
        if region is not None:
            query = query.where(rounds.c.home_region == region.value)
        query = query.order_by(rounds.c.clock_start, rounds.c.workflow_id, rounds.c.round)
        with self.engine.connect() as conn:
            return [self._review_round(row._mapping) for row in conn.execute(query).all()]

    def decided_rounds(
        self, start: date | None = None, end: date | None = None, region: Region | None = None
    ) -> list[ReviewRound]:
        """The decided rounds around [start, end] (as `review_rounds`) with only
        what the SLA needs (clock, decision, recorded verdict and business
        time): the simulator reads 100,000 of them."""
        c = rounds.c
        query = sa.select(
            c.opportunity_id,
            c.round,
            c.home_region,
            sa.type_coerce(c.clock_start, sa.Text),
            sa.type_coerce(c.sla_deadline, sa.Text),
            c.outcome,
            sa.type_coerce(c.decided_at, sa.Text),
            c.business_seconds_to_decision,
            c.sla_met,
        ).where(c.outcome.in_(("approved", "rejected")))
        if start is not None:
            query = query.where(
                c.clock_start >= datetime.combine(start, time(0), tzinfo=UTC) - timedelta(days=1)
            )
        if end is not None:
            query = query.where(
                c.clock_start < datetime.combine(end, time(0), tzinfo=UTC) + timedelta(days=2)
            )
        if region is not None:
            query = query.where(c.home_region == region.value)
        regions = {r.value: r for r in Region}
        with self.engine.connect() as conn:
            return [
                ReviewRound(
                    opportunity_id=o,
                    round=n,
                    home_region=regions[g],
                    clock_start=_instant(started),
                    sla_deadline=_instant(deadline),
                    outcome=outcome,
                    decided_at=_instant(decided),
                    business_seconds_to_decision=seconds,
                    sla_met=met,
                )
                for o, n, g, started, deadline, outcome, decided, seconds, met in conn.execute(
                    query
                ).all()
            ]

    @staticmethod
    def _review_round(row: Any) -> ReviewRound:
        assigned = row["assigned_region"]
        return ReviewRound(
            opportunity_id=row["opportunity_id"],
            round=row["round"],
            home_region=Region(row["home_region"]),
            assigned_region=Region(assigned) if assigned else None,
            clock_start=_instant(row["clock_start"]),
            sla_deadline=_instant(row["sla_deadline"]),
            outcome=row["outcome"],
            decided_at=_instant(row["decided_at"]),
            decided_by=row["decided_by"],
            reasons=_codes(row["reasons"]),
            business_seconds_to_decision=row["business_seconds_to_decision"],
            sla_met=row["sla_met"],
            breached=bool(row["breached"]),
            taken_because=row["taken_because"],
            finance_outcome=row["finance_outcome"],
            finance_decided_at=_instant(row["finance_decided_at"]),
            finance_decided_by=row["finance_decided_by"],
            finance_reasons=_codes(row["finance_reasons"]),
            deployment=row["deployment"],
            license_delivered_at=_instant(row["license_delivered_at"]),
            license_tickets=row["license_tickets"] or 0,
            overrides=tuple(row["overrides"] or ()),
        )

    # ---- CSAT ------------------------------------------------------------------------

    def add_csat(self, responses: Iterable[CsatResponse], source: str, now: datetime) -> int:
        """Store a file's responses, in file order (`source`: the file's SHA-256).
        Returns how many were new: a file imported again adds nothing."""
        rows = [
            {
                "source": source,
                "position": position,
                "region": r.region.value,
                "quarter": r.quarter,
                "response": r.answer.value,
                "imported_at": now,
            }
            for position, r in enumerate(responses, 1)
        ]
        with self.engine.begin() as conn:
            known = set(
                conn.scalars(
                    sa.select(csat_responses.c.position).where(csat_responses.c.source == source)
                )
            )
            new = [row for row in rows if row["position"] not in known]
            if new:
                conn.execute(csat_responses.insert(), new)
        return len(new)

    def csat(self) -> list[CsatResponse]:
        query = sa.select(
            csat_responses.c.region, csat_responses.c.quarter, csat_responses.c.response
        ).order_by(csat_responses.c.id)
        with self.engine.connect() as conn:
            return [
                CsatResponse(Region(region), quarter, CsatAnswer(response))
                for region, quarter, response in conn.execute(query)
            ]

    def report_transitions(
        self,
        since: datetime | None = None,
        opportunity_ids: Iterable[str] | None = None,
        om_actions: bool = True,
    ) -> list[tuple[Any, ...]]:
        """The transitions the manager's reports read (submissions, rep actions,
        Order Management actions, license tickets) from `since` on, oldest
        first, as (opportunity_id, round, kind, at, actor, role, data) rows;
        `data` holds only the fields the reports read (owner, urgent, update,
        cause), extracted by the database rather than decoded here.
        `om_actions=False` leaves out the Order Management actions (the
        simulator needs only submissions)."""
        t = transitions.c
        query = sa.select(
            t.opportunity_id,
            t.round,
            t.kind,
            sa.type_coerce(t.at, sa.Text),
            t.actor,
            t.role,
            t.data["owner"].as_string(),
            t.data["urgent"].as_boolean(),
            t.data["update"].as_string(),
            t.data["cause"].as_string(),
        ).where(
            t.kind.in_(("submitted", "rep_action", "ticket", "ticket_solved"))
            | ((t.role == "order_management") if om_actions else sa.false())
        )
        if since is not None:
            query = query.where(t.at >= since)
        if opportunity_ids is not None:
            query = query.where(t.opportunity_id.in_(list(opportunity_ids)))
        query = query.order_by(t.at, t.id)
        with self.engine.connect() as conn:
            return [
                (
                    *row[:3],
                    _instant(row[3]),
                    *row[4:6],
                    {"owner": row[6], "urgent": row[7], "update": row[8], "cause": row[9]},
                )
                for row in conn.execute(query).all()
            ]

    def count(self, table: str) -> int:
        """Rows in one of the store's tables (for reports and tests)."""
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(sa.func.count()).select_from(metadata.tables[table])) or 0
