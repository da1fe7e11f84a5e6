"""The sandbox's state in SQLite (`<home>/sandbox.db`), so a restart keeps it.

One connection guarded by a lock serves every server thread: the sandbox's
load is a developer's and a test suite's, and one writer at a time is what
SQLite wants anyway. sObjects are stored as JSON documents; SOQL conditions
are translated to `json_extract` so ten thousand opportunities are filtered
inside SQLite instead of being decoded in Python.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from activities.salesforce_mapping import STANDARD_QUOTE, ObjectsMapping
from domain.models import Opportunity
from sandbox.schema import (
    CHILDREN,
    CLOSED_WON,
    derive_opportunity_flags,
    mapped_records,
    records_for,
    sf_datetime,
)
from sandbox.soql import Condition, Query

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sobjects (
    type TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (type, id));
CREATE INDEX IF NOT EXISTS sobjects_id ON sobjects (id);
CREATE INDEX IF NOT EXISTS feed_items_parent
    ON sobjects (json_extract(data, '$.ParentId')) WHERE type = 'FeedItem';
CREATE TABLE IF NOT EXISTS licenses (
    opportunity_id TEXT PRIMARY KEY, auto_deliver INTEGER NOT NULL DEFAULT 0,
    delivered_at TEXT, delivered_by TEXT);
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT UNIQUE, fingerprint TEXT,
    external_id TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tickets_external_id ON tickets (external_id);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT UNIQUE, channel TEXT NOT NULL,
    text TEXT NOT NULL, opportunity_id TEXT, received_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS notifications_opportunity ON notifications (opportunity_id);
CREATE TABLE IF NOT EXISTS field_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, write_id INTEGER NOT NULL,
    sobject TEXT NOT NULL, record_id TEXT NOT NULL, field TEXT NOT NULL,
    old_value TEXT, new_value TEXT, created_date TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS field_history_record ON field_history (record_id);
"""

# Like Salesforce field history tracking: a row per field whose value an
# update actually changed. Writing the same value again leaves no row, which
# is why a retried (idempotent) write shows up here exactly once.
_TRACKED_FIELDS = (
    "StageName",
    "Approval_Status__c",
    "OM_Record_Locked__c",
    "CloseDate",
    "License_Delivery_Date__c",
)

_NOTIFICATION_COLUMNS = (
    "id",
    "channel",
    "text",
    "opportunity_id",
    "idempotency_key",
    "received_at",
)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Zendesk and the license service speak ISO 8601 UTC with a Z."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _text(value: Any) -> str | None:
    """A field value as field history stores it (Salesforce shows text too)."""
    if value is None:
        return None
    return json.dumps(value) if isinstance(value, bool) else str(value)


class IdempotencyMismatch(Exception):
    """An Idempotency-Key reused with a different request body."""


class Store:
    """Thread-safe access to the sandbox database."""

    def __init__(
        self, path: Path, clock: Clock = utc_now, mapping: ObjectsMapping = STANDARD_QUOTE
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.clock = clock
        self.mapping = mapping
        """How seeded opportunities are stored in objects (the quote object,
        Contacts, Files) beside the submission JSON."""
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- meta -------------------------------------------------------------

    def meta(self, key: str, default: Callable[[], str]) -> str:
        """The stored value for `key`, storing `default()` the first time
        (tokens survive a restart so running workers keep working)."""
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            if row:
                return str(row[0])
            value = default()
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
            return value

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- sObjects ---------------------------------------------------------

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM sobjects WHERE type = ? AND id = ?", (sobject, record_id)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def sobject_of(self, record_id: str) -> str | None:
        """Which object an id belongs to, for checking references."""
        with self._lock:
            row = self._db.execute(
                "SELECT type FROM sobjects WHERE id = ?", (record_id,)
            ).fetchone()
        return str(row[0]) if row else None

    def count(self, sobject: str) -> int:
        with self._lock:
            return int(
                self._db.execute(
                    "SELECT COUNT(*) FROM sobjects WHERE type = ?", (sobject,)
                ).fetchone()[0]
            )

    def insert(self, sobject: str, record: dict[str, Any]) -> None:
        if sobject == "Opportunity":
            derive_opportunity_flags(record)
        with self._tx() as db:
            db.execute(
                "INSERT INTO sobjects (type, id, data) VALUES (?, ?, ?)",
                (sobject, record["Id"], json.dumps(record)),
            )

    def update(self, sobject: str, record_id: str, changes: dict[str, Any]) -> bool:
        """Apply `changes`; False when there is no such record.

        An Opportunity entering Closed Won delivers its license in the same
        transaction when the seed listed it in `delivered_licenses`: that is
        the "automation" the license review checks for.
        """
        with self._tx() as db:
            row = db.execute(
                "SELECT data FROM sobjects WHERE type = ? AND id = ?", (sobject, record_id)
            ).fetchone()
            if row is None:
                return False
            record = json.loads(row[0])
            was_won = record.get("StageName") == CLOSED_WON
            now = self.clock()
            write_id = db.execute(
                "SELECT COALESCE(MAX(write_id), 0) + 1 FROM field_history"
            ).fetchone()[0]
            db.executemany(
                "INSERT INTO field_history (write_id, sobject, record_id, field, old_value, "
                "new_value, created_date) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        write_id,
                        sobject,
                        record_id,
                        field,
                        _text(record.get(field)),
                        _text(value),
                        iso(now),
                    )
                    for field, value in changes.items()
                    if field in _TRACKED_FIELDS and record.get(field) != value
                ],
            )
            record.update(changes)
            if sobject == "Opportunity":
                derive_opportunity_flags(record)
            record["LastModifiedDate"] = sf_datetime(now)
            db.execute(
                "UPDATE sobjects SET data = ? WHERE type = ? AND id = ?",
                (json.dumps(record), sobject, record_id),
            )
            if sobject == "Opportunity" and not was_won and record.get("StageName") == CLOSED_WON:
                db.execute(
                    "UPDATE licenses SET delivered_at = ?, delivered_by = 'automation' "
                    "WHERE opportunity_id = ? AND auto_deliver = 1 "
                    "AND delivered_at IS NULL",
                    (iso(now), record_id),
                )
            return True

    def field_history(self, record_id: str) -> list[dict[str, Any]]:
        """The tracked field changes of one record, oldest first; rows left
        by the same update share a `write`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT write_id, field, old_value, new_value, created_date FROM field_history "
                "WHERE record_id = ? ORDER BY id",
                (record_id,),
            ).fetchall()
        return [
            {"write": w, "field": f, "old_value": old, "new_value": new, "created_date": at}
            for w, f, old, new, at in rows
        ]

    def query(self, query: Query) -> list[tuple[str, dict[str, Any]]]:
        """(Id, record) pairs matching `query`, the record holding only the
        selected fields."""
        # Field names come from the schema (parse() canonicalised them), so
        # they are safe to splice into JSON paths; values are bound.
        if query.count:
            return self._count_matching(query)
        sql = ["SELECT json_extract(data, '$.Id'"]
        sql += [f", '$.{field}'" for field in query.fields]
        sql.append(f") FROM sobjects WHERE type = '{query.sobject}'")
        rows = self._run(query, sql)
        if query.paths or query.children:
            with self._lock:
                for record_id, record in rows:
                    self._relate(query, record_id, record)
        return rows

    def _relate(self, query: Query, record_id: str, record: dict[str, Any]) -> None:
        """Add `query`'s dot paths (nested parent records, null when the lookup
        is empty) and subqueries (`{"totalSize", "done", "records"}`, null when
        nothing matches) to one selected record, as Salesforce answers them."""
        stored = self.get(query.sobject, record_id) or {}
        for path in query.paths:
            source, into = stored, record
            for relationship, lookup, _ in path[:-1]:
                parent_id = source.get(lookup)
                parent = self.get_any(parent_id) if isinstance(parent_id, str) else None
                if parent is None:
                    into[relationship] = None
                    break
                if not isinstance(into.get(relationship), dict):
                    into[relationship] = {"attributes": {"type": parent[0]}}
                source, into = parent[1], into[relationship]
            else:
                field = path[-1][1]
                into[field] = source.get(field)
        for relationship, lookup, sub in query.children:
            linked = Condition(lookup, "=", record_id)
            found = self.query(replace(sub, where=(*sub.where, linked)))
            record[relationship] = (
                {
                    "totalSize": len(found),
                    "done": True,
                    "records": [{"attributes": {"type": sub.sobject}, **r} for _, r in found],
                }
                if found
                else None
            )

    def get_any(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        """(sObject, record) of an id whatever its object: how a lookup is followed."""
        with self._lock:
            row = self._db.execute(
                "SELECT type, data FROM sobjects WHERE id = ?", (record_id,)
            ).fetchone()
        return (str(row[0]), json.loads(row[1])) if row else None

    def _count_matching(self, query: Query) -> list[tuple[str, dict[str, Any]]]:
        """`SELECT COUNT()`: as many (Id, {}) pairs as records match, counted in SQL."""
        sql = [f"SELECT COUNT(*) FROM (SELECT rowid FROM sobjects WHERE type = '{query.sobject}'"]
        tail, params = self._conditions(query)
        with self._lock:
            (total,) = self._db.execute("".join(sql) + tail + ")", params).fetchone()
        return [("", {})] * int(total)

    def _run(self, query: Query, sql: list[str]) -> list[tuple[str, dict[str, Any]]]:
        tail, params = self._conditions(query)
        with self._lock:
            rows = self._db.execute("".join(sql) + tail, params).fetchall()
        records = []
        for (packed,) in rows:
            record_id, *values = json.loads(packed)
            records.append((record_id, dict(zip(query.fields, values, strict=True))))
        return records

    @staticmethod
    def _conditions(query: Query) -> tuple[str, list[Any]]:
        """The WHERE, ORDER BY and LIMIT of `query` as SQL and its bound values."""
        sql: list[str] = []
        params: list[Any] = []
        for cond in query.where:
            expr = f"json_extract(data, '$.{cond.field}')"
            value = int(cond.value) if isinstance(cond.value, bool) else cond.value
            if cond.op in ("=", "!=") and value is None:
                sql.append(f" AND {expr} IS {'NOT ' if cond.op == '!=' else ''}NULL")
            elif cond.op == "!=":
                # SOQL's != also matches records where the field is null.
                sql.append(f" AND ({expr} IS NULL OR {expr} != ?)")
                params.append(value)
            elif cond.op in ("IN", "NOT IN"):
                values = [int(v) if isinstance(v, bool) else v for v in cond.value]
                present = [v for v in values if v is not None]
                listed = f"{expr} IN ({', '.join('?' for _ in present)})" if present else "0"
                # Like !=, NOT IN matches nulls unless null is in the list.
                null_listed = None in values
                if cond.op == "IN":
                    sql.append(
                        f" AND ({listed} OR {expr} IS NULL)" if null_listed else f" AND {listed}"
                    )
                elif null_listed:
                    sql.append(f" AND {expr} IS NOT NULL AND NOT ({listed})")
                else:
                    sql.append(f" AND ({expr} IS NULL OR NOT ({listed}))")
                params.extend(present)
            elif cond.op == "LIKE":
                sql.append(f" AND {expr} LIKE ? ESCAPE '\\'")
                params.append(value)
            else:
                sql.append(f" AND {expr} {cond.op} ?")
                params.append(value)
        if query.order_by:
            direction = "DESC" if query.descending else "ASC"
            sql.append(f" ORDER BY json_extract(data, '$.{query.order_by}') {direction}, rowid")
        else:
            sql.append(" ORDER BY rowid")
        if query.limit is not None:
            sql.append(" LIMIT ?")
            params.append(query.limit)
        return "".join(sql), params

    def list_opportunities(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Opportunity records without the bulky submission JSON, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT json_remove(data, '$.OM_Submission__c') FROM sobjects "
                "WHERE type = 'Opportunity' ORDER BY rowid DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def seed(
        self,
        opportunities: list[Opportunity],
        delivered_licenses: list[str],
        extra_records: list[tuple[str, dict[str, Any]]] = (),  # type: ignore[assignment]
    ) -> None:
        """Upsert every opportunity (with its Account and User) in its freshly
        submitted state, and mark which licenses automation delivers, in one
        transaction: a seed is stored whole or not at all. `extra_records`
        are (sObject, record) pairs upserted as given (subscriptions and
        renewal opportunities, see `sandbox.seed.renewal_records`); an
        Account they list is only inserted when none is stored yet."""
        stamp = sf_datetime(self.clock())
        auto = set(delivered_licenses)
        # Accounts and owners repeat across opportunities: write each once (last wins).
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for opportunity in opportunities:
            for sobject, record in records_for(opportunity, stamp).items():
                rows[(sobject, record["Id"])] = record
            for sobject, record in mapped_records(opportunity, stamp, self.mapping):
                key = (sobject, record["Id"])
                if sobject in ("Opportunity", "Account"):
                    rows[key].update(record)
                else:
                    rows[key] = record
        # A seeded opportunity's earlier quotes and Files are replaced, not kept.
        stale = [(child, lookup) for child, lookup in CHILDREN["Opportunity"].values()]
        placeholder_accounts = []
        for sobject, record in extra_records:
            if sobject == "Account":
                if (sobject, record["Id"]) not in rows:
                    placeholder_accounts.append((sobject, record["Id"], json.dumps(record)))
                continue
            if sobject == "Opportunity":
                derive_opportunity_flags(record)
            rows[(sobject, record["Id"])] = record
        with self._tx() as db:
            for child, lookup in stale:
                db.executemany(
                    f"DELETE FROM sobjects WHERE type = '{child}' "
                    f"AND json_extract(data, '$.{lookup}') = ?",
                    [(o.id,) for o in opportunities],
                )
            db.executemany(
                "INSERT INTO sobjects (type, id, data) VALUES (?, ?, ?) "
                "ON CONFLICT (type, id) DO NOTHING",
                placeholder_accounts,
            )
            db.executemany(
                "INSERT INTO sobjects (type, id, data) VALUES (?, ?, ?) "
                "ON CONFLICT (type, id) DO UPDATE SET data = json_set(excluded.data, "
                "'$.CreatedDate', json_extract(sobjects.data, '$.CreatedDate'))",
                [
                    (sobject, record_id, json.dumps(record))
                    for (sobject, record_id), record in rows.items()
                ],
            )
            for opportunity in opportunities:
                db.execute(
                    "INSERT INTO licenses (opportunity_id, auto_deliver) VALUES (?, ?) "
                    "ON CONFLICT (opportunity_id) DO UPDATE SET auto_deliver = "
                    "excluded.auto_deliver, delivered_at = NULL, delivered_by = NULL",
                    (opportunity.id, int(opportunity.id in auto)),
                )
            seeded = {o.id for o in opportunities}
            for opportunity_id in auto - seeded:
                db.execute(
                    "INSERT INTO licenses (opportunity_id, auto_deliver) VALUES (?, 1) "
                    "ON CONFLICT (opportunity_id) DO UPDATE SET auto_deliver = 1",
                    (opportunity_id,),
                )

    def ensure_objects(self) -> int:
        """Keep opportunities stored before this mapping was used (an older
        sandbox home, another mapping) readable by the `objects` source: write
        their quote, Contacts, Files and booking facts through `self.mapping`
        from their submission JSON, once per mapping. Approval state is not
        touched. Returns how many opportunities were filled in."""
        key = f"objects_mapping:{self.mapping.name}"
        with self._lock:
            done = self._db.execute("SELECT 1 FROM meta WHERE key = ?", (key,)).fetchone()
            if done:
                return 0
            rows = self._db.execute(
                "SELECT json_extract(data, '$.OM_Submission__c') FROM sobjects "
                "WHERE type = 'Opportunity' "
                "AND json_extract(data, '$.OM_Submission__c') IS NOT NULL"
            ).fetchall()
        stamp = sf_datetime(self.clock())
        filled = 0
        with self._tx() as db:
            for (raw,) in rows:
                try:
                    opportunity = Opportunity.model_validate_json(raw)
                except ValueError:
                    continue  # not a submission the rules could read either
                for sobject, record in mapped_records(opportunity, stamp, self.mapping):
                    if sobject in ("Opportunity", "Account"):
                        db.execute(
                            "UPDATE sobjects SET data = json_patch(data, ?) "
                            "WHERE type = ? AND id = ?",
                            (json.dumps(record), sobject, record["Id"]),
                        )
                    else:
                        db.execute(
                            "INSERT INTO sobjects (type, id, data) VALUES (?, ?, ?) "
                            "ON CONFLICT (type, id) DO UPDATE SET data = excluded.data",
                            (sobject, record["Id"], json.dumps(record)),
                        )
                filled += 1
            db.execute("INSERT INTO meta (key, value) VALUES (?, 'done')", (key,))
        return filled

    # -- licenses ---------------------------------------------------------

    def license(self, opportunity_id: str) -> dict[str, Any] | None:
        """The license status of a known opportunity, None for an unknown one."""
        with self._lock:
            if self.get("Opportunity", opportunity_id) is None:
                return None
            row = self._db.execute(
                "SELECT auto_deliver, delivered_at, delivered_by FROM licenses "
                "WHERE opportunity_id = ?",
                (opportunity_id,),
            ).fetchone()
        auto, delivered_at, delivered_by = row if row else (0, None, None)
        return {
            "opportunity_id": opportunity_id,
            "delivered": delivered_at is not None,
            "delivered_at": delivered_at,
            "delivered_by": delivered_by,
            "automation_delivers": bool(auto),
        }

    def deliver_license(self, opportunity_id: str) -> dict[str, Any] | None:
        """Deliver by hand (an admin, i.e. Support); delivering twice keeps the first moment."""
        with self._tx() as db:
            if self.get("Opportunity", opportunity_id) is None:
                return None
            db.execute(
                "INSERT INTO licenses (opportunity_id, delivered_at, delivered_by) "
                "VALUES (?, ?, 'admin') ON CONFLICT (opportunity_id) DO UPDATE SET "
                "delivered_at = COALESCE(licenses.delivered_at, excluded.delivered_at), "
                "delivered_by = COALESCE(licenses.delivered_by, excluded.delivered_by)",
                (opportunity_id, iso(self.clock())),
            )
        return self.license(opportunity_id)

    def known_opportunities(self, ids: list[str]) -> set[str]:
        with self._lock:
            return {i for i in ids if self.get("Opportunity", i) is not None}

    # -- support tickets --------------------------------------------------

    def create_ticket(
        self, ticket: dict[str, Any], idempotency_key: str | None, request_body: Any
    ) -> tuple[dict[str, Any], bool]:
        """Store a new ticket, or return the one created earlier under the same
        key (second value True). A key reused for a different request raises
        `IdempotencyMismatch`, as Zendesk does."""
        fingerprint = hashlib.sha256(json.dumps(request_body, sort_keys=True).encode()).hexdigest()
        with self._tx() as db:
            if idempotency_key:
                row = db.execute(
                    "SELECT data, fingerprint FROM tickets WHERE idempotency_key = ?",
                    (idempotency_key,),
                ).fetchone()
                if row:
                    if row[1] != fingerprint:
                        raise IdempotencyMismatch(idempotency_key)
                    return json.loads(row[0]), True
            cursor = db.execute(
                "INSERT INTO tickets (idempotency_key, fingerprint, external_id, data) "
                "VALUES (?, ?, ?, '{}')",
                (idempotency_key, fingerprint, ticket.get("external_id")),
            )
            ticket = {**ticket, "id": cursor.lastrowid}
            db.execute(
                "UPDATE tickets SET data = ? WHERE id = ?", (json.dumps(ticket), ticket["id"])
            )
            return ticket, False

    def get_ticket(self, ticket_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def save_ticket(self, ticket: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE tickets SET data = ? WHERE id = ?", (json.dumps(ticket), ticket["id"])
            )

    def tickets(self, external_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            if external_id is None:
                rows = self._db.execute(
                    "SELECT data FROM tickets ORDER BY id LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT data FROM tickets WHERE external_id = ? ORDER BY id LIMIT ?",
                    (external_id, limit),
                ).fetchall()
        return [json.loads(row[0]) for row in rows]

    # -- chat notifications ----------------------------------------------

    def add_notification(
        self, channel: str, text: str, opportunity_id: str | None, idempotency_key: str | None
    ) -> tuple[dict[str, Any], bool]:
        """Store a chat message, or return the one stored earlier under the same
        key (second value True) and store nothing: a retried post whose answer
        was lost must not show twice. Unlike tickets, a repeated key is never
        refused, whatever the body: a webhook only answers "ok"."""
        columns = ", ".join(_NOTIFICATION_COLUMNS)
        with self._tx() as db:
            if idempotency_key:
                row = db.execute(
                    f"SELECT {columns} FROM notifications WHERE idempotency_key = ?",
                    (idempotency_key,),
                ).fetchone()
                if row:
                    return dict(zip(_NOTIFICATION_COLUMNS, row, strict=True)), True
            cursor = db.execute(
                "INSERT INTO notifications "
                "(idempotency_key, channel, text, opportunity_id, received_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (idempotency_key, channel, text, opportunity_id, iso(self.clock())),
            )
            row = db.execute(
                f"SELECT {columns} FROM notifications WHERE id = ?", (cursor.lastrowid,)
            ).fetchone()
            return dict(zip(_NOTIFICATION_COLUMNS, row, strict=True)), False

    def notifications(
        self, opportunity_id: str | None = None, channel: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """The latest `limit` messages matching the filters, newest last (chat order)."""
        sql = f"SELECT {', '.join(_NOTIFICATION_COLUMNS)} FROM notifications WHERE 1 = 1"
        params: list[Any] = []
        if opportunity_id is not None:
            sql += " AND opportunity_id = ?"
            params.append(opportunity_id)
        if channel is not None:
            sql += " AND channel = ?"
            params.append(channel)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [dict(zip(_NOTIFICATION_COLUMNS, row, strict=True)) for row in reversed(rows)]
