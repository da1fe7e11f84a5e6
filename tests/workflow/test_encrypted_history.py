"""With payload encryption on, Temporal's history holds no plaintext PII.

A separate time-skipping server whose client and worker use the encrypted
converter runs the contract example through a rejection; the history is then
read the way the server's database holds it, by a client without the codec.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.models import Opportunity
from om.approvals import Approvals
from om.codec import ENCODING, EncryptionCodec, PayloadEncryption, data_converter_for, new_key
from om.settings import Settings
from tests.conftest import venv_binary
from tests.workflow.conftest import OM
from tests.workflow.fakes import FakeSystems
from workers.search_attributes import ensure_search_attributes
from workers.worker import build_worker

OLD_KEY, NEW_KEY = new_key(), new_key()
COMMENT = "Rejected: the PO for Zanzibar-4471 is missing"


class EncryptedSettings(Settings):
    payload_encryption: PayloadEncryption = PayloadEncryption()


def _settings(**keys: str) -> EncryptedSettings:
    return EncryptedSettings(
        task_queue=f"test-enc-{uuid.uuid4()}",
        cover_business_days=0,
        payload_encryption=PayloadEncryption(
            enabled=True, keys={k: SecretStr(v) for k, v in keys.items()}
        ),
    )


@pytest.fixture(scope="module")
async def encrypted_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"),
        data_converter=data_converter_for(_settings(old=OLD_KEY)),
    )
    await ensure_search_attributes(env.client)
    yield env
    await env.shutdown()


def _payloads(node: Any, user_data_only: bool = False) -> list[dict[str, Any]]:
    """Every Payload object in a history's JSON. `user_data_only` leaves out
    what no codec touches by design: search attributes (the server indexes
    them) and the SDK's own marker bookkeeping (patch ids, local activity
    timing); the plaintext check still covers them, so they hold no PII."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if isinstance(node.get("metadata"), dict) and "encoding" in node["metadata"]:
            found.append(node)
        for key, value in node.items():
            if user_data_only and key == "searchAttributes":
                continue
            if user_data_only and key == "markerRecordedEventAttributes":
                value = {"result": value.get("details", {}).get("result")}
            found.extend(_payloads(value, user_data_only))
    elif isinstance(node, list):
        for value in node:
            found.extend(_payloads(value, user_data_only))
    return found


def _raw_text(history: WorkflowHistory) -> str:
    """The history JSON plus every payload's data base64-decoded: what
    anyone reading the server's database could see."""
    raw = history.to_json()
    decoded = [base64.b64decode(p.get("data", "")) for p in _payloads(json.loads(raw))]
    return raw + "\n".join(d.decode("utf-8", errors="replace") for d in decoded)


async def _decoded_text(history: WorkflowHistory, codec: EncryptionCodec) -> str:
    payloads = [
        json_format.ParseDict(p, Payload()) for p in _payloads(json.loads(history.to_json()))
    ]
    opened = await codec.decode(payloads)
    return "\n".join(p.data.decode("utf-8", errors="replace") for p in opened)


async def test_history_holds_no_plaintext_and_rotation_keeps_it_readable(
    encrypted_env: WorkflowEnvironment, example_payload: dict[str, Any]
):
    settings = _settings(old=OLD_KEY)
    payload = {**example_payload, "id": "006ENC" + uuid.uuid4().hex[:10].upper()}
    payload["deployment"] = "saas"
    opportunity = Opportunity.model_validate(payload)
    secrets = {
        opportunity.owner.email,
        payload["quote"]["sold_to"]["email"],
        payload["quote"]["bill_to"]["email"],
        COMMENT,
        # The queue row's memo (names, account) is a payload too: sealed.
        f'"{opportunity.account.name}"',
    }
    client = encrypted_env.client
    approvals = Approvals(client, settings)
    async with build_worker(client, settings, activities=FakeSystems().activities()):
        workflow_id, started = await approvals.submit(opportunity)
        assert started
        for _ in range(250):
            status = await approvals.status(opportunity.id)
            if status.stage == "om_review" and status.pending_effects == 0:
                break
        await approvals.decide(opportunity.id, OM, "om", "reject", ["PO_MISSING"], COMMENT)
        status = await approvals.status(opportunity.id)
        assert status.stage == "rejected"  # the codec client reads status normally

    plain = Client(
        client.service_client,
        namespace=client.namespace,
        data_converter=pydantic_data_converter,
    )
    history = await plain.get_workflow_handle(workflow_id).fetch_history()
    raw = _raw_text(history)
    leaked = {s for s in secrets if s in raw}
    assert not leaked, f"plaintext in history: {leaked}"
    payloads = _payloads(json.loads(history.to_json()), user_data_only=True)
    assert payloads and all(
        base64.b64decode(p["metadata"]["encoding"]) == ENCODING for p in payloads
    )

    # Rotation: a codec with a new active key still opens what the old key sealed;
    # the check is meaningful because the decoded history does hold the secrets.
    rotated = EncryptionCodec.from_settings(_settings(new=NEW_KEY, old=OLD_KEY).payload_encryption)
    assert rotated.active_key_id == "new"
    opened = await _decoded_text(history, rotated)
    assert secrets <= {s for s in secrets if s in opened}
    without_old = EncryptionCodec.from_settings(_settings(new=NEW_KEY).payload_encryption)
    with pytest.raises(ValueError, match="unknown key id 'old'"):
        await _decoded_text(history, without_old)
