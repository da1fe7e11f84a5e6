"""The engine behind `om replay`: histories in, one verdict per history out.

An auditor replays a thousand histories at a time, so the cost per history
matters. Most of it is Temporal's core and our workflow code replaying the
events; then come the workflow sandbox importing the workflow modules afresh
for every history, and JSON turned into protobuf (docs/performance.md,
"Replay at audit scale").
Three things keep it small:

* one `Replayer` serves every history of a process, so the sandbox checks
  the workflow classes once rather than once per history;
* the workflow modules' bytecode is written first (`precompile_workflows`,
  as the worker does), so the sandbox's imports do not compile them again;
* with `jobs > 1` the histories are dealt round-robin to that many spawned
  processes, one Replayer each, and the verdicts are handed back in input
  order, so the output does not depend on which process finished first.

`cli.audit.replay` is the command; this module never prints.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue as queue_module
import re
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.errors import OmError

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from temporalio.client import Client, WorkflowHistory

# Below this many histories per process, starting one more process (most of a
# second of imports and setup) costs about what it saves (docs/performance.md).
HISTORIES_PER_PROCESS = 75


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
class ReplaySource:
    """A history to replay: a file, or a workflow run found by the visibility query."""

    label: str
    path: Path | None = None
    workflow_id: str = ""
    run_id: str = ""
    from_directory: bool = False


# Called once per source with its position in the input and its verdict;
# None for a JSON file found in a directory that is not a history (skipped).
OnResult = Callable[[int, ReplayOutcome | None], None]


class ReplayAborted(OmError):
    """Replaying cannot go on (Temporal unreachable for `--query` histories, a
    replay process that failed outright); the message is one line for a person."""


def file_sources(path: Path) -> Iterator[ReplaySource]:
    """The histories a command-line argument names: the file, or every *.json
    under the directory (recursively, sorted, so the order is reproducible)."""
    if path.is_dir():
        for found in sorted(path.rglob("*.json")):
            yield ReplaySource(label=str(found), path=found, from_directory=True)
    else:
        yield ReplaySource(label=str(path), path=path)


def history_workflow_id(text_or_data: str | dict[str, Any], fallback: str) -> str:
    """The workflow id a history JSON names (newer servers record it in the start
    event), else `fallback` (the file name): `WorkflowHistory.from_json` needs one."""
    data = json.loads(text_or_data) if isinstance(text_or_data, str) else text_or_data
    events = data.get("events") or []
    started = events[0].get("workflowExecutionStartedEventAttributes", {}) if events else {}
    return started.get("workflowId") or fallback


def load_history_file(source: ReplaySource) -> WorkflowHistory | None:
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


_FAILURE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


def describe_replay_failure(error: BaseException) -> str:
    """One line: the error type and the message Temporal's core put inside its
    `Failure { message: "..." }` debug text (the nondeterminism explanation)."""
    text = str(error)
    found = _FAILURE_MESSAGE.search(text)
    message = found.group(1).replace('\\"', '"').replace("\\'", "'") if found else text
    return f"{type(error).__name__}: {' '.join(message.split())}"


def default_jobs(histories: int) -> int:
    """One process per CPU this process may run on, but none with fewer than
    HISTORIES_PER_PROCESS histories: for a handful, in-process is quicker."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, histories // HISTORIES_PER_PROCESS))


def prepare() -> None:
    """Write the workflow modules' bytecode if missing: the sandbox imports
    them again for every history, and without bytecode (PYTHONDONTWRITEBYTECODE)
    each of those imports compiles the source."""
    from workers.worker import precompile_workflows

    precompile_workflows()


# ---- in one process ------------------------------------------------------------------


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


@contextlib.contextmanager
def _sdk_logging_silenced() -> Iterator[None]:
    """The SDK logs each failed activation with its traceback (an unknown
    workflow type, say); the verdict line says the same once, so hold the
    SDK's log while replaying."""
    sdk_logger = logging.getLogger("temporalio")
    level = sdk_logger.level
    sdk_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        sdk_logger.setLevel(level)


async def _connect() -> Client:
    # The CLI's client: one line (an OmError) when Temporal is out of reach.
    from cli.common import connect_temporal
    from om.settings import load_settings

    return await connect_temporal(load_settings())


async def replay_in_process(sources: list[ReplaySource], on_result: OnResult) -> None:
    """Replay `sources` in order in one Replayer, calling `on_result` for each
    as soon as its verdict is known (so also in input order).

    A history that cannot be read or fetched gets its reason as the verdict;
    a Temporal that cannot be reached for `--query` runs raises
    `Unavailable` (an OmError) from the CLI's client (cli.common)."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.service import RPCError
    from temporalio.worker import Replayer

    from workflows import ALL_WORKFLOWS

    pushed: list[int] = []  # positions handed to the replayer, in order

    async def histories() -> AsyncIterator[WorkflowHistory]:
        client = None
        for position, source in enumerate(sources):
            try:
                if source.path is not None:
                    history = load_history_file(source)
                    if history is None:  # not a history: skipped, not counted
                        on_result(position, None)
                        continue
                else:
                    client = client or await _connect()
                    handle = client.get_workflow_handle(source.workflow_id, run_id=source.run_id)
                    history = await handle.fetch_history()
            except (ValueError, RPCError) as error:
                on_result(position, ReplayOutcome(source.label, source.workflow_id, str(error)))
                continue
            pushed.append(position)
            yield history

    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        data_converter=pydantic_data_converter,
        runtime=_quiet_runtime(),
        # Replay ignores the build id; left unset, the SDK derives one by
        # reading the code of every loaded module (0.1 s in each process).
        build_id="om-replay",
    )
    with _sdk_logging_silenced():
        async with replayer.workflow_replay_iterator(histories()) as results:
            async for result in results:
                # One history at a time: the result is the last one handed over.
                position = pushed[-1]
                error = result.replay_failure
                on_result(
                    position,
                    ReplayOutcome(
                        sources[position].label,
                        result.history.workflow_id,
                        describe_replay_failure(error) if error else None,
                    ),
                )


# ---- in several processes -------------------------------------------------------------


def replay_in_processes(sources: list[ReplaySource], jobs: int, on_result: OnResult) -> None:
    """Replay `sources` in `jobs` spawned processes, calling `on_result` in
    input order.

    Round-robin dealing keeps every process's next history close to the
    next one to report, so verdicts stream out instead of waiting for a whole
    chunk. Spawned, not forked: a fork would copy Temporal's runtime threads
    in an undefined state. A process that dies leaves its remaining histories
    each with a failed verdict saying so; one that fails outright (Temporal
    unreachable) raises ReplayAborted with its reason."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    messages: Queue[tuple[Any, ...]] = context.Queue()
    shares = [list(range(worker, len(sources), jobs)) for worker in range(jobs)]
    processes = [
        context.Process(
            target=_replay_share,
            args=(worker, [(p, sources[p]) for p in share], messages),
            name=f"om-replay-{worker}",
            daemon=True,
        )
        for worker, share in enumerate(shares)
    ]
    verdicts: dict[int, ReplayOutcome | None] = {}
    next_position = 0
    finished: set[int] = set()

    def settle(position: int, outcome: ReplayOutcome | None) -> None:
        nonlocal next_position
        verdicts[position] = outcome
        while next_position in verdicts:
            on_result(next_position, verdicts.pop(next_position))
            next_position += 1

    def handle(message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "result":
            settle(message[1], message[2])
        elif kind == "done":
            finished.add(message[1])
        elif kind == "aborted":
            raise ReplayAborted(message[2])

    try:
        for process in processes:
            process.start()
        while len(finished) < jobs:
            try:
                handle(messages.get(timeout=0.5))
                continue
            except queue_module.Empty:
                pass
            for worker, process in enumerate(processes):
                if worker in finished or process.is_alive():
                    continue
                # Died without saying done: take what it sent, fail the rest.
                with contextlib.suppress(queue_module.Empty):
                    while True:
                        handle(messages.get(timeout=0.2))
                if worker in finished:
                    continue
                finished.add(worker)
                reason = f"replay process exited with code {process.exitcode} before this history"
                for position in shares[worker]:
                    if position < next_position or position in verdicts:
                        continue
                    source = sources[position]
                    settle(position, ReplayOutcome(source.label, source.workflow_id, reason))
    finally:
        for process in processes:
            if process.pid is None:  # never started
                continue
            if process.is_alive():
                process.terminate()
            process.join()
        messages.close()


def _one_line(error: Exception) -> str | None:
    """The line `om` prints for an error a person can act on (Temporal out of
    reach, say), worded as cli.common.run_async words it in-process; None for
    any other error."""
    from temporalio.service import RPCError

    from cli.errors import describe_rpc_error, describe_service_error
    from om.settings import load_settings

    if isinstance(error, OmError):
        return describe_service_error(error, load_settings()) or str(error)
    if isinstance(error, RPCError):
        return describe_rpc_error(error, load_settings().temporal_address)
    return None


def _replay_share(
    worker: int,
    share: list[tuple[int, ReplaySource]],
    messages: Queue[tuple[Any, ...]],
) -> None:
    """A spawned process's work: replay its share in one Replayer, sending
    each verdict with its input position, then "done".

    Ends with os._exit, as `om` itself does: Temporal's runtime threads can
    abort the interpreter while it finalizes, which would turn the process's
    clean end into a crash the parent would have to tell apart."""
    import asyncio

    sources = [source for _, source in share]

    def send(position: int, outcome: ReplayOutcome | None) -> None:
        messages.put(("result", share[position][0], outcome))

    code = 0
    try:
        asyncio.run(replay_in_process(sources, send))
        messages.put(("done", worker))
    except BaseException as error:  # whatever it is, the parent gets one line
        line = _one_line(error) if isinstance(error, Exception) else None
        if line is None:
            last = traceback.extract_tb(error.__traceback__)[-1:]
            where = f" (at {last[0].filename}:{last[0].lineno})" if last else ""
            line = f"replay process failed: {error!r}{where}"
            code = 1
        messages.put(("aborted", worker, line))
    finally:
        messages.close()
        messages.join_thread()
        os._exit(code)
