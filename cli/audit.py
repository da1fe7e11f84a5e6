"""`om audit`, `om history export` and `om replay`: what auditors run.

`om audit` renders an opportunity's timeline from its Temporal event history
(om.audit), optionally as an evidence pack whose files are fingerprinted
in a manifest, so what was handed over can be checked later. `om replay`
proves recorded histories are what today's workflow code would do: CI runs it
over tests/histories, operators over live workflows (`--query`).

Mounted by cli/main.py with `register(app)`. Temporal's SDK, the timeline
builder and rich are imported by the commands.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import JsonOpt, OpportunityId, connect_temporal, console, emit, fail, run_async

# The replay engine lives in cli.replay; its verdict and the workflow-id
# helper stay importable from here, where `om replay` is.
from cli.replay import (
    HISTORIES_PER_PROCESS,
    ReplayOutcome,
    ReplaySource,
    default_jobs,
    file_sources,
    prepare,
    replay_in_process,
    replay_in_processes,
)
from cli.replay import history_workflow_id as history_workflow_id
from domain.names import APPROVAL_WORKFLOWS_QUERY

if TYPE_CHECKING:
    from rich.console import Console
    from temporalio.client import Client, WorkflowHistory

    from om.audit import Timeline

DEFAULT_QUERY = APPROVAL_WORKFLOWS_QUERY
EVIDENCE_FILES = ("history.json", "timeline.md", "timeline.json")
# An earlier run's history in an evidence pack (after continue-as-new).
EARLIER_RUN_FILE = "history-run{}.json"


def register(app: typer.Typer) -> None:
    """Add `audit`, `history export` and `replay` to the `om` app."""
    app.command("audit")(audit)
    history_app = typer.Typer(help="Workflow event histories.", no_args_is_help=True)
    history_app.command("export")(history_export)
    app.add_typer(history_app, name="history")
    app.command("replay")(replay)


# ---- shared -------------------------------------------------------------------------


async def _client() -> Client:
    """The Temporal client, with the CLI's one-line error when it is unreachable."""
    from om.settings import load_settings

    return await connect_temporal(load_settings())


async def _fetch(opportunity_id: str) -> list[WorkflowHistory]:
    """The histories of the opportunity's workflow, oldest run first: one run,
    or several when it continued as new (`om.audit.fetch_runs`)."""
    from temporalio.service import RPCError, RPCStatusCode

    from domain.errors import NotSubmitted
    from domain.names import approval_workflow_id
    from om.audit import fetch_runs

    client = await _client()
    try:
        return await fetch_runs(client, approval_workflow_id(opportunity_id))
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise NotSubmitted(opportunity_id) from error
        raise


def _stdout() -> Console:
    # Lines never wrap (one line per history), tables get room in a pipe.
    return console(width=200, highlight=False, soft_wrap=True)


# ---- om audit ------------------------------------------------------------------------


def audit(
    opportunity_id: OpportunityId,
    as_json: JsonOpt = False,
    evidence: Annotated[
        Path | None,
        typer.Option(
            "--evidence",
            help="Write an evidence pack (history, timeline, SHA-256 manifest) to DIR.",
            metavar="DIR",
        ),
    ] = None,
) -> None:
    """The opportunity's audit timeline, read from its Temporal event history
    (every run of it, when the workflow continued as new)."""
    from domain.errors import OmError
    from om.audit import build_timeline

    histories = run_async(lambda: _fetch(opportunity_id))
    try:
        timeline = build_timeline(histories)
    except OmError as error:
        fail(str(error))
    folder = None
    if evidence is not None:
        try:
            folder = write_evidence(evidence, histories, timeline)
        except OSError as error:
            fail(f"cannot write the evidence pack to {evidence}: {error.strerror or error}")
    emit(timeline, as_json, lambda: print_timeline(timeline))
    if folder is not None:
        # stderr with --json, so stdout stays one JSON document
        typer.echo(f"evidence pack written to {folder}", err=as_json)


def print_timeline(timeline: Timeline) -> None:
    """The timeline as a Rich table, then its notes."""
    from rich.markup import escape
    from rich.table import Table

    from domain.timefmt import local_label
    from om.audit import who

    out = _stdout()
    grid = Table(
        "UTC",
        f"local ({timeline.region.value})",
        "kind",
        "who",
        "round",
        "what",
        title=f"Audit timeline {timeline.opportunity_id} ({timeline.opportunity_name}): "
        f"{timeline.status}" + (f", stage {timeline.stage}" if timeline.stage else ""),
        title_justify="left",
    )
    for entry in timeline.entries:
        grid.add_row(
            f"{entry.at_utc:%Y-%m-%d %H:%M:%S}",
            local_label(entry.at_local, timeline.region, clock="%Y-%m-%d %H:%M:%S"),
            entry.kind,
            escape(who(entry)),
            "" if entry.round is None else str(entry.round),
            escape(entry.summary),
        )
    out.print(grid)
    runs = (
        f"runs {', '.join(timeline.runs)}" if len(timeline.runs) > 1 else f"run {timeline.run_id}"
    )
    out.print(f"workflow {escape(timeline.workflow_id)}, {escape(runs)}")
    for note in timeline.notes:
        out.print(f"note: {escape(note)}")


def write_evidence(folder: Path, histories: list[WorkflowHistory], timeline: Timeline) -> Path:
    """Write history.json, timeline.md, timeline.json and manifest.json, and
    history-run<k>.json for each earlier run of a workflow that continued as
    new (k = 1 for the first run; history.json is always the newest).

    The manifest carries the SHA-256 of each file as written, so whoever
    receives the pack can prove it was not altered afterwards; each history
    is the raw Temporal JSON `om replay` accepts.
    """
    folder.mkdir(parents=True, exist_ok=True)
    *earlier, newest = histories
    contents = {
        "history.json": newest.to_json(),
        "timeline.md": timeline.to_markdown(),
        "timeline.json": timeline.model_dump_json(indent=2),
    }
    names = list(EVIDENCE_FILES)
    for k, run in enumerate(earlier, 1):
        contents[EARLIER_RUN_FILE.format(k)] = run.to_json()
        names.append(EARLIER_RUN_FILE.format(k))
    files = []
    for name in names:
        data = contents[name].encode("utf-8")
        (folder / name).write_bytes(data)
        files.append({"name": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})
    manifest = {
        "opportunity_id": timeline.opportunity_id,
        "workflow_id": timeline.workflow_id,
        "run_id": timeline.run_id,
        "runs": timeline.runs,
        "status": timeline.status,
        "event_count": timeline.event_count,
        "generated_at": datetime.now(UTC).isoformat(),
        "generated_by": "om audit --evidence",
        "files": files,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return folder.resolve()


# ---- om history export ------------------------------------------------------------------


def history_export(
    opportunity_id: OpportunityId,
    file: Annotated[Path, typer.Argument(metavar="FILE", show_default=False)],
    all_runs: Annotated[
        bool,
        typer.Option(
            "--all-runs",
            help="Also write each earlier run (the workflow continued as new) beside FILE, "
            "as STEM.run<k>.json (k = 1 for the first run).",
            metavar="",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the opportunity's workflow history as Temporal JSON (for `om replay`).

    FILE gets the newest run: what a worker replays to pick the workflow up.
    A workflow that continued as new has earlier runs, each a history of its
    own; `--all-runs` writes them too (`om audit --evidence` always does)."""
    *earlier, history = run_async(lambda: _fetch(opportunity_id))
    files = {file: history}
    if all_runs:
        for k, run in enumerate(earlier, 1):
            files[file.with_name(f"{file.stem}.run{k}{file.suffix}")] = run
    try:
        if file.parent != Path():
            file.parent.mkdir(parents=True, exist_ok=True)
        for path, run in files.items():
            path.write_text(run.to_json())
    except OSError as error:
        fail(f"cannot write {file}: {error.strerror or error}")
    result = {
        "workflow_id": history.workflow_id,
        "run_id": history.run_id,
        "events": len(history.events),
        "file": str(file),
        "runs": len(earlier) + 1,
        "earlier_runs": [str(path) for path in list(files)[1:]],
    }
    text = (
        f"wrote {result['events']} events of {history.workflow_id} (run {history.run_id}) to {file}"
    )
    if earlier and all_runs:
        text += f"; its {len(earlier)} earlier run(s) beside it"
    elif earlier:
        text += f"; it continues {len(earlier)} earlier run(s): --all-runs writes them too"
    emit(result, as_json, text)


# ---- om replay ---------------------------------------------------------------------------


def replay(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="History JSON files, or directories (every *.json in them, recursively).",
            metavar="FILE_OR_DIR...",
        ),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(
            "--query",
            help=f'Also replay the workflows this visibility query lists, e.g. "{DEFAULT_QUERY}".',
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            help="Processes replaying side by side (1: in this process). Default: one per CPU, "
            f"with at least {HISTORIES_PER_PROCESS} histories each. Output stays in input order.",
            metavar="N",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Replay histories against today's workflow code; exit 1 if any fails."""
    if not paths and not query:
        fail('give history files or directories, or --query (e.g. --query "' + DEFAULT_QUERY + '")')
    if jobs is not None and jobs < 1:
        fail(f"--jobs: must be 1 or more, got {jobs}")
    sources: list[ReplaySource] = []
    seen: set[Path] = set()
    for path in paths or []:
        if not path.exists():
            fail(f"no such file or directory: {path}")
        for source in file_sources(path):
            assert source.path is not None
            if source.path.resolve() not in seen:  # a file named twice replays once
                seen.add(source.path.resolve())
                sources.append(source)
    if query:
        sources.extend(run_async(lambda: _query_sources(query)))
    if not sources:
        fail(
            "nothing to replay: no *.json histories found"
            + (" and no workflows matched" if query else "")
        )
    prepare()
    jobs = min(jobs, len(sources)) if jobs is not None else default_jobs(len(sources))
    outcomes, skipped = _replay_all(sources, jobs, show_progress=not as_json)
    failed = [o for o in outcomes if not o.ok]
    ok = len(outcomes) - len(failed)
    noun = "history" if len(outcomes) == 1 else "histories"
    summary = f"replayed {len(outcomes)} {noun}: {ok} ok, {len(failed)} failed" + (
        f" ({len(skipped)} JSON files that are not histories skipped)" if skipped else ""
    )
    emit(
        {
            "replayed": len(outcomes),
            "ok": ok,
            "failed": len(failed),
            "skipped": skipped,
            "results": [
                {"source": o.source, "workflow_id": o.workflow_id, "ok": o.ok, "error": o.error}
                for o in outcomes
            ],
        },
        as_json,
        summary,
    )
    if failed:
        raise typer.Exit(1)


async def _query_sources(query: str) -> list[ReplaySource]:
    client = await _client()
    return [
        ReplaySource(
            label=f"{execution.id} (run {execution.run_id})",
            workflow_id=execution.id,
            run_id=execution.run_id or "",
        )
        async for execution in client.list_workflows(query)
    ]


def _replay_all(
    sources: list[ReplaySource], jobs: int, show_progress: bool
) -> tuple[list[ReplayOutcome], list[str]]:
    """Replay every source, in this process (`jobs` 1) or in `jobs` processes,
    printing a line per history in input order; also the JSON files found in
    directories that are not histories (skipped)."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from domain.errors import OmError

    out = _stdout()
    outcomes: list[ReplayOutcome] = []
    skipped: list[str] = []
    progress = Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=out,
        transient=True,
        disable=not (show_progress and out.is_terminal),
    )
    task = progress.add_task("", total=len(sources))

    def report(position: int, outcome: ReplayOutcome | None) -> None:
        progress.update(task, advance=1, description=sources[position].label)
        if outcome is None:  # not a history: skipped, not counted
            skipped.append(sources[position].label)
            return
        outcomes.append(outcome)
        if not show_progress:
            return
        if outcome.ok:
            progress.console.print(f"[green]ok[/green]    {escape(outcome.source)}")
        else:
            progress.console.print(
                f"[red]FAIL[/red]  {escape(outcome.source)}: {escape(outcome.error or '')}"
            )

    with progress:
        if jobs == 1:
            run_async(lambda: replay_in_process(sources, report))
        else:
            try:
                replay_in_processes(sources, jobs, report)
            except OmError as error:  # the same one line as in-process
                fail(str(error))
    return outcomes, skipped
