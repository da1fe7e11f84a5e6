"""What `om dev` started, written down so the next `om dev` can clean up.

`om dev` runs the sandbox, the worker and the API inside its own process:
they die with it. The Temporal dev server is a child process in a session
of its own (so Ctrl-C in the terminal reaches `om dev` alone, which stops
the worker before the server). That server outlives an `om dev` that is
killed (OOM killer, a closed terminal, `kill -9`): it keeps port 7233 and
its SQLite file, and the next `make run` could not start.

So `om dev` writes `<home>/dev-processes.json` (atomically) naming itself
and the server: pid, start time and command line. The next `om dev` on the
same home reads it and stops a server left over from a crash before it
starts its own. A pid alone is not proof: after a reboot or enough process
churn the same pid can belong to any program, so a process is only taken
for the recorded one when its start time and its command line (which names
the home's `temporal.db`) match too. Anything else is never signalled.

We stop the leftover rather than adopt it: the new `om dev` then owns a
server it started itself (its child, its log, today's ports and flags), and
the server's clean shutdown on SIGINT flushes SQLite before the new one
opens the file. A restart costs a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import time
from pathlib import Path

import psutil
from pydantic import BaseModel, ValidationError

RECORD_FILE = "dev-processes.json"
# psutil computes a start time as the boot time (`btime` of /proc/stat, read
# once per process) plus clock ticks since boot. `btime` is derived from the
# wall clock, so when the clock is stepped (a VM resumed, NTP) two processes
# can read it a second or more apart, and an exact comparison then disowns a
# live server `om dev` itself started (seen: the server was left running).
# Two seconds absorbs that; a pid reused within two seconds of the recorded
# start by the same command line (which names this home's database) is not
# a real case.
_SAME_START = 2.0


class RecordedProcess(BaseModel, frozen=True):
    """One process `om dev` owns, with what proves a live process is it."""

    role: str
    """What it is, in the words the one-line report uses ("Temporal server")."""
    pid: int
    create_time: float
    """psutil's start time (seconds since the epoch)."""
    cmdline: list[str]
    ports: list[int] = []

    @classmethod
    def of(cls, pid: int, role: str, ports: list[int] | None = None) -> RecordedProcess:
        """Record the running process `pid` as it is now (psutil.NoSuchProcess if gone)."""
        process = psutil.Process(pid)
        with process.oneshot():
            return cls(
                role=role,
                pid=pid,
                create_time=process.create_time(),
                cmdline=process.cmdline(),
                ports=ports or [],
            )

    def find(self) -> psutil.Process | None:
        """The live process this record names, or None: gone, a zombie, or
        the pid now belongs to another program (start time or command line
        differ) or to another user (not ours to look at)."""
        try:
            process = psutil.Process(self.pid)
            with process.oneshot():
                if abs(process.create_time() - self.create_time) > _SAME_START:
                    return None
                if process.status() == psutil.STATUS_ZOMBIE:
                    return None
                if process.cmdline() != self.cmdline:
                    return None
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        return process


class DevProcesses(BaseModel, frozen=True):
    """The content of `<home>/dev-processes.json`."""

    home: str
    owner: RecordedProcess
    """The `om dev` process itself: alive means the home is in use."""
    children: list[RecordedProcess] = []


class HomeInUse(Exception):
    """Another `om dev` is running on the same home; the message says which."""


def record_path(home: Path) -> Path:
    return home / RECORD_FILE


def write_record(home: Path, record: DevProcesses) -> None:
    """Replace the record atomically: a crash mid-write leaves the old file
    or the new one, never half of one."""
    target = record_path(home)
    fd, partial = tempfile.mkstemp(dir=home, prefix=f".{RECORD_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(record.model_dump_json(indent=2) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def read_record(home: Path) -> DevProcesses | None:
    """The record, or None when there is none or it cannot be read (an
    unreadable record cannot prove any process is ours, so none is touched)."""
    try:
        return DevProcesses.model_validate_json(record_path(home).read_text())
    except (OSError, ValueError, ValidationError):
        return None


def clear_record(home: Path) -> None:
    """Forget the record: `om dev` stopped everything it started."""
    with contextlib.suppress(FileNotFoundError):
        record_path(home).unlink()


def record_started(home: Path, children: list[RecordedProcess]) -> None:
    """Write the record for this `om dev` process and the `children` it started."""
    write_record(
        home,
        DevProcesses(
            home=str(home), owner=RecordedProcess.of(os.getpid(), "om dev"), children=children
        ),
    )


def stop_leftovers(home: Path, timeout: float = 15.0) -> list[str]:
    """Stop the processes an earlier `om dev` on `home` started and left
    running when it died; return one line per process stopped.

    Raises HomeInUse when the `om dev` that wrote the record is still
    running: its server is in use, not left over. Processes that are gone
    or are not the recorded ones are left alone. Each leftover gets SIGINT
    (the server's clean shutdown), then SIGKILL if it is still running
    after `timeout` seconds. The record is removed afterwards."""
    record = read_record(home)
    if record is None:
        return []
    owner = record.owner.find()
    if owner is not None and owner.pid != os.getpid():
        raise HomeInUse(
            f"another `om dev` (pid {owner.pid}) is running on {home}: stop it first "
            "(Ctrl-C in its terminal), or set OM_HOME to another folder"
        )
    lines = []
    for child in record.children:
        process = child.find()
        if process is None:
            continue
        how = _stop(process, timeout)
        lines.append(
            f"om dev: {how} the {child.role} (pid {child.pid}) left by an earlier run "
            "that did not stop cleanly"
        )
    clear_record(home)
    return lines


def _stop(process: psutil.Process, timeout: float) -> str:
    """SIGINT, then SIGKILL after `timeout`; returns what it took ("stopped", "killed").

    psutil checks the start time again before each signal, so a pid reused
    since `find` is never hit."""
    try:
        process.send_signal(signal.SIGINT)
        if _gone(process, timeout):
            return "stopped"
        process.kill()
    except psutil.NoSuchProcess:
        return "stopped"
    _gone(process, 5.0)
    return "killed"


def _gone(process: psutil.Process, timeout: float) -> bool:
    """Wait until `process` has exited. Not our child, so no `wait()`: a
    zombie (exited, not yet reaped by its new parent) counts as gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False
