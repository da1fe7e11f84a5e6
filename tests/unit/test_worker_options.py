"""Worker cache, slots and pollers come from settings (`OM_WORKER__*`)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from temporalio.worker import PollerBehaviorSimpleMaximum

from om.settings import Settings, WorkerTuning
from workers.worker import worker_options


def test_unset_tuning_keeps_the_sdk_defaults_except_the_documented_cache():
    assert worker_options(WorkerTuning()) == {"max_cached_workflows": 1000}


def test_worker_tuning_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OM_WORKER__MAX_CACHED_WORKFLOWS", "250")
    monkeypatch.setenv("OM_WORKER__WORKFLOW_TASK_POLLERS", "10")
    monkeypatch.setenv("OM_WORKER__MAX_CONCURRENT_ACTIVITIES", "20")

    options = worker_options(Settings().worker)

    assert options["max_cached_workflows"] == 250
    assert options["max_concurrent_activities"] == 20
    assert options["workflow_task_poller_behavior"] == PollerBehaviorSimpleMaximum(10)
    assert "activity_task_poller_behavior" not in options


def test_a_negative_cache_size_or_a_single_workflow_poller_is_refused():
    with pytest.raises(ValidationError, match="max_cached_workflows"):
        WorkerTuning(max_cached_workflows=-1)
    # The SDK needs two: one for the sticky queue, one for the shared one.
    with pytest.raises(ValidationError, match="workflow_task_pollers"):
        WorkerTuning(workflow_task_pollers=1)
