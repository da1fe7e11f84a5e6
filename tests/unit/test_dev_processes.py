"""`RecordedProcess.find`: which live process a record in
`<home>/dev-processes.json` names."""

from __future__ import annotations

import os

from cli.dev_processes import RecordedProcess


def test_a_start_time_a_second_off_is_still_the_same_process():
    """Another process can compute a start time a second off (its boot time
    read after the wall clock was stepped): still ours."""
    me = RecordedProcess.of(os.getpid(), "test")
    assert me.find() is not None
    assert me.model_copy(update={"create_time": me.create_time + 1.0}).find() is not None
    assert me.model_copy(update={"create_time": me.create_time - 1.0}).find() is not None


def test_another_start_time_or_command_line_is_another_process():
    me = RecordedProcess.of(os.getpid(), "test")
    assert me.model_copy(update={"create_time": me.create_time - 60}).find() is None
    assert me.model_copy(update={"cmdline": [*me.cmdline, "other"]}).find() is None
