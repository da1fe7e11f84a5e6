"""`om audit`, `om history export` and `om replay`: what auditors run.

`om audit` renders an opportunity's timeline from its Temporal event history
(workers.audit), optionally as an evidence pack whose files are fingerprinted
in a manifest, so what was handed over can be checked later. `om replay`
proves recorded histories are what today's workflow code would do: CI runs it
over tests/histories, operators over live workflows (`--query`).

Mounted by cli/main.py with `register(app)`. The helpers of cli.main are
imported inside the commands because cli.main imports this module.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHistory

    from workers.audit import Timeline

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
DEFAULT_QUERY = "WorkflowType='OpportunityApprovalWorkflow'"
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
    """The Temporal client, with cli.main's one-line error when it is unreachable."""
    from cli.main import _approvals

    return (await _approvals()).client


async def _fetch(opportunity_id: str) -> list[WorkflowHistory]:
    """The histories of the opportunity's workflow, oldest run first: one run,
    or several when it continued as new (`workers.audit.fetch_runs`)."""
    from temporalio.service import RPCError, RPCStatusCode

    from domain.errors import NotSubmitted
    from workers.audit import fetch_runs
    from workers.client import workflow_id_for

    client = await _client()
    try:
        return await fetch_runs(client, workflow_id_for(opportunity_id))
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise NotSubmitted(opportunity_id) from error
        raise


def _stdout() -> Console:
    # Built per command so it writes to the sys.stdout of the moment (CliRunner);
    # lines never wrap (one line per history), tables get room in a pipe.
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


# ---- om audit ------------------------------------------------------------------------


def audit(
    opportunity_id: str,
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
    from cli.main import emit, fail, run_async
    from domain.errors import OmError
    from workers.audit import build_timeline

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
    from workers.audit import who

    console = _stdout()
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
            f"{entry.at_local:%Y-%m-%d %H:%M:%S %Z}",
            entry.kind,
            escape(who(entry)),
            "" if entry.round is None else str(entry.round),
            escape(entry.summary),
        )
    console.print(grid)
    runs = (
        f"runs {', '.join(timeline.runs)}" if len(timeline.runs) > 1 else f"run {timeline.run_id}"
    )
    console.print(f"workflow {escape(timeline.workflow_id)}, {escape(runs)}")
    for note in timeline.notes:
        console.print(f"note: {escape(note)}")


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
    opportunity_id: str,
    file: Path,
    all_runs: Annotated[
        bool,
        typer.Option(
            "--all-runs",
            help="Also write each earlier run (the workflow continued as new) beside FILE, "
            "as STEM.run<k>.json (k = 1 for the first run).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the opportunity's workflow history as Temporal JSON (for `om replay`).

    FILE gets the newest run: what a worker replays to pick the workflow up.
    A workflow that continued as new has earlier runs, each a history of its
    own; `--all-runs` writes them too (`om audit --evidence` always does)."""
    from cli.main import emit, fail, run_async

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


@dataclass
class ReplayOutcome:
    """One history's verdict: ok, a replay failure, or a history that could not be read."""

    source: str
    workflow_id: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Source:
    """A history to replay: a file, or a workflow run found by the visibility query."""

    label: str
    path: Path | None = None
    workflow_id: str = ""
    run_id: str = ""
    from_directory: bool = False


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
    as_json: JsonOpt = False,
) -> None:
    """Replay histories against today's workflow code; exit 1 if any fails."""
    from cli.main import emit, fail, run_async

    if not paths and not query:
        fail('give history files or directories, or --query (e.g. --query "' + DEFAULT_QUERY + '")')
    sources: list[_Source] = []
    seen: set[Path] = set()
    for path in paths or []:
        if not path.exists():
            fail(f"no such file or directory: {path}")
        for source in _file_sources(path):
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
    outcomes, skipped = run_async(lambda: _replay_all(sources, show_progress=not as_json))
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


def _file_sources(path: Path) -> Iterator[_Source]:
    if path.is_dir():
        for found in sorted(path.rglob("*.json")):
            yield _Source(label=str(found), path=found, from_directory=True)
    else:
        yield _Source(label=str(path), path=path)


async def _query_sources(query: str) -> list[_Source]:
    client = await _client()
    return [
        _Source(
            label=f"{execution.id} (run {execution.run_id})",
            workflow_id=execution.id,
            run_id=execution.run_id or "",
        )
        async for execution in client.list_workflows(query)
    ]


def history_workflow_id(text_or_data: str | dict[str, Any], fallback: str) -> str:
    """The workflow id a history JSON names (newer servers record it in the start
    event), else `fallback` (the file name): `WorkflowHistory.from_json` needs one."""
    data = json.loads(text_or_data) if isinstance(text_or_data, str) else text_or_data
    events = data.get("events") or []
    started = events[0].get("workflowExecutionStartedEventAttributes", {}) if events else {}
    return started.get("workflowId") or fallback


def _load_file(source: _Source) -> WorkflowHistory | None:
    """The history in a file; None for a JSON file in a directory that is not a
    history (an evidence pack's manifest, say). Raises ValueError with a reason."""
    from temporalio.client import WorkflowHistory

    assert source.path is not None
    try:
        data = json.loads(source.path.read_text())
    except OSError as error:
        raise ValueError(f"cannot read: {error.strerror or error}") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        if source.from_directory:
            return None
        raise ValueError(f"not JSON: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        if source.from_directory:
            return None
        raise ValueError("not a workflow history (no events)")
    try:
        return WorkflowHistory.from_json(history_workflow_id(data, source.path.stem), data)
    except Exception as error:  # protobuf's parse errors have no common base
        raise ValueError(f"not a readable workflow history: {error}") from error


def _quiet_runtime() -> Any:
    """A Temporal runtime that keeps the replayer's own warnings (the same
    nondeterminism error, as a log line) off the terminal: we print them once."""
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        ),
        worker_heartbeat_interval=None,
    )


_FAILURE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


def describe_replay_failure(error: BaseException) -> str:
    """One line: the error type and the message Temporal's core put inside its
    `Failure { message: "..." }` debug text (the nondeterminism explanation)."""
    text = str(error)
    found = _FAILURE_MESSAGE.search(text)
    message = found.group(1).replace('\\"', '"').replace("\\'", "'") if found else text
    return f"{type(error).__name__}: {' '.join(message.split())}"


async def _replay_all(
    sources: list[_Source], show_progress: bool
) -> tuple[list[ReplayOutcome], list[str]]:
    """Replay every source in one replayer worker, a line per history; also
    the JSON files found in directories that are not histories (skipped)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.service import RPCError
    from temporalio.worker import Replayer

    from workflows import ALL_WORKFLOWS

    console = _stdout()
    outcomes: list[ReplayOutcome] = []
    progress = Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=True,
        disable=not (show_progress and console.is_terminal),
    )
    task = progress.add_task("", total=len(sources))
    pushed: list[_Source] = []
    skipped: list[str] = []

    def report(outcome: ReplayOutcome) -> None:
        outcomes.append(outcome)
        progress.advance(task)
        if not show_progress:
            return
        if outcome.ok:
            progress.console.print(f"[green]ok[/green]    {escape(outcome.source)}")
        else:
            progress.console.print(
                f"[red]FAIL[/red]  {escape(outcome.source)}: {escape(outcome.error or '')}"
            )

    async def histories() -> AsyncIterator[WorkflowHistory]:
        client = None
        for source in sources:
            progress.update(task, description=source.label)
            try:
                if source.path is not None:
                    history = _load_file(source)
                    if history is None:  # not a history: skipped, not counted
                        skipped.append(source.label)
                        progress.advance(task)
                        continue
                else:
                    client = client or await _client()
                    handle = client.get_workflow_handle(source.workflow_id, run_id=source.run_id)
                    history = await handle.fetch_history()
            except (ValueError, RPCError) as error:
                report(ReplayOutcome(source.label, source.workflow_id, str(error)))
                continue
            pushed.append(source)
            yield history

    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        data_converter=pydantic_data_converter,
        runtime=_quiet_runtime(),
    )
    python_logger = logging.getLogger("temporalio")
    level = python_logger.level
    python_logger.setLevel(logging.ERROR)
    try:
        with progress:
            async with replayer.workflow_replay_iterator(histories()) as results:
                async for result in results:
                    # One history at a time: the result is the last one handed over.
                    source = pushed[-1]
                    error = result.replay_failure
                    report(
                        ReplayOutcome(
                            source.label,
                            result.history.workflow_id,
                            describe_replay_failure(error) if error else None,
                        )
                    )
    finally:
        python_logger.setLevel(level)
    return outcomes, skipped
