"""The policy the approval cycle follows, as data: who is on the roster and
in which role, the team channels, the regional calendars and SLA, the
end-of-period cover, the bookings policy.

Pure models with their defaults: nothing here reads the environment or a
file. `om.settings.Settings` extends `Policy` with where things run and how
to reach them, and loads both from the environment and a settings file.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator

from domain.calendar import CalendarPolicy
from domain.models import Region
from domain.requirements import BookingPolicy

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> Any:
    """Accept `5s`, `10m`, `1h`, `1d`, a bare number of seconds, or anything
    pydantic already understands (ISO 8601 `PT5S`, a timedelta)."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return value


class Role(StrEnum):
    ORDER_MANAGEMENT = "order_management"
    BILLING = "billing"
    AUDITOR = "auditor"
    REP = "rep"
    MANAGER = "manager"
    """A regional manager: reads everything in their regions, decides nothing."""


class RosterUser(BaseModel):
    """A person the system knows: their role and the regions they serve."""

    email: str
    name: str = ""
    role: Role
    regions: list[Region] = Field(default_factory=list)
    token: str | None = Field(default=None, description="API bearer token (demo roster only)")


def _demo_roster() -> list[RosterUser]:
    users = [
        RosterUser(
            email="om.amer@example.com",
            name="Alex OM (AMER)",
            role=Role.ORDER_MANAGEMENT,
            regions=[Region.AMER],
        ),
        RosterUser(
            email="om.emea@example.com",
            name="Eva OM (EMEA)",
            role=Role.ORDER_MANAGEMENT,
            regions=[Region.EMEA],
        ),
        RosterUser(
            email="om.apac@example.com",
            name="Aiko OM (APAC)",
            role=Role.ORDER_MANAGEMENT,
            regions=[Region.APAC],
        ),
        RosterUser(
            email="billing@example.com", name="Bea Billing", role=Role.BILLING, regions=list(Region)
        ),
        RosterUser(
            email="auditor@example.com", name="Ari Auditor", role=Role.AUDITOR, regions=list(Region)
        ),
    ]
    for email, name in [
        ("riley.rep@example.com", "Riley Rep"),
        ("emma.rep@example.com", "Emma Rep"),
        ("kai.rep@example.com", "Kai Rep"),
        ("lucia.rep@example.com", "Lucia Rep"),
    ]:
        users.append(RosterUser(email=email, name=name, role=Role.REP, regions=list(Region)))
    for region, name in [
        (Region.AMER, "Morgan Manager (AMER)"),
        (Region.EMEA, "Mila Manager (EMEA)"),
        (Region.APAC, "Min Manager (APAC)"),
    ]:
        users.append(
            RosterUser(
                email=f"manager.{region.value.lower()}@example.com",
                name=name,
                role=Role.MANAGER,
                regions=[region],
            )
        )
    for user in users:
        user.token = "demo-" + user.email.split("@")[0].replace(".", "-")
    return users


def _channel_names(kind: str) -> dict[Region, str]:
    return {r: f"#om-{r.value.lower()}-{kind}" for r in Region}


class Channels(BaseModel):
    """Team channels: SLA warnings go to a region's queue channel, breach
    escalations to its managers' channel."""

    queue: dict[Region, str] = Field(default_factory=lambda: _channel_names("queue"))
    manager: dict[Region, str] = Field(default_factory=lambda: _channel_names("managers"))


class ReportPolicy(BaseModel):
    """Thresholds the manager's reports flag by (policy, not code)."""

    license_ticket_open_days: int = Field(
        default=3,
        ge=0,
        description="License tickets open longer than this many calendar days are listed",
    )
    urgent_per_rep_quarter: int = Field(
        default=5,
        ge=0,
        description="Reps with more urgent submissions than this in a quarter are flagged",
    )


class Policy(BaseModel):
    """The approval policy: what the workflows and the policy activities decide by."""

    license_recheck_interval: timedelta = Field(
        default=timedelta(days=1),
        description="How often an undelivered license is checked again while a ticket is open",
    )
    auto_reject_on_findings: bool = Field(
        default=False,
        description="Reject a round at once, with the pre-check's codes, when it has hard findings",
    )
    booking: BookingPolicy = Field(default_factory=BookingPolicy)
    calendar: CalendarPolicy = Field(
        default_factory=CalendarPolicy,
        description="Per-region hours, time zone, holidays, cutoff and SLA length",
    )
    cover_business_days: int = Field(
        default=2,
        ge=0,
        description="In the last N business days of a month or quarter any region may take "
        "any queue (0: no cover)",
    )
    roster: list[RosterUser] = Field(default_factory=_demo_roster)
    channels: Channels = Field(default_factory=Channels)
    reports: ReportPolicy = Field(default_factory=ReportPolicy)

    # Named apart from `Settings._parse_interval`: pydantic keys validators by
    # method name, and a subclass's method of the same name would replace it.
    @field_validator("license_recheck_interval", mode="before")
    @classmethod
    def _parse_recheck_interval(cls, value: Any) -> Any:
        return parse_duration(value)

    def user(self, email: str) -> RosterUser | None:
        """The roster entry for `email`, compared case-insensitively."""
        wanted = email.strip().lower()
        return next((u for u in self.roster if u.email.lower() == wanted), None)

    def user_by_token(self, token: str) -> RosterUser | None:
        return next((u for u in self.roster if u.token and u.token == token), None)
