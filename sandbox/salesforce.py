"""The Salesforce stand-in: the REST API as simple-salesforce calls it, over TLS.

    GET   /services/data/vXX.X/sobjects/{Object}/{Id}[?fields=A,B]
    PATCH /services/data/vXX.X/sobjects/{Object}/{Id}        -> 204
    POST  /services/data/vXX.X/sobjects/{Object}/            -> 201 {"id", "success", "errors"}
    GET   /services/data/vXX.X/query/?q=SOQL                 -> {"totalSize", "done", "records"}

Errors come in Salesforce's shape, a JSON list
`[{"message": ..., "errorCode": ..., "fields": [...]}]`: 404 NOT_FOUND,
400 INVALID_FIELD / MALFORMED_QUERY / JSON_PARSER_ERROR /
INVALID_CROSS_REFERENCE_KEY, 401 INVALID_SESSION_ID for a missing or wrong
bearer token. Queries return everything with `done: true` (no
nextRecordsUrl paging). How a contract opportunity is stored in these
objects is documented in `sandbox.schema`.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.faults import injected
from sandbox.schema import (
    READ_ONLY,
    REQUIRED_ON_CREATE,
    SOBJECTS,
    canonical_field,
    canonical_sobject,
    new_id,
    sf_datetime,
)
from sandbox.soql import SoqlError, parse
from sandbox.state import SandboxState, bearer


class SalesforceError(Exception):
    """An error answered in Salesforce's JSON list shape."""

    def __init__(
        self, status: int, error_code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.error_code, self.message = status, error_code, message
        self.fields = fields or []

    def response(self) -> JSONResponse:
        return error_response(self.status, self.error_code, self.message, self.fields)


def error_response(
    status: int, error_code: str, message: str, fields: list[str] | None = None
) -> JSONResponse:
    return JSONResponse(
        [{"message": message, "errorCode": error_code, "fields": fields or []}], status_code=status
    )


def _not_found() -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")


def _sobject(name: str) -> str:
    sobject = canonical_sobject(name)
    if sobject is None:
        raise SalesforceError(
            404,
            "NOT_FOUND",
            f"The requested resource does not exist: "
            f"sObject type '{name}' is not supported by the sandbox",
        )
    return sobject


def _with_attributes(
    sobject: str, record_id: str, version: str, record: dict[str, Any]
) -> dict[str, Any]:
    url = f"/services/data/v{version}/sobjects/{sobject}/{record_id}"
    return {"attributes": {"type": sobject, "url": url}, **record}


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise SalesforceError(
            400, "JSON_PARSER_ERROR", f"The request body is not JSON: {exc}"
        ) from exc
    if not isinstance(body, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return body


def _coerce(state: SandboxState, sobject: str, name: str, value: Any) -> tuple[str, Any]:
    """Check one written field the way Salesforce would; return its canonical name and value."""
    field = canonical_field(sobject, name)
    if field is None:
        raise SalesforceError(
            400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}", [name]
        )
    if field in READ_ONLY:
        raise SalesforceError(
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {field}. Please check the "
            "security settings of this field and verify that it is "
            "read/write for your profile or permission set.",
            [field],
        )
    if value is None:
        return field, None
    kind = SOBJECTS[sobject][field]
    problem = (
        f"Cannot deserialize instance of {kind} from {type(value).__name__} value "
        f"{json.dumps(value)} for field {field}"
    )
    if kind == "boolean":
        if not isinstance(value, bool):
            raise SalesforceError(400, "JSON_PARSER_ERROR", problem, [field])
    elif kind == "double":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SalesforceError(400, "JSON_PARSER_ERROR", problem, [field])
        value = float(value)
    elif not isinstance(value, str):
        raise SalesforceError(400, "JSON_PARSER_ERROR", problem, [field])
    elif kind == "date":
        try:
            value = date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise SalesforceError(400, "JSON_PARSER_ERROR", problem, [field]) from exc
    elif kind == "datetime":
        try:
            value = sf_datetime(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError as exc:
            raise SalesforceError(400, "JSON_PARSER_ERROR", problem, [field]) from exc
    elif kind == "reference" and state.store.sobject_of(value) is None:
        raise SalesforceError(
            400,
            "INVALID_CROSS_REFERENCE_KEY",
            f"invalid cross reference id: {field}={value}",
            [field],
        )
    return field, value


def create_salesforce_app(state: SandboxState) -> FastAPI:
    """The ASGI app; `state` is shared with the other stand-ins."""
    app = FastAPI(title="Salesforce sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    store = state.store

    @app.exception_handler(SalesforceError)
    async def _salesforce_error(_: Request, exc: SalesforceError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 405:
            return error_response(
                405,
                "METHOD_NOT_ALLOWED",
                "HTTP method not supported by the sandbox for this resource",
            )
        return _not_found().response()

    @app.middleware("http")
    async def _faults_and_auth(request: Request, call_next: Any) -> Response:
        fault = await injected(state.faults, "salesforce", request)
        if fault is not None:
            return error_response(
                fault.status, fault.code, f"Sandbox fault injection: {fault.code}"
            )
        if bearer(request.headers.get("authorization")) != state.session_id:
            return error_response(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return await call_next(request)

    @app.get("/services/data/v{version}/sobjects/{name}/{record_id}")
    def get_record(
        version: str, name: str, record_id: str, fields: str | None = None
    ) -> JSONResponse:
        sobject = _sobject(name)
        record = store.get(sobject, record_id)
        if record is None:
            raise _not_found()
        if fields:
            wanted = []
            for raw in fields.split(","):
                field = canonical_field(sobject, raw.strip())
                if field is None:
                    raise SalesforceError(
                        400,
                        "INVALID_FIELD",
                        f"No such column '{raw.strip()}' on entity '{sobject}'",
                        [raw.strip()],
                    )
                wanted.append(field)
            record = {f: record.get(f) for f in ["Id", *wanted]}
        return JSONResponse(_with_attributes(sobject, record_id, version, record))

    @app.patch("/services/data/v{version}/sobjects/{name}/{record_id}")
    async def update_record(version: str, name: str, record_id: str, request: Request) -> Response:
        sobject = _sobject(name)
        body = await _json_object(request)
        changes = dict(_coerce(state, sobject, key, value) for key, value in body.items())
        if not await asyncio.to_thread(store.update, sobject, record_id, changes):
            raise _not_found()
        return Response(status_code=204)

    async def create_record(version: str, name: str, request: Request) -> JSONResponse:
        sobject = _sobject(name)
        body = await _json_object(request)
        values = dict(_coerce(state, sobject, key, value) for key, value in body.items())
        missing = [f for f in REQUIRED_ON_CREATE[sobject] if values.get(f) in (None, "")]
        if missing:
            raise SalesforceError(
                400,
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        stamp = sf_datetime(store.clock())
        record = {f: None for f in SOBJECTS[sobject]}
        if sobject == "FeedItem":
            record["Type"] = "TextPost"
        record.update(values)
        record.update({"Id": new_id(sobject), "CreatedDate": stamp, "LastModifiedDate": stamp})
        await asyncio.to_thread(store.insert, sobject, record)
        return JSONResponse({"id": record["Id"], "success": True, "errors": []}, status_code=201)

    for path in (
        "/services/data/v{version}/sobjects/{name}/",
        "/services/data/v{version}/sobjects/{name}",
    ):
        app.add_api_route(path, create_record, methods=["POST"])

    def query(version: str, q: str | None = None) -> JSONResponse:
        if not q:
            raise SalesforceError(400, "MALFORMED_QUERY", "The query parameter q is missing")
        try:
            parsed = parse(q)
        except SoqlError as exc:
            raise SalesforceError(400, exc.error_code, exc.message) from exc
        rows = store.query(parsed)
        records = [
            _with_attributes(parsed.sobject, record_id, version, record)
            for record_id, record in rows
        ]
        return JSONResponse({"totalSize": len(records), "done": True, "records": records})

    for path in ("/services/data/v{version}/query/", "/services/data/v{version}/query"):
        app.add_api_route(path, query, methods=["GET"])

    return app
