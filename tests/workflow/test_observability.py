"""Observability end to end: the Temporal runtime's Prometheus endpoint,
the API's /metrics, and OpenTelemetry spans through Temporal's interceptor,
each around a real approval cycle on the time-skipping server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from om.settings import Settings
from om.telemetry import runtime_for
from tests.conftest import venv_binary
from tests.devserver import free_port
from tests.workflow.conftest import BILLING, OM, Harness, new_payload, running_harness
from workers.search_attributes import ensure_search_attributes

WORKFLOW = "OpportunityApprovalWorkflow"


async def approve_saas_deal(harness: Harness, example_payload: dict) -> str:
    """One short cycle: submit, OM approves, Billing approves, completed."""
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    await harness.approvals.decide(opp.id, OM, "om", "approve")
    await harness.approvals.decide(opp.id, BILLING, "finance", "approve")
    assert (await harness.finish(opp.id)).stage == "completed"
    return opp.id


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text as {(sample name, labels): value}."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


# ---- Temporal SDK metrics ------------------------------------------------------------


@pytest.fixture(scope="module")
async def metrics_env() -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    """A test server whose client (and so its workers) runs on the runtime
    serving SDK metrics at `metrics_bind`."""
    bind = f"127.0.0.1:{free_port()}"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        runtime=runtime_for(Settings(metrics_bind=bind)),
    )
    await ensure_search_attributes(env.client)
    yield env, bind
    await env.shutdown()


async def test_worker_runtime_serves_temporal_sdk_metrics_for_prometheus(
    metrics_env, request, example_payload
):
    env, bind = metrics_env
    async with running_harness(env, request) as harness:
        await approve_saas_deal(harness, example_payload)
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://{bind}/metrics", timeout=5)
    assert response.status_code == 200
    # The SDK's counters carry no _total suffix (PrometheusConfig default),
    # so look them up by family name.
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    completed = [
        sample.value
        for sample in families["temporal_workflow_completed"].samples
        if sample.labels.get("workflow_type") == WORKFLOW
        and sample.labels.get("task_queue") == harness.settings.task_queue
    ]
    assert completed == [1]
    operations = {sample.labels.get("operation") for sample in families["temporal_request"].samples}
    assert {"StartWorkflowExecution", "QueryWorkflow"} <= operations
    assert families["temporal_workflow_task_schedule_to_start_latency"].type == "histogram"
    assert families["temporal_activity_execution_latency"].type == "histogram"


# ---- API metrics -------------------------------------------------------------------------


async def test_api_metrics_count_requests_by_route_template_and_decisions_by_outcome(
    harness, example_payload
):
    app = create_app(harness.settings, harness.env.client)
    transport = httpx.ASGITransport(app=app)
    om = {"Authorization": "Bearer demo-om-amer"}
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
        opp = await harness.submit(new_payload(example_payload, deployment="saas"))
        url = f"/opportunities/{opp.id}"
        assert (await api.get(url, headers=om)).status_code == 200
        assert (await api.get("/opportunities/006NOTHERE", headers=om)).status_code == 404
        billing = {"Authorization": "Bearer demo-billing"}  # reads it, may not decide OM
        approve = {"stage": "om", "action": "approve"}
        assert (
            await api.post(f"{url}/decisions", headers=billing, json=approve)
        ).status_code == 403
        assert (await api.post(f"{url}/decisions", headers=om, json=approve)).status_code == 200
        assert (await api.post(f"{url}/decisions", headers=om, json=approve)).status_code == 409
        assert (await api.get("/no/such/page")).status_code == 404
        response = await api.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    scraped = samples(response.text)

    def requests(method: str, route: str, status: int) -> float:
        labels = {"method": method, "route": route, "status": str(status)}
        return scraped.get(("http_requests_total", frozenset(labels.items())), 0)

    route = "/opportunities/{opportunity_id}"
    assert requests("GET", route, 200) == 1 and requests("GET", route, 404) == 1
    assert requests("POST", route + "/decisions", 403) == 1
    assert requests("POST", route + "/decisions", 200) == 1
    assert requests("POST", route + "/decisions", 409) == 1
    assert requests("GET", "<unmatched>", 404) == 1
    assert not any(opp.id in str(labels) for _, labels in scraped), "raw paths leak into labels"
    timed = {"method": "GET", "route": route}
    assert scraped[("http_request_duration_seconds_count", frozenset(timed.items()))] == 2

    def decisions(outcome: str) -> float:
        labels = {"stage": "om", "action": "approve", "outcome": outcome}
        return scraped.get(("om_decisions_total", frozenset(labels.items())), 0)

    assert (decisions("accepted"), decisions("forbidden"), decisions("conflict")) == (1, 1, 1)


async def test_api_metrics_off_means_no_metrics_route(harness):
    settings = harness.settings.model_copy(update={"api_metrics": False})
    app = create_app(settings, harness.env.client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
        assert (await api.get("/metrics")).status_code == 404


# ---- OpenTelemetry -----------------------------------------------------------------------


async def test_tracing_interceptor_on_the_client_traces_client_and_worker(
    time_skipping_env, request, example_payload
):
    """The interceptor on the client alone: the worker built from that client
    traces the workflow and its activities under the client's span."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = time_skipping_env.client.config()
    traced = Client(
        **{
            **config,
            "interceptors": [
                *config["interceptors"],
                TracingInterceptor(tracer=provider.get_tracer("om-test")),
            ],
        }
    )
    async with running_harness(WorkflowEnvironment.from_client(traced), request) as harness:
        await approve_saas_deal(harness, example_payload)

    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert f"StartWorkflow:{WORKFLOW}" in names, sorted(names)
    assert f"RunWorkflow:{WORKFLOW}" in names
    assert "StartWorkflowUpdate:decide" in names
    assert any(name.startswith("RunActivity:") for name in names)
    start = next(s for s in spans if s.name == f"StartWorkflow:{WORKFLOW}")
    run = next(s for s in spans if s.name == f"RunWorkflow:{WORKFLOW}")
    assert run.context.trace_id == start.context.trace_id  # one trace, client to worker
