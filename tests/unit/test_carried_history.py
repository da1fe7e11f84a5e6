"""Continue-as-new without a server: the history entries a continued run
carries (workflows.opportunity_approval) and the threshold setting.

A deal that bounces for years would carry an ever longer list into each new
run's input; past a limit the oldest entries are summed up in one entry
(they stay in the earlier runs' event histories, which `om audit` reads)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.models import HistoryEntry
from om.settings import Settings
from workflows.opportunity_approval import _CARRIED_HISTORY_ENTRIES, _HISTORY_TRIMMED, _trimmed

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def entries(count: int, start: int = 0) -> list[HistoryEntry]:
    return [
        HistoryEntry(at=T0 + timedelta(minutes=n), actor="workflow", action=f"a{n}", round=n // 6)
        for n in range(start, start + count)
    ]


def test_a_history_within_the_limit_is_carried_whole():
    history = entries(_CARRIED_HISTORY_ENTRIES)
    assert _trimmed(history) == history


def test_the_oldest_entries_are_summed_up_in_one_entry():
    history = entries(_CARRIED_HISTORY_ENTRIES + 500)
    carried = _trimmed(history)
    assert len(carried) == _CARRIED_HISTORY_ENTRIES
    assert carried[1:] == history[-(_CARRIED_HISTORY_ENTRIES - 1) :]
    summary = carried[0]
    assert summary.action == _HISTORY_TRIMMED
    assert summary.detail.startswith("501 earlier entries")
    assert (summary.at, summary.round) == (carried[1].at, carried[1].round)


def test_a_second_trim_adds_to_the_count_of_the_first():
    first = _trimmed(entries(_CARRIED_HISTORY_ENTRIES + 500))
    grown = first + entries(300, start=_CARRIED_HISTORY_ENTRIES + 500)
    again = _trimmed(grown)
    assert len(again) == _CARRIED_HISTORY_ENTRIES
    # 501 summed up before, then 300 more entries pushed out (the old summary among them)
    assert again[0].detail.startswith(f"{501 + 300} earlier entries")
    assert again[-1] == grown[-1]


@pytest.mark.parametrize(("text", "threshold"), [("150", 150), ("", None), ("none", None)])
def test_threshold_setting_reads_from_the_environment(monkeypatch, text, threshold):
    monkeypatch.setenv("OM_CONTINUE_AS_NEW_AFTER_EVENTS", text)
    assert Settings().continue_as_new_after_events == threshold


def test_threshold_below_one_event_is_refused_naming_the_setting(monkeypatch):
    monkeypatch.setenv("OM_CONTINUE_AS_NEW_AFTER_EVENTS", "0")
    with pytest.raises(ValidationError, match="continue_as_new_after_events"):
        Settings()
