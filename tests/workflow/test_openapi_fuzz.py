"""`GET /openapi.json` checked against the answers the API really gives.

Schemathesis (pinned in the `test` extra) reads the document from a real
uvicorn server on a free port, whose app talks to a real Temporal dev
server and a worker with fake external systems, and sends generated
requests (valid and invalid) to every operation as an auditor and as an
Order Management specialist, on default settings and with payload
encryption on. It must find no 5xx, no undocumented status, no body or
header that breaks the document. A seeded opportunity is offered for half
the generated ids, so reads and decisions reach a real workflow, not only
404s. Fixed seed and example counts keep the run bounded and repeatable.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic import SecretStr
from temporalio.client import Client

from api.app import create_app
from cli.dev import DEMO_INTAKE_SECRET
from domain.models import Opportunity
from loadtest.ports import free_port
from om.approvals import Approvals
from om.codec import PayloadEncryption, data_converter_for, new_key
from om.settings import Settings
from tests.conftest import venv_binary
from tests.devserver import dev_server
from tests.workflow.conftest import new_payload
from tests.workflow.fakes import FakeSystems
from workers.search_attributes import ensure_search_attributes
from workers.worker import build_worker

SEED = 20261130
MAX_EXAMPLES = 12
"""Per operation and phase: about 700 requests per run of both tokens."""
TOKENS = ("demo-auditor", "demo-om-amer")
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance,ignored_auth"
)


class _Settings(Settings):
    # Only what the test sets: no settings file or OM_* variable of the machine.
    payload_encryption: PayloadEncryption = PayloadEncryption()


def _settings(encrypted: bool) -> Settings:
    """The `make run` defaults (its demo intake secret included), on a test
    task queue; with encryption on, one fresh key."""
    encryption = (
        PayloadEncryption(enabled=True, keys={"fuzz": SecretStr(new_key())})
        if encrypted
        else PayloadEncryption()
    )
    return _Settings(
        task_queue=f"test-fuzz-{uuid.uuid4()}",
        intake_secret=SecretStr(DEMO_INTAKE_SECRET),
        payload_encryption=encryption,
    )


def _config(path: Path, opportunity_id: str) -> Path:
    """The run's schemathesis.toml: the seeded id offered for half the ids."""
    path.write_text(
        "[dictionaries.seeded]\n"
        f"values = [{json.dumps(opportunity_id)}]\n\n"
        "[parameters]\n"
        '"path.opportunity_id" = { dictionary = "seeded", probability = 0.5 }\n'
    )
    return path


async def _schemathesis(base_url: str, token: str, config: Path, report: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        venv_binary("st"),
        "--config-file",
        str(config),
        "run",
        f"{base_url}/openapi.json",
        "--url",
        base_url,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        # One worker: Python 3.11.7's ast.parse, which hypothesis calls to
        # describe strategies, is not thread-safe (SystemError with several).
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=config.parent,  # its cache (.schemathesis/) stays out of the checkout
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def _serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            return server, serving
        assert not serving.done(), "uvicorn did not start"
        await asyncio.sleep(0.05)
    raise AssertionError("uvicorn did not start in 10 s")


@pytest.mark.parametrize("encrypted", [False, True], ids=["default", "encrypted"])
async def test_the_openapi_document_holds_under_fuzzing(
    encrypted: bool, example_payload: dict[str, Any], tmp_path: Path
):
    settings = _settings(encrypted)
    (tmp_path / "temporal").mkdir()
    with dev_server(tmp_path / "temporal") as address:
        await _fuzz(settings, address, example_payload, tmp_path)


async def _fuzz(
    settings: Settings, address: str, example_payload: dict[str, Any], tmp_path: Path
) -> None:
    client = await Client.connect(address, data_converter=data_converter_for(settings))
    await ensure_search_attributes(client)
    async with build_worker(client, settings, activities=FakeSystems().activities()):
        seeded = Opportunity.model_validate(new_payload(example_payload, deployment="saas"))
        await Approvals(client, settings).submit(seeded)
        server, serving = await _serve(create_app(settings, client), free_port())
        try:
            base_url = f"http://127.0.0.1:{server.config.port}"
            config = _config(tmp_path / "schemathesis.toml", seeded.id)
            for token in TOKENS:
                code, output = await _schemathesis(
                    base_url, token, config, tmp_path / f"{token}.xml"
                )
                assert code == 0, f"schemathesis as {token}:\n{output[-12000:]}"
                assert "No issues found" in output or " passed" in output, output[-4000:]
        finally:
            server.should_exit = True
            await serving
