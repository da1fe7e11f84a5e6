"""The Salesforce stand-in: the REST API as simple-salesforce calls it, over TLS.

    GET   /services/data/vXX.X/sobjects/{Object}/describe       -> the object's fields
    GET   /services/data/vXX.X/sobjects/{Object}/{Id}[?fields=A,B]
    PATCH /services/data/vXX.X/sobjects/{Object}/{Id}        -> 204
    POST  /services/data/vXX.X/sobjects/{Object}/            -> 201 {"id", "success", "errors"}
    GET   /services/data/vXX.X/query/?q=SOQL                 -> {"totalSize", "done", "records"}
    GET   /services/data/vXX.X/query/{cursor}                -> the next page of a query
    POST  /services/data/vXX.X/composite/sobjects            -> create up to 200 records
    POST  /services/oauth2/token                             -> JWT bearer sign-in (sandbox.oauth)
    PATCH /services/data/vXX.X/composite/sobjects            -> update up to 200 records
    POST  /services/data/vXX.X/jobs/query ...                -> Bulk API 2.0 jobs (sandbox.bulk)

Errors come in Salesforce's shape, a JSON list
`[{"message": ..., "errorCode": ..., "fields": [...]}]`: 404 NOT_FOUND,
400 INVALID_FIELD / MALFORMED_QUERY / JSON_PARSER_ERROR /
INVALID_CROSS_REFERENCE_KEY, 401 INVALID_SESSION_ID for a missing or wrong
bearer token. A query matching more than `state.query_page_size` records
(2000, like Salesforce's default batch) answers the first page with
`done: false` and a `nextRecordsUrl` (`.../query/<cursor>-<n>`); each GET of
it answers the next page, so simple-salesforce's `query_all_iter` pages for
real. The composite sObject collections answer one `{"id", "success",
"errors"}` per record, in order; with `allOrNone: false` (the default) each
record stands alone, with `allOrNone: true` nothing is written if any record
is refused. How a contract opportunity is stored in these objects is
documented in `sandbox.schema`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import date, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import RequestResponseEndpoint

from sandbox.bulk import add_bulk_routes
from sandbox.faults import injected
from sandbox.oauth import TOKEN_PATH, oauth_error, token_grant
from sandbox.schema import (
    CALCULATED,
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

COLLECTION_LIMIT = 200
"""Records per composite sObject collections call, as in Salesforce."""


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


def _soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


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
    if field in READ_ONLY or field in CALCULATED.get(sobject, ()):
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
    async def _faults_and_auth(request: Request, call_next: RequestResponseEndpoint) -> Response:
        fault = await injected(state.faults, "salesforce", request)
        if fault is not None:
            return error_response(
                fault.status, fault.code, f"Sandbox fault injection: {fault.code}"
            )
        if request.url.path == TOKEN_PATH:
            return await call_next(request)
        if bearer(request.headers.get("authorization")) != state.salesforce_session:
            return error_response(401, "INVALID_SESSION_ID", "Session expired or invalid")
        query = f"?{request.url.query}" if request.url.query else ""
        state.api_calls.append(f"{request.method} {request.url.path}{query}")
        return await call_next(request)

    def known_user(username: str) -> bool:
        app_user = state.connected_app
        if app_user is not None and username.lower() == app_user.username.lower():
            return True
        rows = store.query(
            parse(f"SELECT Id FROM User WHERE Email = {_soql_string(username)} AND IsActive = true")
        )
        return bool(rows)

    @app.post(TOKEN_PATH)
    async def oauth_token(request: Request) -> JSONResponse:
        if state.connected_app is None:
            return oauth_error("invalid_client_id", "client identifier invalid")
        answer = await token_grant(
            request, state.connected_app, known_user, state.salesforce_session, state.instance_url
        )
        if answer.status_code == 200:
            state.token_requests += 1
        return answer

    @app.get("/services/data/v{version}/sobjects/{name}/describe")
    @app.get("/services/data/v{version}/sobjects/{name}/describe/")
    def describe(version: str, name: str) -> JSONResponse:
        """The describe answer the doctor reads: name, type and the integration
        user's access per field. `state.schema_changes` ("Object.Field" ->
        a type, or None for absent) stands in for an org whose fields differ."""
        sobject = _sobject(name)
        fields = []
        for field, kind in SOBJECTS[sobject].items():
            key = f"{sobject}.{field}"
            if key in state.schema_changes:
                changed = state.schema_changes[key]
                if changed is None:
                    continue
                kind = changed  # type: ignore[assignment]
            writable = field not in READ_ONLY and field not in CALCULATED.get(sobject, ())
            fields.append(
                {
                    "name": field,
                    "type": kind,
                    "calculated": field in CALCULATED.get(sobject, ()),
                    "createable": writable,
                    "updateable": writable,
                    "nillable": field not in ("Id", *REQUIRED_ON_CREATE[sobject]),
                    "custom": field.endswith("__c"),
                }
            )
        return JSONResponse(
            {
                "name": sobject,
                "custom": sobject.endswith("__c"),
                "queryable": True,
                "createable": True,
                "updateable": True,
                "fields": fields,
                "urls": {"sobject": f"/services/data/v{version}/sobjects/{sobject}"},
            }
        )

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

    def new_record(sobject: str, body: dict[str, Any]) -> dict[str, Any]:
        """The record a create stores, checked field by field (SalesforceError)."""
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
        record: dict[str, Any] = {f: None for f in SOBJECTS[sobject]}
        if sobject == "FeedItem":
            record["Type"] = "TextPost"
        record.update(values)
        record.update({"Id": new_id(sobject), "CreatedDate": stamp, "LastModifiedDate": stamp})
        if sobject == "Opportunity":
            record["Marked_Duplicate__c"] = bool(record.get("Marked_Duplicate__c"))
        return record

    async def create_record(version: str, name: str, request: Request) -> JSONResponse:
        sobject = _sobject(name)
        record = new_record(sobject, await _json_object(request))
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
        if parsed.count:
            return JSONResponse({"totalSize": len(rows), "done": True, "records": []})
        return _page(version, parsed.sobject, rows, len(rows), secrets.token_hex(8), 0)

    def _page(
        version: str,
        sobject: str,
        rows: list[tuple[str, dict[str, Any]]],
        total: int,
        cursor: str,
        sent: int,
    ) -> JSONResponse:
        """One page of `rows`; the rest is kept under `cursor` for the next GET."""
        size = max(1, state.query_page_size)
        page, rest = rows[:size], rows[size:]
        records = [_with_attributes(sobject, rid, version, record) for rid, record in page]
        body: dict[str, Any] = {"totalSize": total, "done": not rest, "records": records}
        if rest:
            sent += len(page)
            with state.cursor_lock:
                state.query_cursors[f"{cursor}-{sent}"] = (sobject, rest, total)
                # Bound the memory of cursors nobody reads to the end.
                while len(state.query_cursors) > 100:
                    state.query_cursors.pop(next(iter(state.query_cursors)))
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{cursor}-{sent}"
        return JSONResponse(body)

    def query_more(version: str, locator: str) -> JSONResponse:
        with state.cursor_lock:
            held = state.query_cursors.pop(locator, None)
        if held is None:
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", f"invalid query locator: {locator}")
        sobject, rest, total = held
        cursor, _, sent = locator.rpartition("-")
        return _page(version, sobject, rest, total, cursor, int(sent))

    add_bulk_routes(app, store, state.bulk_jobs)

    for path in ("/services/data/v{version}/query/", "/services/data/v{version}/query"):
        app.add_api_route(path, query, methods=["GET"])
    app.add_api_route("/services/data/v{version}/query/{locator}", query_more, methods=["GET"])

    async def collection_records(request: Request) -> tuple[bool, list[dict[str, Any]]]:
        body = await _json_object(request)
        records = body.get("records")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "records must be a list of objects")
        if len(records) > COLLECTION_LIMIT:
            raise SalesforceError(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {COLLECTION_LIMIT} records "
                "into this call",
            )
        return bool(body.get("allOrNone", False)), records

    def _type_of(record: dict[str, Any]) -> str:
        attributes = record.pop("attributes", None)
        name = attributes.get("type") if isinstance(attributes, dict) else None
        if not isinstance(name, str):
            raise SalesforceError(
                400, "INVALID_TYPE", "Must send a concrete entity type (attributes.type)"
            )
        return _sobject(name)

    def _outcome(error: SalesforceError) -> dict[str, Any]:
        return {
            "id": None,
            "success": False,
            "errors": [
                {"statusCode": error.error_code, "message": error.message, "fields": error.fields}
            ],
        }

    def _rolled_back(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rolled = {
            "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "message": "Record rolled back because not all records were valid and the "
            "request was using AllOrNone header",
            "fields": [],
        }
        return [
            r if not r["success"] else {"id": r["id"], "success": False, "errors": [rolled]}
            for r in results
        ]

    async def collection_create(version: str, request: Request) -> JSONResponse:
        all_or_none, records = await collection_records(request)
        planned: list[tuple[str, dict[str, Any]] | None] = []
        results: list[dict[str, Any]] = []
        for raw in records:
            try:
                sobject = _type_of(dict(raw))
                body = {k: v for k, v in raw.items() if k != "attributes"}
                record = new_record(sobject, body)
            except SalesforceError as error:
                planned.append(None)
                results.append(_outcome(error))
                continue
            planned.append((sobject, record))
            results.append({"id": record["Id"], "success": True, "errors": []})
        if all_or_none and any(p is None for p in planned):
            return JSONResponse(_rolled_back(results))
        for item in planned:
            if item is not None:
                await asyncio.to_thread(store.insert, *item)
        return JSONResponse(results)

    async def collection_update(version: str, request: Request) -> JSONResponse:
        all_or_none, records = await collection_records(request)
        planned: list[tuple[str, str, dict[str, Any]] | None] = []
        results: list[dict[str, Any]] = []
        for raw in records:
            try:
                sobject = _type_of(dict(raw))
                record_id = raw.get("Id") or raw.get("id")
                if not isinstance(record_id, str) or store.get(sobject, record_id) is None:
                    raise SalesforceError(
                        404,
                        "ENTITY_IS_DELETED" if record_id else "MISSING_ARGUMENT",
                        f"entity is deleted or does not exist: {record_id}",
                    )
                changes = dict(
                    _coerce(state, sobject, key, value)
                    for key, value in raw.items()
                    if key not in ("attributes", "Id", "id")
                )
            except SalesforceError as error:
                planned.append(None)
                results.append(_outcome(error))
                continue
            planned.append((sobject, record_id, changes))
            results.append({"id": record_id, "success": True, "errors": []})
        if all_or_none and any(p is None for p in planned):
            return JSONResponse(_rolled_back(results))
        for item in planned:
            if item is not None:
                await asyncio.to_thread(store.update, *item)
        return JSONResponse(results)

    for path in (
        "/services/data/v{version}/composite/sobjects",
        "/services/data/v{version}/composite/sobjects/",
    ):
        app.add_api_route(path, collection_create, methods=["POST"])
        app.add_api_route(path, collection_update, methods=["PATCH"])

    return app
