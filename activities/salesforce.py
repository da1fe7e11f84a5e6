"""Salesforce adapter (simple-salesforce) and its Temporal activities.

Reading an opportunity has two sources (`settings.source`):

`objects` (the default) reads the org's own objects through
`settings.mapping` (`activities.salesforce_mapping`): one SOQL query for
the Opportunity, its Account and Owner (dot paths), its primary quote with
the quote's Contacts and its File links (subqueries), and one for the
Files' latest versions (`opportunity_soql`, `versions_soql`,
`objects_to_contract`).

`payload_field` inverts the storage mapping documented in `sandbox.schema`
(the one a submission Flow follows):

- the contract payload comes from the long-text JSON field
  `settings.fields.om_payload` (`OM_Submission__c`), written when the rep
  submits for approval;
- standard fields win over that JSON: Name, Amount, CurrencyIsoCode, Type
  (contract values or Salesforce's "New Business" / "Add-On Business" /
  "Renewal") and Urgent__c;
- `account` comes from the Account (Id, Name, BillingCountry, OM_Region__c)
  and `owner` from the User (Id, Name, Email).

Writes go through `settings.fields`, so a real org's custom field names are
configuration, not code. Every call is idempotent: updates set values, and
a Chatter post carries `[om:<idempotency key>]` so a retry finds the first
post instead of writing a second.
"""

from __future__ import annotations

import asyncio
import calendar
import csv
import fnmatch
import io
import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import jwt
import requests
from pydantic import ValidationError
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
)
from temporalio import activity

from activities.config import SalesforceSettings
from activities.errors import (
    AdapterError,
    AuthenticationFailed,
    InvalidOpportunityData,
    NotConfigured,
    OpportunityNotFound,
    RequestRejected,
    ServiceUnavailable,
    as_activity_errors,
)
from activities.salesforce_mapping import FileMatch, ObjectsMapping
from domain.messages import ActivityName, ChatterPost, CrmUpdate
from domain.models import Opportunity

T = TypeVar("T")

SERVICE = "salesforce"
REQUEST_TIMEOUT_SECONDS = 30.0
URGENT_FIELD = "Urgent__c"
REGION_FIELD = "OM_Region__c"
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{1,18}$")
_DEAL_TYPES = {
    "new business": "new_business",
    "add-on business": "add_on",
    "add-on": "add_on",
    "renewal": "renewal",
}


class _PinnedSession(requests.Session):
    """A session whose CA bundle and timeout apply to every request.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override
    `session.verify`, which would silently distrust the sandbox's CA on
    machines that set them; passing `verify` per request prevents that.
    """

    def __init__(self, ca_file: str | None, timeout: float) -> None:
        super().__init__()
        if ca_file:
            self.verify = ca_file
        self.timeout = timeout

    def request(
        self,
        method: str | bytes,
        url: str | bytes,
        *args: Any,
        **kwargs: Any,
    ) -> requests.Response:
        kwargs.setdefault("verify", self.verify)
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]


class LoginRoute(HTTPAdapter):
    """A transport adapter that sends the requests for one sign-in host to
    another address (an egress proxy, the local sandbox).

    Mounted on the session handed to simple-salesforce, so the library signs
    in exactly as against Salesforce (the JWT audience, the token URL's path
    and form) while the bytes go where `target` says.
    """

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target.rstrip("/")

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        parts = urlsplit(str(request.url))
        request.url = self.target + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, *args, **kwargs)


def login_domain(domain: str | None) -> str:
    """simple-salesforce's `domain` (the host is `https://<domain>.salesforce.com`)
    from the setting: login, test, a My Domain name (acme.my) or its full host
    or URL (https://acme.my.salesforce.com)."""
    value = (domain or "login").strip().lower()
    value = value.removeprefix("https://").removeprefix("http://").rstrip("/")
    return value.removesuffix(".salesforce.com") or "login"


_COUNT_FORM = re.compile(r"^\s*SELECT\s.+?\sFROM\s+", re.IGNORECASE | re.DOTALL)
_ORDER_BY = re.compile(r"\s+ORDER\s+BY\s+[\w.]+(\s+(ASC|DESC))?", re.IGNORECASE)
_FROM = re.compile(r"\sFROM\s+(\w+)", re.IGNORECASE)


def _text(value: str) -> str | None:
    return value if value != "" else None


def _boolean(value: str) -> bool | None:
    return None if value == "" else value.lower() == "true"


def _number(value: str) -> float | None:
    return None if value == "" else float(value)


_CSV_TYPES = {
    "boolean": _boolean,
    "double": _number,
    "currency": _number,
    "percent": _number,
    "int": _number,
}
"""Describe type -> how a Bulk API CSV cell becomes the value REST would answer."""


def soql_quote(value: str) -> str:
    """`value` as a SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _first_error(error: SalesforceError) -> tuple[str, str]:
    """(errorCode, message) of a Salesforce error body `[{"errorCode", "message"}]`."""
    content = error.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    return "", str(content)[:300]


class SalesforceAdapter:
    """Typed, idempotent access to the opportunity in Salesforce.

    Connects lazily: building the adapter (and the worker) needs no network.
    Raises the errors of `activities.errors`.
    """

    def __init__(
        self, settings: SalesforceSettings, session: requests.Session | None = None
    ) -> None:
        self.settings = settings
        self.fields = settings.fields
        self._session = session
        self._sf: Salesforce | None = None
        self._lock = threading.Lock()
        self._types: dict[str, dict[str, str]] = {}

    @property
    def uses_login(self) -> bool:
        """Username/password login, so an expired session can be renewed."""
        return bool(self.settings.username and self.settings.password)

    @property
    def uses_jwt(self) -> bool:
        """The OAuth 2.0 JWT bearer flow: a new token is one signed assertion away."""
        s = self.settings
        return bool(s.username and s.consumer_key and s.privatekey_file)

    @property
    def can_renew_session(self) -> bool:
        """An expired session can be replaced: by signing in again, or by
        reading the token file that a refresh job keeps current."""
        return self.uses_jwt or self.uses_login or self.settings.session_id_file is not None

    def _http_session(self) -> requests.Session:
        s = self.settings
        session = self._session or _PinnedSession(s.ca_file, REQUEST_TIMEOUT_SECONDS)
        if s.login_url:
            session.mount(
                f"https://{login_domain(s.domain)}.salesforce.com/", LoginRoute(s.login_url)
            )
        return session

    def _connect_jwt(self, session: requests.Session) -> Salesforce:
        s = self.settings
        key_file = Path(str(s.privatekey_file))
        try:
            key_file.read_bytes()
        except OSError as exc:
            raise NotConfigured(
                f"salesforce.privatekey_file: cannot read {key_file} ({exc.strerror or exc})",
                service=SERVICE,
            ) from exc
        domain = login_domain(s.domain)
        try:
            return Salesforce(
                username=s.username,
                consumer_key=s.consumer_key,
                privatekey_file=str(key_file),
                domain=domain,
                version=s.api_version,
                session=session,
            )
        except SalesforceAuthenticationFailed as exc:
            raise AuthenticationFailed(
                f"Salesforce JWT sign-in at https://{domain}.salesforce.com failed for "
                f"{s.username}: {exc.code}: {exc.auth_message}",
                service=SERVICE,
                code=str(exc.code or ""),
            ) from exc
        except (ValueError, TypeError, jwt.PyJWTError) as exc:  # not an RSA private key
            raise NotConfigured(
                f"salesforce.privatekey_file: {key_file} is not a usable private key ({exc})",
                service=SERVICE,
            ) from exc
        except requests.RequestException as exc:
            raise ServiceUnavailable(
                f"Salesforce sign-in unreachable at https://{domain}.salesforce.com: {exc}",
                service=SERVICE,
            ) from exc

    def _session_id(self) -> str | None:
        s = self.settings
        if s.session_id_file is None:
            return s.session_id
        try:
            return Path(s.session_id_file).read_text().strip() or None
        except OSError as exc:
            raise NotConfigured(
                f"salesforce.session_id_file: cannot read {s.session_id_file} "
                f"({exc.strerror or exc})",
                service=SERVICE,
            ) from exc

    def _connect(self) -> Salesforce:
        s = self.settings
        session = self._http_session()
        if self.uses_jwt:
            return self._connect_jwt(session)
        if self.uses_login:
            try:
                return Salesforce(
                    username=s.username,
                    password=s.password,
                    security_token=s.security_token or "",
                    domain=s.domain,
                    version=s.api_version,
                    session=session,
                )
            except SalesforceAuthenticationFailed as exc:
                raise AuthenticationFailed(
                    f"Salesforce login failed for {s.username}: {exc}", service=SERVICE
                ) from exc
            except requests.RequestException as exc:
                raise ServiceUnavailable(
                    f"Salesforce login unreachable: {exc}", service=SERVICE
                ) from exc
        session_id = self._session_id()
        if not (s.instance_url and session_id):
            raise NotConfigured(
                "Salesforce is not configured: set OM_SALESFORCE__INSTANCE_URL "
                "and OM_SALESFORCE__SESSION_ID (or username, password and "
                "security token), or start the sandbox (`om sandbox`)",
                service=SERVICE,
            )
        return Salesforce(
            instance_url=s.instance_url,
            session_id=session_id,
            version=s.api_version,
            session=session,
        )

    def _client(self) -> Salesforce:
        with self._lock:
            if self._sf is None:
                self._sf = self._connect()
            return self._sf

    def _call(self, what: str, call: Callable[[Any], T], opportunity_id: str | None = None) -> T:
        """Run `call`, turning Salesforce failures into adapter errors. `call`
        takes the client as `Any`: simple-salesforce reaches objects as dynamic
        attributes (`sf.Opportunity`) its type hints cannot describe. An
        INVALID_SESSION_ID renews the session once (log in again, or read the
        token file again) and repeats the call."""
        for attempt in (1, 2):
            client = self._client()
            try:
                return call(client)
            except SalesforceExpiredSession as exc:
                if self.can_renew_session and attempt == 1:
                    with self._lock:
                        self._sf = None
                    continue
                code, message = _first_error(exc)
                raise AuthenticationFailed(
                    f"Salesforce refused the session while trying to "
                    f"{what}: {code or 'HTTP 401'} {message}".strip(),
                    service=SERVICE,
                    status=401,
                    code=code,
                ) from exc
            except SalesforceError as exc:
                raise self._translate(exc, what, opportunity_id) from exc
            except requests.RequestException as exc:
                raise ServiceUnavailable(
                    f"Salesforce unreachable while trying to {what}: {exc}", service=SERVICE
                ) from exc
        raise AssertionError("unreachable")

    @staticmethod
    def _translate(error: SalesforceError, what: str, opportunity_id: str | None) -> AdapterError:
        code, message = _first_error(error)
        status = error.status
        detail = f"Salesforce answered {status} {code} while trying to {what}: {message}"
        if opportunity_id and (status == 404 or code == "INVALID_CROSS_REFERENCE_KEY"):
            return OpportunityNotFound(opportunity_id)
        if status == 429 or status >= 500 or code == "REQUEST_LIMIT_EXCEEDED":
            return ServiceUnavailable(detail, service=SERVICE, status=status, code=code)
        return RequestRejected(detail, service=SERVICE, status=status, code=code)

    # -- reads --------------------------------------------------------------

    def read_opportunity(self, opportunity_id: str) -> Opportunity:
        """The opportunity in the contract shape. Raises `OpportunityNotFound`
        for an unknown id and `InvalidOpportunityData` naming the field when
        the record does not fit the contract."""
        if not _RECORD_ID.match(opportunity_id):
            raise OpportunityNotFound(opportunity_id)
        if self.settings.source == "objects":
            return _validated(opportunity_id, self._read_objects(opportunity_id))
        record = self._call(
            "read the opportunity", lambda sf: sf.Opportunity.get(opportunity_id), opportunity_id
        )
        data = self._submission(opportunity_id, record)
        data["id"] = record["Id"]
        for key, field in (
            ("name", "Name"),
            ("amount", "Amount"),
            ("currency", "CurrencyIsoCode"),
            ("urgent", URGENT_FIELD),
        ):
            if record.get(field) is not None:
                data[key] = record[field]
        if record.get("Type"):
            data["type"] = _DEAL_TYPES.get(str(record["Type"]).lower(), record["Type"])
        account = self._related(opportunity_id, "Account", record.get("AccountId"))
        data["account"] = {
            **(data.get("account") or {}),
            "id": account["Id"],
            "name": account.get("Name"),
            "country": account.get("BillingCountry"),
            "region": account.get(REGION_FIELD),
        }
        owner = self._related(opportunity_id, "User", record.get("OwnerId"))
        data["owner"] = {
            **(data.get("owner") or {}),
            "id": owner["Id"],
            "name": owner.get("Name"),
            "email": owner.get("Email"),
        }
        return _validated(opportunity_id, data)

    def _read_objects(self, opportunity_id: str) -> dict[str, Any]:
        """The contract fields from the org's own objects through the mapping,
        in at most two calls: the Opportunity with its Account and Owner (dot
        paths), its primary quote with the quote's Contacts and its File links
        (subqueries); then the Files' latest versions."""
        mapping = self.settings.objects_mapping
        record = self._query_one(opportunity_id, opportunity_soql(mapping, opportunity_id))
        links = (record.get("ContentDocumentLinks") or {}).get("records") or []
        document_ids = [str(link["ContentDocumentId"]) for link in links]
        versions: list[dict[str, Any]] = []
        if document_ids:
            versions = self.query(versions_soql(mapping, document_ids))
        return objects_to_contract(opportunity_id, mapping, record, versions)

    def _query_one(self, opportunity_id: str, soql: str) -> dict[str, Any]:
        result = self._call("read the opportunity", lambda sf: sf.query(soql), opportunity_id)
        records = result.get("records") or []
        if not records:
            raise OpportunityNotFound(opportunity_id)
        return dict(records[0])

    def _submission(self, opportunity_id: str, record: dict[str, Any]) -> dict[str, Any]:
        raw = record.get(self.fields.om_payload)
        if not raw:
            raise InvalidOpportunityData(
                opportunity_id,
                self.fields.om_payload,
                "empty: the opportunity was not submitted through "
                "the Order Management submission flow",
            )
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise InvalidOpportunityData(
                opportunity_id, self.fields.om_payload, f"not JSON ({exc})"
            ) from exc
        if not isinstance(payload, dict):
            raise InvalidOpportunityData(
                opportunity_id, self.fields.om_payload, "not a JSON object"
            )
        return payload

    def _related(self, opportunity_id: str, sobject: str, record_id: Any) -> dict[str, Any]:
        field = "AccountId" if sobject == "Account" else "OwnerId"
        if not isinstance(record_id, str) or not _RECORD_ID.match(record_id):
            raise InvalidOpportunityData(opportunity_id, field, f"no {sobject} linked")
        try:
            return self._call(
                f"read {sobject} {record_id}", lambda sf: getattr(sf, sobject).get(record_id)
            )
        except RequestRejected as exc:
            if exc.status == 404:
                raise InvalidOpportunityData(
                    opportunity_id, field, f"{sobject} {record_id} does not exist"
                ) from exc
            raise

    def describe(self, sobject: str) -> dict[str, Any]:
        """Salesforce's describe of `sobject`: its fields with type and the
        integration user's access (what `om salesforce doctor` checks)."""
        return dict(self._call(f"describe {sobject}", lambda sf: getattr(sf, sobject).describe()))

    def query(self, soql: str) -> list[dict[str, Any]]:
        """Every record `soql` selects (all pages), without Salesforce's `attributes`."""
        result = self._call("run a query", lambda sf: sf.query_all(soql))
        return [{k: v for k, v in r.items() if k != "attributes"} for r in result["records"]]

    def query_iter(self, soql: str) -> Iterator[dict[str, Any]]:
        """Stream the records `soql` selects page by page (simple-salesforce's
        `query_all_iter`, following `nextRecordsUrl`), without `attributes`.

        For reads too large to hold as one answer (a million subscriptions).
        Failures while paging are translated like `_call`'s; an expired
        session is not renewed mid-stream (the cursor belongs to it), so the
        caller's retry starts the read again.
        """
        records = self._call("run a query", lambda sf: sf.query_all_iter(soql))
        try:
            for record in records:
                record.pop("attributes", None)
                yield record
        except SalesforceExpiredSession as exc:
            code, message = _first_error(exc)
            raise AuthenticationFailed(
                f"Salesforce refused the session while paging a query: {code} {message}".strip(),
                service=SERVICE,
                status=401,
                code=code,
            ) from exc
        except SalesforceError as exc:
            raise self._translate(exc, "page through a query", None) from exc
        except requests.RequestException as exc:
            raise ServiceUnavailable(
                f"Salesforce unreachable while paging a query: {exc}", service=SERVICE
            ) from exc

    def count(self, soql: str) -> int:
        """How many records `soql` selects: its `SELECT COUNT()` form's totalSize."""
        counted = _COUNT_FORM.sub("SELECT COUNT() FROM ", soql, count=1)
        counted = _ORDER_BY.sub("", counted)
        result = self._call("count a query's rows", lambda sf: sf.query(counted))
        return int(result["totalSize"])

    def query_large(self, soql: str) -> Iterator[dict[str, Any]]:
        """Stream a read that may be large: through a Bulk API 2.0 query job
        when it selects at least `settings.bulk_threshold` records (one
        COUNT() asks first), else by REST paging (`query_iter`). Both yield
        the same typed records."""
        threshold = self.settings.bulk_threshold
        if threshold > 0 and self.count(soql) >= threshold:
            return self.query_bulk(soql)
        return self.query_iter(soql)

    def _field_types(self, sobject: str) -> dict[str, str]:
        with self._lock:
            cached = self._types.get(sobject.lower())
        if cached is None:
            described = self.describe(sobject)
            cached = {str(f["name"]): str(f["type"]) for f in described.get("fields", [])}
            with self._lock:
                self._types[sobject.lower()] = cached
        return cached

    def query_bulk(self, soql: str) -> Iterator[dict[str, Any]]:
        """Stream the records of a Bulk API 2.0 query job (simple-salesforce's
        bulk2: create, poll until JobComplete, CSV pages by locator).

        CSV carries text only, so each value is typed back from the object's
        describe (booleans, numbers; an empty cell is null), matching what
        REST answers. Failures are translated like `query_iter`'s; the caller's
        retry starts the read again.
        """
        found = _FROM.search(soql)
        if found is None:
            raise RequestRejected(f"not a SOQL query (no FROM): {soql[:80]}", service=SERVICE)
        sobject = found.group(1)
        types = self._field_types(sobject)
        pages = self._call(
            "start a Bulk API query job",
            lambda sf: getattr(sf.bulk2, sobject).query(
                soql, max_records=self.settings.bulk_page_size, wait=1
            ),
        )
        try:
            for page in pages:
                reader = csv.reader(io.StringIO(str(page)))
                header = next(reader, None)
                if header is None:
                    continue
                convert = [(name, _CSV_TYPES.get(types.get(name, ""), _text)) for name in header]
                for values in reader:
                    yield {name: conv(v) for (name, conv), v in zip(convert, values, strict=True)}
        except SalesforceError as exc:
            raise self._translate(exc, "read a Bulk API query job", None) from exc
        except requests.RequestException as exc:
            raise ServiceUnavailable(
                f"Salesforce unreachable while reading a Bulk API query job: {exc}",
                service=SERVICE,
            ) from exc

    def restful(self, what: str, path: str, method: str, payload: Any) -> Any:
        """A raw REST call relative to the API version root (e.g. the
        composite sObject collections), with the usual error translation."""
        return self._call(what, lambda sf: sf.restful(path, method=method, json=payload))

    # -- writes -------------------------------------------------------------

    def update_opportunity(self, update: CrmUpdate) -> dict[str, Any]:
        """Set the non-None fields of `update` (mapped through `settings.fields`);
        returns what was written. Setting values is idempotent."""
        f = self.fields
        values: dict[str, Any] = {}
        for attr, field in (
            ("stage", f.stage),
            ("approval_status", f.approval_status),
            ("locked", f.locked),
            ("close_date", f.close_date),
            ("license_delivery_date", f.license_delivery_date),
        ):
            value = getattr(update, attr)
            if value is not None:
                values[field] = value.isoformat() if isinstance(value, date) else value
        if not values:
            return values
        opportunity_id = update.opportunity_id
        if not _RECORD_ID.match(opportunity_id):
            raise OpportunityNotFound(opportunity_id)
        self._call(
            "update the opportunity",
            lambda sf: sf.Opportunity.update(opportunity_id, values),
            opportunity_id,
        )
        return values

    def post_chatter(self, post: ChatterPost) -> str:
        """Post on the opportunity's feed once per idempotency key; return the FeedItem id.

        FeedItem.Body cannot be filtered in SOQL on a real org, so the
        opportunity's feed is read and searched for the marker here.
        """
        opportunity_id = post.opportunity_id
        if not _RECORD_ID.match(opportunity_id):
            raise OpportunityNotFound(opportunity_id)
        marker = f"[om:{post.idempotency_key}]"
        feed = self.query(
            f"SELECT Id, Body FROM FeedItem WHERE ParentId = "
            f"{soql_quote(opportunity_id)} ORDER BY CreatedDate DESC"
        )
        for item in feed:
            if marker in (item.get("Body") or ""):
                return str(item["Id"])
        created = self._call(
            "post to Chatter",
            lambda sf: sf.FeedItem.create(
                {"ParentId": opportunity_id, "Body": f"{post.body}\n\n{marker}"}
            ),
            opportunity_id,
        )
        return str(created["id"])


def _validated(opportunity_id: str, data: dict[str, Any]) -> Opportunity:
    try:
        return Opportunity.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "record"
        raise InvalidOpportunityData(opportunity_id, field, first["msg"]) from exc


def _unique(items: list[str | None]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _contact_paths(mapping: ObjectsMapping) -> list[str]:
    c = mapping.contact
    parts = (c.name, c.email, c.street, c.city, c.postal_code, c.country)
    return [
        f"{rel}.{part}" for rel in _unique(list(mapping.contact_roles().values())) for part in parts
    ]


def opportunity_soql(mapping: ObjectsMapping, opportunity_id: str) -> str:
    """The one query for an opportunity's own facts, its Account and Owner
    (dot paths), its primary quote with the quote's Contacts, and its File
    links (subqueries)."""
    o, a, q = mapping.opportunity, mapping.account, mapping.quote
    fields = _unique(
        [
            "Id", "Name", "Amount", "CurrencyIsoCode", "Type", URGENT_FIELD,
            o.sales_route, o.deployment, o.eula_accepted, o.private_offer_accepted,
            o.msa_in_place, o.po_required, o.tax_removed, o.partner_signed,
            "Account.Id", "Account.Name", f"Account.{a.country}", f"Account.{a.region}",
            f"Account.{a.vat_id}" if a.vat_id else None,
            "Owner.Id", "Owner.Name", "Owner.Email",
        ]
    )  # fmt: skip
    quote_fields = _unique(
        [q.number, q.start_date, q.end_date, q.term_months, q.payment_terms, q.selling_entity]
    ) + _contact_paths(mapping)
    return (
        f"SELECT {', '.join(fields)}, "
        f"(SELECT {', '.join(quote_fields)} FROM {q.relationship} WHERE {q.primary} LIMIT 1), "
        "(SELECT ContentDocumentId FROM ContentDocumentLinks) "
        f"FROM Opportunity WHERE Id = {soql_quote(opportunity_id)}"
    )


def versions_soql(mapping: ObjectsMapping, document_ids: list[str]) -> str:
    """The second query: the latest version of each File linked to the opportunity."""
    f, po = mapping.files, mapping.po
    match_fields = [m.field for m in (f.order_form, f.po, f.po_waiver, f.tax_exempt_certificate)]
    po_fields = [
        po.number,
        po.amount,
        po.currency,
        po.quote_number,
        po.payment_terms,
        po.selling_entity,
        mapping.order_form.signer_name,
        mapping.order_form.signer_title,
        mapping.order_form.signer_company,
        mapping.order_form.signed_date,
    ]
    fields = _unique(["ContentDocumentId", "Title", *match_fields, *po_fields])
    ids = ", ".join(soql_quote(i) for i in document_ids)
    return (
        f"SELECT {', '.join(fields)} FROM ContentVersion "
        f"WHERE IsLatest = true AND ContentDocumentId IN ({ids})"
    )


def _matches(match: FileMatch, version: dict[str, Any]) -> bool:
    title = str(version.get("Title") or "").lower()
    if match.title and fnmatch.fnmatch(title, match.title.lower()):
        return True
    if not match.field or match.value is None:
        return False
    return bool(version.get(match.field) == match.value)


def _term_end(start: date, months: int) -> date:
    """The last day of a term of `months` starting on `start`."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day) - timedelta(days=1)


def objects_to_contract(
    opportunity_id: str,
    mapping: ObjectsMapping,
    record: dict[str, Any],
    versions: list[dict[str, Any]],
) -> dict[str, Any]:
    """The contract shape (`domain.models.Opportunity` input) from the two
    queries' answers. A fact whose field answered nothing is left out, so
    validation names it; the missing primary quote is named by its relationship."""
    o, a, q, c = mapping.opportunity, mapping.account, mapping.quote, mapping.contact
    data: dict[str, Any] = {"id": record.get("Id")}
    for key, field in (
        ("name", "Name"),
        ("amount", "Amount"),
        ("currency", "CurrencyIsoCode"),
        ("urgent", URGENT_FIELD),
        ("sales_route", o.sales_route),
        ("deployment", o.deployment),
        ("eula_accepted", o.eula_accepted),
        ("private_offer_accepted", o.private_offer_accepted),
        ("msa_in_place", o.msa_in_place),
        ("po_required", o.po_required),
        ("tax_removed", o.tax_removed),
    ):
        if field and record.get(field) is not None:
            data[key] = record[field]
    if record.get("Type"):
        data["type"] = _DEAL_TYPES.get(str(record["Type"]).lower(), record["Type"])
    account = record.get("Account") or {}
    data["account"] = {
        "id": account.get("Id"),
        "name": account.get("Name"),
        "country": account.get(a.country),
        "region": account.get(a.region),
    }
    if a.vat_id:
        data["vat_id"] = account.get(a.vat_id)
    owner = record.get("Owner") or {}
    data["owner"] = {"id": owner.get("Id"), "name": owner.get("Name"), "email": owner.get("Email")}

    quotes = (record.get(q.relationship) or {}).get("records") or []
    if not quotes:
        raise InvalidOpportunityData(
            opportunity_id, q.relationship, f"no primary {q.sobject} ({q.primary})"
        )
    row = quotes[0]
    quote: dict[str, Any] = {"number": row.get(q.number), "start_date": row.get(q.start_date)}
    end = row.get(q.end_date) if q.end_date else None
    term = row.get(q.term_months) if q.term_months else None
    if end is None and term is not None and quote["start_date"]:
        try:
            end = _term_end(date.fromisoformat(str(quote["start_date"])), int(term)).isoformat()
        except ValueError as exc:
            raise InvalidOpportunityData(opportunity_id, q.start_date, str(exc)) from exc
    quote["end_date"] = end
    if q.payment_terms:
        quote["payment_terms"] = row.get(q.payment_terms)
    if q.selling_entity:
        quote["selling_entity"] = row.get(q.selling_entity)
    for role, relationship in mapping.contact_roles().items():
        contact = row.get(relationship) or {}
        quote[role] = {
            "name": contact.get(c.name),
            "email": contact.get(c.email),
            "address": {
                "street": contact.get(c.street),
                "city": contact.get(c.city),
                "postal_code": contact.get(c.postal_code),
                "country": contact.get(c.country),
            },
        }
    data["quote"] = quote

    f = mapping.files
    kinds = {"po_waiver": False, "tax_exempt": False, "order_form": False}
    po_version: dict[str, Any] | None = None
    form_version: dict[str, Any] = {}
    for version in versions:
        if _matches(f.po_waiver, version):
            kinds["po_waiver"] = True
        elif _matches(f.tax_exempt_certificate, version):
            kinds["tax_exempt"] = True
        elif _matches(f.order_form, version):
            kinds["order_form"] = True
            form_version = version
        elif _matches(f.po, version) and po_version is None:
            po_version = version
    data["order_form"] = {
        "attached": kinds["order_form"],
        "partner_signed": bool(record.get(o.partner_signed)) if o.partner_signed else False,
    }
    signature = mapping.order_form
    for key in ("signer_name", "signer_title", "signer_company", "signed_date"):
        field = getattr(signature, key)
        if field and form_version.get(field) is not None:
            data["order_form"][key] = form_version[field]
    data["po_waiver_attached"] = kinds["po_waiver"]
    data["tax_exempt_certificate_attached"] = kinds["tax_exempt"]
    if po_version is not None:
        p = mapping.po
        data["po"] = {
            key: po_version.get(field)
            for key, field in (
                ("number", p.number),
                ("amount", p.amount),
                ("currency", p.currency),
                ("quote_number", p.quote_number),
                ("payment_terms", p.payment_terms),
                ("selling_entity", p.selling_entity),
            )
            if field
        }
    return data


class SalesforceActivities:
    """The Salesforce activities, registered on a Worker as bound methods."""

    def __init__(self, adapter: SalesforceAdapter) -> None:
        self.adapter = adapter

    @activity.defn(name=ActivityName.READ_OPPORTUNITY.value)
    @as_activity_errors
    async def read_opportunity(self, opportunity_id: str) -> Opportunity:
        return await asyncio.to_thread(self.adapter.read_opportunity, opportunity_id)

    @activity.defn(name=ActivityName.UPDATE_OPPORTUNITY.value)
    @as_activity_errors
    async def update_opportunity(self, update: CrmUpdate) -> None:
        await asyncio.to_thread(self.adapter.update_opportunity, update)

    @activity.defn(name=ActivityName.POST_CHATTER.value)
    @as_activity_errors
    async def post_chatter(self, post: ChatterPost) -> str:
        return await asyncio.to_thread(self.adapter.post_chatter, post)

    def activities(self) -> list[Callable[..., Any]]:
        return [self.read_opportunity, self.update_opportunity, self.post_chatter]
