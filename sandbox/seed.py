"""The seed file (`{"opportunities": [...], "delivered_licenses": [...],
"subscriptions": [...], "renewals": [...]}`), validated whole before anything
is stored. The shape of subscriptions and renewals is documented in
`sandbox.schema`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.models import Opportunity
from sandbox.schema import OPPORTUNITY_DEFAULTS, RENEWAL_TYPE, sf_datetime

DEMO_SEED = Path(__file__).with_name("demo_seed.json")


class SeedProblem(BaseModel):
    index: int | None = None
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SeedError(ValueError):
    """A seed refused as a whole; each problem names the item index and field."""

    def __init__(self, problems: list[SeedProblem]) -> None:
        self.problems = problems
        extra = len(problems) - 1
        more = f" (and {extra} more problem{'s' if extra > 1 else ''})" if extra else ""
        super().__init__(f"seed rejected, nothing stored: {problems[0]}{more}")


def _location(prefix: str, loc: Iterable[int | str]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def parse_seed(
    payload: Any, known: Callable[[list[str]], set[str]]
) -> tuple[list[Opportunity], list[str]]:
    """The opportunities and delivered-license ids of `payload`, or `SeedError`
    listing every problem. `known` says which ids the store already holds, so
    `delivered_licenses` may name opportunities seeded earlier."""
    if (
        isinstance(payload, dict)
        and "opportunities" not in payload
        and ("subscriptions" in payload or "renewals" in payload)
    ):
        payload = {**payload, "opportunities": []}  # a renewal-only seed
    if not isinstance(payload, dict) or not isinstance(payload.get("opportunities"), list):
        raise SeedError(
            [
                SeedProblem(
                    field="opportunities",
                    message='the seed must be an object with an "opportunities" list',
                )
            ]
        )
    problems: list[SeedProblem] = []
    opportunities: list[Opportunity] = _parse_list(payload, "opportunities", Opportunity, problems)
    seeded = {opportunity.id for opportunity in opportunities}
    delivered = payload.get("delivered_licenses", [])
    if not isinstance(delivered, list) or not all(isinstance(i, str) for i in delivered):
        problems.append(
            SeedProblem(field="delivered_licenses", message="must be a list of opportunity ids")
        )
        delivered = []
    outside = [i for i in delivered if i not in seeded]
    stored = known(outside) if outside else set()
    for position, opportunity_id in enumerate(delivered):
        if opportunity_id not in seeded and opportunity_id not in stored:
            problems.append(
                SeedProblem(
                    field=f"delivered_licenses[{position}]",
                    message=f"unknown opportunity id {opportunity_id}",
                )
            )
    if problems:
        raise SeedError(problems)
    return opportunities, list(delivered)


class SubscriptionSeed(BaseModel):
    """One seeded `Subscription__c` (see `sandbox.schema`)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=3, max_length=18, pattern=r"^[A-Za-z0-9]+$")
    name: str = Field(min_length=1)
    account_id: str = Field(min_length=3, max_length=18, pattern=r"^[A-Za-z0-9]+$")
    account_name: str | None = None
    status: Literal["Active", "Cancelled", "Expired"]
    current_term_end_date: date
    carr: float
    contract_reset: bool = False


class RenewalSeed(BaseModel):
    """One seeded renewal opportunity (an Opportunity with Type "renewal")."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=3, max_length=18, pattern=r"^[A-Za-z0-9]+$")
    name: str = Field(min_length=1)
    account_id: str = Field(min_length=3, max_length=18, pattern=r"^[A-Za-z0-9]+$")
    account_name: str | None = None
    subscription_id: str | None = None
    stage: str = "1-Prospecting"
    arr_basis: float | None = None
    start_date: date | None = None
    created_at: datetime | None = None
    marked_duplicate: bool = False


def _parse_list(
    payload: dict[str, Any], key: str, model: type[BaseModel], problems: list[SeedProblem]
) -> list[Any]:
    """The valid items of `payload[key]`; each invalid or repeated one adds a
    problem naming its index and field, so a seed is refused whole."""
    items = payload.get(key, [])
    if not isinstance(items, list):
        problems.append(SeedProblem(field=key, message="must be a list"))
        return []
    out: list[Any] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(items):
        try:
            parsed = model.model_validate(item)
        except ValidationError as exc:
            for error in exc.errors():
                problems.append(
                    SeedProblem(
                        index=index,
                        field=_location(f"{key}[{index}]", error["loc"]),
                        message=error["msg"],
                    )
                )
            continue
        item_id = parsed.id  # type: ignore[attr-defined]
        if item_id in first_index:
            problems.append(
                SeedProblem(
                    index=index,
                    field=f"{key}[{index}].id",
                    message=f"duplicate id {item_id} (also at index {first_index[item_id]})",
                )
            )
            continue
        first_index[item_id] = index
        out.append(parsed)
    return out


def parse_renewal_seed(
    payload: Any, now: datetime | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The (sObject, record) pairs for the seed's optional `subscriptions` and
    `renewals`, or `SeedError` listing every problem. Kept apart from
    `parse_seed` so its (opportunities, delivered) contract stays as it is."""
    if not isinstance(payload, dict):
        return []
    problems: list[SeedProblem] = []
    subscriptions: list[SubscriptionSeed] = _parse_list(
        payload, "subscriptions", SubscriptionSeed, problems
    )
    renewals: list[RenewalSeed] = _parse_list(payload, "renewals", RenewalSeed, problems)
    if problems:
        raise SeedError(problems)
    stamp = sf_datetime(now or datetime.now(UTC))
    audit = {"CreatedDate": stamp, "LastModifiedDate": stamp}
    records: list[tuple[str, dict[str, Any]]] = []
    items: list[SubscriptionSeed | RenewalSeed] = [*subscriptions, *renewals]
    for item in items:
        account = {"Id": item.account_id, "Name": item.account_name or item.account_id}
        records.append(
            ("Account", {**account, "BillingCountry": None, "OM_Region__c": None, **audit})
        )
    for sub in subscriptions:
        records.append(
            (
                "Subscription__c",
                {
                    "Id": sub.id,
                    "Name": sub.name,
                    "Account__c": sub.account_id,
                    "Status__c": sub.status,
                    "Current_Term_End_Date__c": sub.current_term_end_date.isoformat(),
                    "CARR__c": sub.carr,
                    "Contract_Reset__c": sub.contract_reset,
                    **audit,
                },
            )
        )
    for renewal in renewals:
        created = sf_datetime(renewal.created_at) if renewal.created_at else stamp
        records.append(
            (
                "Opportunity",
                {
                    "Id": renewal.id,
                    "Name": renewal.name,
                    "AccountId": renewal.account_id,
                    "OwnerId": None,
                    "Type": RENEWAL_TYPE,
                    "Amount": renewal.arr_basis,
                    "CurrencyIsoCode": "USD",
                    "StageName": renewal.stage,
                    "Approval_Status__c": None,
                    "OM_Record_Locked__c": False,
                    "CloseDate": None,
                    "License_Delivery_Date__c": None,
                    "Urgent__c": False,
                    "OM_Submission__c": None,
                    "Deployment__c": None,
                    "OM_Region__c": None,
                    **OPPORTUNITY_DEFAULTS,
                    "Subscription__c": renewal.subscription_id,
                    "ARR_Basis__c": renewal.arr_basis,
                    "Renewal_Start_Date__c": (
                        renewal.start_date.isoformat() if renewal.start_date else None
                    ),
                    "Marked_Duplicate__c": renewal.marked_duplicate,
                    "CreatedDate": created,
                    "LastModifiedDate": stamp,
                },
            )
        )
    return records


def load_demo_seed() -> dict[str, Any]:
    """The demo data `python -m sandbox` seeds into an empty sandbox."""
    seed: dict[str, Any] = json.loads(DEMO_SEED.read_text())
    return seed
