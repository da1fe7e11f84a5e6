"""`om calendar show`: a region's closed days and extra working days for a year.

People ask "is the London team in on the 30th?" and "why did the SLA skip
Monday?"; the answer is policy data (the `holidays` package's country and
subdivision, plus the company's own closures and worked days from settings),
so this prints it from the same policy the workers use, `load_settings().calendar`.
A settings file's company days therefore show here exactly as they count in
the SLA arithmetic.

Only domain code is imported: the command works with nothing running.
The calendars (and the `holidays` package behind them) are imported by the
command, not by `om --help`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import JsonOpt, console, emit, fail, settings_or_fail
from domain.regions import Region

if TYPE_CHECKING:
    from domain.calendar import CalendarDay, CalendarYear

# Plain strings, checked here: a bad value is then one line naming the option
# and the valid values, not Click's usage box.
RegionOpt = Annotated[
    str, typer.Option("--region", help="AMER, EMEA or APAC (any case).", show_default=False)
]
YearOpt = Annotated[
    str | None,
    typer.Option(
        "--year", help="Calendar year, e.g. 2027 (default: this year).", show_default=False
    ),
]
WeekendsOpt = Annotated[
    bool,
    typer.Option(
        "--weekends",
        help="Also list weekend dates (and holidays falling on them); by default only "
        "closed working weekdays are listed.",
        metavar="",
    ),
]

calendar_app = typer.Typer(help="Regional business calendars.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `calendar show` to the `om` app."""
    app.add_typer(calendar_app, name="calendar")


@calendar_app.command("show")
def show(
    region: RegionOpt,
    year: YearOpt = None,
    weekends: WeekendsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """A region's closed days (public holidays, company closures) and extra
    working days for a year, with names and sources, from the settings' policy."""
    from domain.calendar import calendar_for

    names = ", ".join(r.value for r in Region)
    try:
        chosen = Region(region.strip().upper())
    except ValueError:
        fail(f"--region: unknown region {region!r}; choose one of {names}")
    settings = settings_or_fail()
    calendar = calendar_for(chosen, settings.calendar)
    known = f"{calendar.min_year}-{calendar.max_year}"
    if year is None:
        wanted = datetime.now(UTC).astimezone(calendar.tz).year
    else:
        try:
            wanted = int(year.strip())
        except ValueError:
            fail(f"--year: {year!r} is not a year; give one in {known}")
    if not calendar.min_year <= wanted <= calendar.max_year:
        fail(f"--year: no calendar for {wanted} in {chosen.value}; give one in {known}")
    overview = calendar.year_overview(wanted, weekends=weekends)
    emit(overview, as_json, lambda: _render(overview))


def _kind(day: CalendarDay) -> str:
    return day.kind.value.replace("_", " ")


def _render(overview: CalendarYear) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from domain.calendar import DayKind

    out = console(highlight=False)
    source = overview.holidays or "no public holidays"
    out.print(
        escape(
            f"{overview.region} {overview.year}: {overview.time_zone}, "
            f"{overview.open:%H:%M}-{overview.close:%H:%M} {_days(overview.workdays)}; "
            f"public holidays: {source}"
        )
    )
    weekend = ", ".join(overview.weekend)
    if not weekend:
        out.print("No weekend: every weekday is a working day.")
    elif overview.weekends_listed:
        out.print(f"Weekends ({weekend}) are closed and listed below.")
    else:
        out.print(
            f"Weekends ({weekend}) are closed and not listed (--weekends lists them); "
            "holidays falling on a weekend are left out too."
        )

    table = Table(box=box.SIMPLE, title="Closed", title_justify="left")
    for column in ("Date", "Day", "Name", "Why", "Source"):
        table.add_column(column)
    for day in overview.closed:
        table.add_row(
            day.date.isoformat(), day.weekday, escape(day.name), _kind(day), escape(day.source)
        )
    if overview.closed:
        out.print(table)
    else:
        out.print("Closed: none")

    if overview.worked:
        worked = Table(box=box.SIMPLE, title="Extra working days", title_justify="left")
        for column in ("Date", "Day", "Name", "Instead of", "Source"):
            worked.add_column(column)
        for day in overview.worked:
            worked.add_row(
                day.date.isoformat(),
                day.weekday,
                escape(day.name),
                escape(day.instead_of or "(a working day anyway)"),
                escape(day.source),
            )
        out.print(worked)
    else:
        out.print("Extra working days: none")

    dates = len({d.date for d in overview.closed})
    what = "dates" if overview.weekends_listed else "weekdays"
    by_kind = ", ".join(
        _count(sum(1 for d in overview.closed if d.kind is kind), kind.value.replace("_", " "))
        for kind in DayKind
        if kind is not DayKind.EXTRA_WORKING_DAY
        and (kind is not DayKind.WEEKEND or overview.weekends_listed)
    )
    out.print(
        f"{_count(dates, f'closed {what[:-1]}')} ({by_kind}); "
        f"{_count(len(overview.worked), 'extra working day')}."
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _days(weekdays: tuple[str, ...]) -> str:
    """`Mon-Fri` for a run of weekdays, else the list: `Mon, Wed, Fri`."""
    order = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    at = [order.index(d) for d in weekdays]
    if len(at) > 2 and at == list(range(at[0], at[0] + len(at))):
        return f"{weekdays[0]}-{weekdays[-1]}"
    return ", ".join(weekdays)
