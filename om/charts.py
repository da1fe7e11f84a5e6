"""The manager's report charts: SVG drawn on the server with pygal, each with
its numbers as a table (and CSV) beside it.

Why pygal: SVG is its native output, it is pure Python with no compiled
dependencies, draws a page of charts in milliseconds, and gives each value
its own classed element (`rect.rect`, `circle.dot`) that tests can count;
the SVG shows without JavaScript once pygal's tooltip script is switched
off (`js=[]`, which also keeps the page off any CDN). matplotlib's SVG
backend would bring numpy and compiled extensions into the runtime image
and write values as anonymous paths.

`charts(report)` returns every chart of a `ManagerReport`; the console
inlines `svg`, `om kpi --plot DIR` writes it to `<name>.svg`, and `csv()` is
the table for `--csv DIR` and the page's download link.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

import pygal
from pygal.style import Style

from domain.reports import ManagerReport

_STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#222",
    foreground_strong="#111",
    foreground_subtle="#666",
    colors=("#1f6feb", "#d1242f", "#2da44e", "#bf8700", "#8250df", "#57606a"),
    font_family="sans-serif",
)
_CONFIG: dict[str, Any] = {
    "style": _STYLE,
    "js": [],  # no tooltip script: nothing loads from a CDN, the SVG needs no JS
    "disable_xml_declaration": True,  # inlined in HTML
    "width": 640,
    "height": 320,
    "explicit_size": True,
    "print_values": False,
    "legend_at_bottom": True,
    "truncate_label": 40,
}


_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)


@dataclass(frozen=True)
class Chart:
    """One chart: its file name, title, SVG and the table it was drawn from."""

    name: str
    title: str
    svg: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([_cell(v) for v in row])
        return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else value


def _render(chart: Any) -> str:
    svg = str(chart.render(is_unicode=True))
    # pygal writes its tooltip configuration as an inline script even with no
    # script to read it: drop it, so the page carries no JavaScript at all.
    return _SCRIPT.sub("", svg)


def _bar(
    title: str, labels: list[str], series: dict[str, list[float | None]], horizontal: bool = False
) -> str:
    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    chart = kind(title=title, **_CONFIG)
    chart.x_labels = labels or ["(none)"]
    for name, values in series.items():
        chart.add(name, values or [None])
    return _render(chart)


def _line_with_target(
    title: str, labels: list[str], values: list[float | None], target: float, name: str
) -> str:
    chart = pygal.Line(
        title=title,
        range=(0, 1),
        value_formatter=lambda v: f"{v:.0%}",
        x_label_rotation=30,
        **_CONFIG,
    )
    chart.x_labels = labels or ["(none)"]
    chart.add(name, values or [None])
    chart.add(
        f"target {target:.0%}",
        [target] * max(1, len(labels)),
        show_dots=False,
        stroke_style={"dasharray": "6,4"},
    )
    return _render(chart)


def charts(report: ManagerReport) -> list[Chart]:
    """Every chart of the report, in page order."""
    out: list[Chart] = []

    weeks = report.weekly_sla
    target = weeks[0].target if weeks else report.kpi.sla.share_within.target or 0.9
    out.append(
        Chart(
            "sla_weekly",
            "Decided within the SLA, per week",
            _line_with_target(
                "Decided within the SLA, per week",
                [w.week.isoformat() for w in weeks],
                [w.share for w in weeks],
                target,
                "within SLA",
            ),
            ("week", "decided", "within", "share", "target"),
            tuple((w.week.isoformat(), w.decided, w.within, w.share, w.target) for w in weeks),
        )
    )
    months = report.monthly_accuracy
    acc_target = report.kpi.accuracy.accuracy.target or 0.95
    out.append(
        Chart(
            "accuracy_monthly",
            "Approval accuracy, per month",
            _line_with_target(
                "Approval accuracy, per month",
                [m.month for m in months],
                [m.accuracy for m in months],
                acc_target,
                "accuracy",
            ),
            ("month", "approvals", "billing_rejections", "accuracy", "target", "met"),
            tuple(
                (m.month, m.approvals, m.billing_rejections, m.accuracy, m.target, m.met)
                for m in months
            ),
        )
    )
    rejections = report.rejections_by_region
    codes = sorted({r.code for r in rejections})
    regions = sorted({r.region for r in rejections})
    counts = {(r.region, r.code): r.count for r in rejections}
    out.append(
        Chart(
            "rejections",
            "Rejections by reason code and region",
            _bar(
                "Rejections by reason code and region",
                codes,
                {g: [counts.get((g, c), 0) for c in codes] for g in regions},
            ),
            ("region", "code", "count"),
            tuple((r.region, r.code, r.count) for r in rejections),
        )
    )
    won = report.closed_won_by_region
    out.append(
        Chart(
            "closed_won_region",
            "Closed Won per region",
            _bar("Closed Won per region", list(won), {"Closed Won": list(won.values())}),
            ("region", "closed_won"),
            tuple(won.items()),
        )
    )
    members = report.closed_won_by_member
    out.append(
        Chart(
            "closed_won_member",
            "Closed Won per team member",
            _bar(
                "Closed Won per team member",
                list(members),
                {"Closed Won": list(members.values())},
                horizontal=True,
            ),
            ("om_approver", "closed_won"),
            tuple(members.items()),
        )
    )
    for name, title, rows in (
        (
            "first_response_region",
            "Average first response per region",
            report.first_response_by_region,
        ),
        (
            "first_response_specialist",
            "Average first response per specialist",
            report.first_response_by_specialist,
        ),
    ):
        out.append(
            Chart(
                name,
                f"{title} (business hours)",
                _bar(
                    f"{title} (business hours)",
                    [r.group for r in rows],
                    {"hours": [r.average_hours for r in rows]},
                    horizontal=name.endswith("specialist"),
                ),
                ("group", "rounds", "average_business_hours"),
                tuple((r.group, r.rounds, r.average_hours) for r in rows),
            )
        )
    csat = report.kpi.csat.by_region
    csat_target = report.kpi.csat.overall.rating.target or 0.92
    chart = pygal.Bar(
        title="CSAT per region", range=(0, 1), value_formatter=lambda v: f"{v:.0%}", **_CONFIG
    )
    chart.x_labels = list(csat) or ["(none)"]
    chart.add("CSAT", [c.rating.value for c in csat.values()] or [None])
    chart.add(f"target {csat_target:.0%}", [csat_target] * max(1, len(csat)))
    out.append(
        Chart(
            "csat_region",
            "CSAT per region",
            _render(chart),
            ("region", "responses", "rating", "target", "met"),
            tuple(
                (g, c.responses, c.rating.value, c.rating.target, c.rating.met)
                for g, c in csat.items()
            ),
        )
    )
    lic = report.license_delivery
    out.append(
        Chart(
            "license_delivery",
            "License delivery: automation versus ticket",
            _bar(
                "License delivery: automation versus ticket",
                ["automatic", "ticket", "awaiting"],
                {"deals": [lic.automatic, lic.ticket, lic.awaiting]},
            ),
            ("delivery", "deals", "median_days_to_delivery"),
            (
                ("automatic", lic.automatic, lic.median_days),
                ("ticket", lic.ticket, None),
                ("awaiting", lic.awaiting, None),
            ),
        )
    )
    causes = lic.long_open_by_cause
    out.append(
        Chart(
            "license_long_open",
            f"License tickets open more than {lic.threshold_days} days, by cause",
            _bar(
                f"Tickets open > {lic.threshold_days} days, by cause",
                list(causes),
                {"tickets": list(causes.values())},
            ),
            ("cause", "tickets"),
            tuple(causes.items()),
        )
    )
    esc = report.escalations
    out.append(
        Chart(
            "escalations",
            f"Urgent submissions per rep and quarter (flagged above {report.urgent_threshold})",
            _bar(
                "Urgent submissions per rep and quarter",
                [f"{e.rep} {e.quarter}" for e in esc],
                {
                    "urgent": [e.urgent for e in esc],
                    "handed to another region": [e.handed_off for e in esc],
                },
                horizontal=True,
            ),
            ("rep", "quarter", "urgent", "handed_off", "handed_off_share", "flagged"),
            tuple(
                (e.rep, e.quarter, e.urgent, e.handed_off, e.handed_off_share, e.flagged)
                for e in esc
            ),
        )
    )
    work = report.workload
    out.append(
        Chart(
            "workload_region",
            "Open reviews now, per region",
            _bar(
                "Open reviews now, per region",
                list(work.by_region),
                {"open": list(work.by_region.values())},
            ),
            ("region", "open_reviews"),
            tuple(work.by_region.items()),
        )
    )
    out.append(
        Chart(
            "workload_specialist",
            "Open reviews now, per specialist",
            _bar(
                "Open reviews now, per specialist",
                list(work.by_specialist),
                {"open": list(work.by_specialist.values())},
                horizontal=True,
            ),
            ("specialist", "open_reviews"),
            tuple(work.by_specialist.items()),
        )
    )
    return out


def breach_table(report: ManagerReport) -> Chart:
    """Every breach of the report as a table (no chart: the page lists them)."""
    return Chart(
        "breaches",
        "SLA breaches",
        "",
        (
            "opportunity_id",
            "round",
            "region",
            "sla_deadline",
            "decided_at",
            "outcome",
            "business_hours",
        ),
        tuple(
            (
                b.opportunity_id,
                b.round,
                b.region,
                b.sla_deadline.isoformat() if b.sla_deadline else None,
                b.decided_at.isoformat() if b.decided_at else None,
                b.outcome or "pending",
                b.business_hours,
            )
            for b in report.breaches
        ),
    )


def billing_rejection_table(report: ManagerReport) -> Chart:
    """Each Billing rejection with its reasons and the OM approver."""
    return Chart(
        "billing_rejections",
        "Billing rejections",
        "",
        ("opportunity_id", "round", "region", "reasons", "om_approver", "billing", "rejected_at"),
        tuple(
            (
                b.opportunity_id,
                b.round,
                b.region,
                " ".join(b.reasons),
                b.om_approver,
                b.billing_decider,
                b.rejected_at.isoformat() if b.rejected_at else None,
            )
            for b in report.billing_rejections
        ),
    )


def long_open_table(report: ManagerReport) -> Chart:
    """The license tickets open longer than the policy's threshold."""
    return Chart(
        "license_tickets",
        "License tickets open longer than the threshold",
        "",
        ("opportunity_id", "region", "opened_at", "days_open", "solved", "cause"),
        tuple(
            (t.opportunity_id, t.region, t.opened_at.isoformat(), t.days_open, t.solved, t.cause)
            for t in report.license_delivery.long_open
        ),
    )


def due_table(report: ManagerReport) -> Chart:
    """Open reviews due before their region closes today."""
    return Chart(
        "due_today",
        "Open reviews due before their region closes today",
        "",
        ("opportunity_id", "round", "queue_region", "specialist", "sla_deadline"),
        tuple(
            (
                o.opportunity_id,
                o.round,
                o.region,
                o.specialist,
                o.sla_deadline.isoformat() if o.sla_deadline else None,
            )
            for o in report.workload.due_before_close
        ),
    )


LISTS = {
    "breaches": breach_table,
    "billing_rejections": billing_rejection_table,
    "license_tickets": long_open_table,
    "due_today": due_table,
}
"""The page's lists, each downloadable in full as CSV (the page shows the first rows)."""
