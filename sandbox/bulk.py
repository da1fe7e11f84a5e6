"""Bulk API 2.0 query jobs, as simple-salesforce's `bulk2` client calls them.

    POST /services/data/vXX.X/jobs/query                 {"operation": "query", "query": SOQL}
         -> {"id", "state": "UploadComplete", "object", ...}
    GET  /services/data/vXX.X/jobs/query/{id}            -> "InProgress", then "JobComplete"
    GET  /services/data/vXX.X/jobs/query/{id}/results?maxRecords=n[&locator=L]
         -> CSV, headers Sforce-Locator (the next page's, "null" on the last)
            and Sforce-NumberOfRecords
    DELETE /services/data/vXX.X/jobs/query/{id}          -> 204

The query runs when the job is created (the sandbox's SQLite answers a
million rows in seconds); the first poll still answers InProgress so a
client's wait loop runs for real. CSV follows Salesforce's: a header of the
selected fields, booleans as true/false, nulls as empty cells.
"""

from __future__ import annotations

import csv
import io
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from sandbox.soql import SoqlError, parse
from sandbox.store import Store

MAX_JOBS = 20
"""Finished jobs kept for their results; older ones are forgotten."""


@dataclass
class BulkJob:
    id: str
    sobject: str
    fields: tuple[str, ...]
    rows: list[tuple[str, dict[str, Any]]]
    polls: int = 0


@dataclass
class BulkJobs:
    jobs: dict[str, BulkJob] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    created: int = 0
    """Jobs created (tests check which reads went through Bulk API 2.0)."""

    def add(self, job: BulkJob) -> None:
        with self.lock:
            self.jobs[job.id] = job
            self.created += 1
            while len(self.jobs) > MAX_JOBS:
                self.jobs.pop(next(iter(self.jobs)))

    def get(self, job_id: str) -> BulkJob | None:
        with self.lock:
            return self.jobs.get(job_id)

    def remove(self, job_id: str) -> bool:
        with self.lock:
            return self.jobs.pop(job_id, None) is not None


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse([{"errorCode": code, "message": message}], status_code=status)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _job_info(job: BulkJob, version: str, state: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "id": job.id,
        "operation": "query",
        "object": job.sobject,
        "state": state,
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": float(version),
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    if state == "JobComplete":
        info["numberRecordsProcessed"] = len(job.rows)
    return info


def add_bulk_routes(app: FastAPI, store: Store, jobs: BulkJobs) -> None:
    """Mount the query job endpoints on the Salesforce app (behind its auth)."""
    base = "/services/data/v{version}/jobs/query"

    async def create(version: str, request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "JSON_PARSER_ERROR", "The request body is not JSON")
        if not isinstance(body, dict) or body.get("operation") not in ("query", "queryAll"):
            return _error(400, "INVALIDJOB", "operation must be query or queryAll")
        if body.get("columnDelimiter", "COMMA") != "COMMA" or body.get("lineEnding", "LF") != "LF":
            return _error(400, "INVALIDJOB", "the sandbox writes COMMA-delimited, LF-ended CSV")
        try:
            parsed = parse(str(body.get("query") or ""))
        except SoqlError as exc:
            return _error(400, exc.error_code, exc.message)
        if parsed.count:
            return _error(400, "INVALIDJOB", "COUNT() is not supported by Bulk API query jobs")
        job = BulkJob(
            id="750" + secrets.token_hex(8)[:15].upper(),
            sobject=parsed.sobject,
            fields=parsed.fields,
            rows=store.query(parsed),
        )
        jobs.add(job)
        return JSONResponse(_job_info(job, version, "UploadComplete"))

    def status(version: str, job_id: str) -> JSONResponse:
        job = jobs.get(job_id)
        if job is None:
            return _error(404, "NOT_FOUND", f"no query job {job_id}")
        job.polls += 1
        return JSONResponse(
            _job_info(job, version, "InProgress" if job.polls == 1 else "JobComplete")
        )

    def results(
        version: str, job_id: str, maxRecords: int = 50000, locator: str | None = None
    ) -> Response:
        job = jobs.get(job_id)
        if job is None:
            return _error(404, "NOT_FOUND", f"no query job {job_id}")
        if job.polls < 2:
            return _error(400, "INVALIDJOB", "the job is not complete: poll it until JobComplete")
        try:
            start = int(locator) if locator not in (None, "", "null") else 0
        except ValueError:
            return _error(400, "INVALIDLOCATOR", f"invalid locator: {locator}")
        if not 0 <= start <= len(job.rows) or maxRecords < 1:
            return _error(400, "INVALIDLOCATOR", f"invalid locator or maxRecords: {locator}")
        page = job.rows[start : start + maxRecords]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(job.fields)
        writer.writerows([_cell(r.get(f)) for f in job.fields] for _, r in page)
        end = start + len(page)
        return Response(
            out.getvalue(),
            media_type="text/csv",
            headers={
                "Sforce-Locator": str(end) if end < len(job.rows) else "null",
                "Sforce-NumberOfRecords": str(len(page)),
            },
        )

    def delete(version: str, job_id: str) -> Response:
        if not jobs.remove(job_id):
            return _error(404, "NOT_FOUND", f"no query job {job_id}")
        return Response(status_code=204)

    for path in (base, base + "/"):
        app.add_api_route(path, create, methods=["POST"])
    app.add_api_route(base + "/{job_id}", status, methods=["GET"])
    app.add_api_route(base + "/{job_id}", delete, methods=["DELETE"])
    app.add_api_route(base + "/{job_id}/results", results, methods=["GET"])
