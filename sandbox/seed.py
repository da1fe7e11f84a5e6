"""The seed file (`{"opportunities": [...], "delivered_licenses": [...]}`),
validated whole before anything is stored."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from domain.models import Opportunity

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
    opportunities: list[Opportunity] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(payload["opportunities"]):
        try:
            opportunity = Opportunity.model_validate(item)
        except ValidationError as exc:
            for error in exc.errors():
                problems.append(
                    SeedProblem(
                        index=index,
                        field=_location(f"opportunities[{index}]", error["loc"]),
                        message=error["msg"],
                    )
                )
            continue
        if opportunity.id in first_index:
            problems.append(
                SeedProblem(
                    index=index,
                    field=f"opportunities[{index}].id",
                    message=f"duplicate id {opportunity.id} (also at index "
                    f"{first_index[opportunity.id]})",
                )
            )
            continue
        first_index[opportunity.id] = index
        opportunities.append(opportunity)
    delivered = payload.get("delivered_licenses", [])
    if not isinstance(delivered, list) or not all(isinstance(i, str) for i in delivered):
        problems.append(
            SeedProblem(field="delivered_licenses", message="must be a list of opportunity ids")
        )
        delivered = []
    outside = [i for i in delivered if i not in first_index]
    stored = known(outside) if outside else set()
    for position, opportunity_id in enumerate(delivered):
        if opportunity_id not in first_index and opportunity_id not in stored:
            problems.append(
                SeedProblem(
                    field=f"delivered_licenses[{position}]",
                    message=f"unknown opportunity id {opportunity_id}",
                )
            )
    if problems:
        raise SeedError(problems)
    return opportunities, list(delivered)


def load_demo_seed() -> dict[str, Any]:
    """The demo data `python -m sandbox` seeds into an empty sandbox."""
    return json.loads(DEMO_SEED.read_text())
