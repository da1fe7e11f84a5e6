"""Bad input and access: whatever arrives, the answer is 2xx or 4xx, never
5xx; a refused request starts nothing and changes nothing already accepted.

Property-based (hypothesis) against the API on the time-skipping harness and
against the CLI's file inputs, plus one explicit test per attack in the
attack table of docs/security.md ("Attacks tried by the tests").
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from typer.testing import CliRunner

from api.app import create_app
from api.intake import MAX_BODY_BYTES, SIGNATURE_HEADER, sign
from domain.policy import Role
from domain.reasons import ReasonCode
from om.settings import load_settings
from tests.workflow.conftest import Harness, new_payload, wait_stage

SECRET = "s3cret"
TOKENS = [
    "demo-om-amer",
    "demo-om-emea",
    "demo-om-apac",
    "demo-billing",
    "demo-auditor",
    "demo-riley-rep",
    "demo-emma-rep",
    "not-a-token",
]
OM_AMER = {"Authorization": "Bearer demo-om-amer"}
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_CLEAN_ID = re.compile(r"^[A-Za-z0-9]{1,40}$")

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    harness.settings.intake_secret = SecretStr(SECRET)
    app = create_app(harness.settings, harness.env.client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(body, secret), "Content-Type": "application/json"}


async def _status(api: httpx.AsyncClient, opportunity_id: str) -> httpx.Response:
    return await api.get(f"/opportunities/{opportunity_id}", headers=OM_AMER)


def _mutate(payload: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """`payload` with the field at `path` replaced by `value` (or removed
    when `value` is the sentinel `...`)."""
    changed = copy.deepcopy(payload)
    node = changed
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return changed


def _paths(payload: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[list[str]]:
    found = []
    for key, value in payload.items():
        found.append([*prefix, key])
        if isinstance(value, dict):
            found.extend(_paths(value, (*prefix, key)))
    return found


# --- intake ------------------------------------------------------------------------------


@PROPERTY
@given(body=st.binary(max_size=2000), signature=st.one_of(st.none(), st.text(max_size=80)))
async def test_intake_unsigned_or_forged_random_bytes_are_401(api, body, signature):
    headers = {} if signature is None else {SIGNATURE_HEADER: signature.encode().hex()[:128]}
    response = await api.post("/intake/salesforce", content=body, headers=headers)
    assert response.status_code == 401, response.text


@PROPERTY
@given(data=st.data())
async def test_intake_signed_mutations_are_202_or_422_and_422_starts_nothing(
    api, harness, example_payload, data
):
    payload = new_payload(example_payload, deployment="saas")
    path = data.draw(st.sampled_from([p for p in _paths(payload) if p != ["id"]]))
    value = data.draw(st.one_of(st.just(...), json_values))
    body = json.dumps(_mutate(payload, path, value)).encode()
    response = await api.post("/intake/salesforce", content=body, headers=_signed(body))
    assert response.status_code in (202, 422), response.text
    status = await _status(api, payload["id"])
    if response.status_code == 422:
        assert status.status_code == 404, f"{path}={value!r} was refused but started"
    else:
        harness.started.append(response.json()["workflow_id"])
        assert status.status_code == 200


@PROPERTY
@given(body=json_values)
async def test_intake_signed_random_json_is_4xx_and_starts_nothing(api, body):
    raw = json.dumps(body).encode()
    response = await api.post("/intake/salesforce", content=raw, headers=_signed(raw))
    assert response.status_code == 422, response.text
    if isinstance(body, dict) and isinstance(body.get("id"), str) and _CLEAN_ID.match(body["id"]):
        assert (await _status(api, body["id"])).status_code == 404


# --- decisions ---------------------------------------------------------------------------

decision_bodies = st.one_of(
    st.fixed_dictionaries(
        {
            "stage": st.sampled_from(["om", "finance"]) | text,
            "action": st.sampled_from(["approve", "reject"]) | text,
        },
        optional={
            "reasons": st.lists(st.sampled_from([c.value for c in ReasonCode]) | text, max_size=3),
            "comment": text,
            "round": st.none() | st.integers(-3, 5) | text,
            "acknowledged": st.lists(text, max_size=2),
        },
    ),
    json_values,
)


def _snapshot(status: dict[str, Any]) -> tuple[Any, ...]:
    return (status["stage"], status["round"], status["om_approver"], len(status["rounds"]))


@PROPERTY
@given(token=st.sampled_from(TOKENS), body=decision_bodies, round_trip=st.booleans())
async def test_random_decisions_are_2xx_4xx_and_change_nothing_unless_200(
    api, harness, example_payload, token, body, round_trip
):
    if not hasattr(harness, "pending"):
        harness.pending = (await harness.submit(new_payload(example_payload, deployment="saas"))).id
    opportunity_id = harness.pending
    before = (await _status(api, opportunity_id)).json()
    response = await api.post(
        f"/opportunities/{opportunity_id}/decisions",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code < 500, response.text
    after = (await _status(api, opportunity_id)).json()
    if response.status_code != 200:
        assert _snapshot(after) == _snapshot(before), response.text


# --- CLI file inputs ---------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("cli-input")


def _no_traceback(result: Any) -> None:
    assert result.exit_code in (0, 1), (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output


@PROPERTY
@given(content=st.one_of(json_values.map(json.dumps), text))
def test_om_check_random_text_exits_0_or_1_without_traceback(cli_dir, content):
    from cli.main import app

    file = cli_dir / "opp.json"
    file.write_text(content)
    _no_traceback(runner.invoke(app, ["check", str(file)]))


@PROPERTY
@given(data=st.data())
def test_om_check_mutated_example_exits_0_or_1_without_traceback(cli_dir, example_payload, data):
    from cli.main import app

    path = data.draw(st.sampled_from(_paths(example_payload)))
    value = data.draw(st.one_of(st.just(...), json_values))
    file = cli_dir / "opp.json"
    file.write_text(json.dumps(_mutate(example_payload, path, value)))
    _no_traceback(runner.invoke(app, ["check", str(file), "--json"]))


@settings(max_examples=5, deadline=None)
@given(content=st.binary(max_size=200).filter(lambda b: not _is_utf8(b)))
def test_om_check_non_utf8_bytes_exits_1_without_traceback(cli_dir, content):
    from cli.main import app

    file = cli_dir / "opp.bin"
    file.write_bytes(content)
    _no_traceback(runner.invoke(app, ["check", str(file)]))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


@pytest.fixture(scope="module")
def sandbox_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from sandbox.server import Sandbox

    running = Sandbox(tmp_path_factory.mktemp("om-home-bad-input"))
    info = running.start()
    try:
        yield str(info.home)
    finally:
        running.stop()


@PROPERTY
@given(data=st.data())
def test_om_sandbox_seed_random_files_exit_0_or_1_without_traceback(
    sandbox_home, cli_dir, example_payload, data
):
    from cli.sandbox import sandbox_app

    opportunity = dict(example_payload, id="006SEED" + uuid.uuid4().hex[:9].upper())
    path = data.draw(st.sampled_from(_paths(opportunity)))
    value = data.draw(st.one_of(st.just(...), json_values))
    seed = {"opportunities": [_mutate(opportunity, path, value)], "delivered_licenses": []}
    content = data.draw(
        st.one_of(
            st.just(json.dumps(seed).encode()),
            json_values.map(lambda v: json.dumps(v).encode()),
            st.binary(max_size=200),
        )
    )
    file = cli_dir / "seed.json"
    file.write_bytes(content)
    load_settings.cache_clear()
    try:
        result = runner.invoke(sandbox_app, ["seed", str(file)], env={"OM_HOME": sandbox_home})
    finally:
        load_settings.cache_clear()
    _no_traceback(result)


# --- the attack table, one explicit test per row --------------------------------------------


async def test_forged_and_missing_signature_are_401(api, example_payload):
    body = json.dumps(new_payload(example_payload)).encode()
    forged = await api.post("/intake/salesforce", content=body, headers=_signed(body, "guess"))
    missing = await api.post("/intake/salesforce", content=body)
    assert (forged.status_code, missing.status_code) == (401, 401)
    assert (await _status(api, json.loads(body)["id"])).status_code == 404


async def test_replayed_signed_body_is_202_same_id_and_changes_nothing(
    api, harness, example_payload
):
    payload = new_payload(example_payload, deployment="saas")
    body = json.dumps(payload).encode()
    first = await api.post("/intake/salesforce", content=body, headers=_signed(body))
    assert first.status_code == 202 and first.json()["started"] is True
    harness.started.append(first.json()["workflow_id"])
    await wait_stage(harness, payload["id"], "om_review")
    approved = await api.post(
        f"/opportunities/{payload['id']}/decisions",
        headers=OM_AMER,
        json={"stage": "om", "action": "approve"},
    )
    assert approved.status_code == 200
    before = (await _status(api, payload["id"])).json()
    replay = await api.post("/intake/salesforce", content=body, headers=_signed(body))
    assert replay.status_code == 202
    assert replay.json() == {"workflow_id": first.json()["workflow_id"], "started": False}
    after = (await _status(api, payload["id"])).json()
    assert _snapshot(after) == _snapshot(before) and after["stage"] == "finance_review"


async def test_oversized_body_is_413_before_signature_and_starts_nothing(api, example_payload):
    payload = new_payload(example_payload)
    payload["name"] = "x" * MAX_BODY_BYTES
    body = json.dumps(payload).encode()
    response = await api.post("/intake/salesforce", content=body, headers=_signed(body))
    assert response.status_code == 413 and "1 MiB" in response.json()["detail"]

    async def chunks():  # no Content-Length: the limit holds while streaming
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    streamed = await api.post("/intake/salesforce", content=chunks(), headers=_signed(body))
    assert streamed.status_code == 413
    assert (await _status(api, payload["id"])).status_code == 404
    at_limit = b" " * (MAX_BODY_BYTES - 2) + b"{}"
    small = await api.post("/intake/salesforce", content=at_limit, headers=_signed(at_limit))
    assert small.status_code == 422  # exactly 1 MiB is read and judged on content


async def _decide(api, opportunity_id: str, token: str, **body: Any) -> httpx.Response:
    return await api.post(
        f"/opportunities/{opportunity_id}/decisions",
        headers={"Authorization": f"Bearer {token}"},
        json=body,
    )


async def test_access_attacks_on_a_pending_opportunity(api, harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    before = (await _status(api, opp.id)).json()
    observed = {
        "other_region": await _decide(api, opp.id, "demo-om-emea", stage="om", action="approve"),
        "own_deal": await _decide(api, opp.id, "demo-riley-rep", stage="om", action="approve"),
        "other_rep": await _decide(api, opp.id, "demo-emma-rep", stage="om", action="approve"),
        "auditor": await _decide(api, opp.id, "demo-auditor", stage="om", action="approve"),
        "billing_early": await _decide(
            api, opp.id, "demo-billing", stage="finance", action="approve"
        ),
        "no_token": await api.post(
            f"/opportunities/{opp.id}/decisions", json={"stage": "om", "action": "approve"}
        ),
        "unknown_token": await _decide(api, opp.id, "forged", stage="om", action="approve"),
    }
    auditor_recall = await api.post(
        f"/opportunities/{opp.id}/recall",
        headers={"Authorization": "Bearer demo-auditor"},
        json={},
    )
    codes = {name: r.status_code for name, r in observed.items()}
    assert codes == {
        "other_region": 404,  # not theirs to read: as for an unknown id
        "own_deal": 403,
        "other_rep": 403,
        "auditor": 403,
        "billing_early": 409,
        "no_token": 401,
        "unknown_token": 401,
    }, {name: r.text for name, r in observed.items()}
    assert auditor_recall.status_code == 403
    assert "AMER" not in observed["other_region"].json()["detail"]
    assert "role rep" in observed["own_deal"].json()["detail"]
    assert "read-only" in observed["auditor"].json()["detail"]
    assert _snapshot((await _status(api, opp.id)).json()) == _snapshot(before)


async def test_specialist_deciding_a_deal_they_own_is_403(api, harness, example_payload):
    """A rep is stopped by role first; the own-deal rule is what stops an OM
    specialist who is also the opportunity's owner."""
    owner = {"id": "0055e00000OM0001", "name": "Alex OM", "email": "OM.Amer@example.com"}
    opp = await harness.submit(new_payload(example_payload, deployment="saas", owner=owner))
    response = await _decide(api, opp.id, "demo-om-amer", stage="om", action="approve")
    assert response.status_code == 403 and "own deal" in response.json()["detail"]
    assert (await _status(api, opp.id)).json()["stage"] == "om_review"


async def test_same_person_at_both_stages_is_403(api, harness, example_payload):
    """Roles are one per person, so this rule bites when someone changes
    team mid-round: the OM approver, moved to Billing, may not also approve
    as Billing."""
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    assert (await _decide(api, opp.id, "demo-om-amer", stage="om", action="approve")).is_success
    await wait_stage(harness, opp.id, "finance_review")
    moved = harness.settings.user("om.amer@example.com")
    assert moved is not None
    moved.role = Role.BILLING
    response = await _decide(api, opp.id, "demo-om-amer", stage="finance", action="approve")
    assert response.status_code == 403 and "both stages" in response.json()["detail"]
    assert (await _status(api, opp.id)).json()["stage"] == "finance_review"


async def test_unknown_opportunity_is_404(api):
    decided = await _decide(api, "006NOSUCHOPP", "demo-om-amer", stage="om", action="approve")
    status = await _status(api, "006NOSUCHOPP")
    assert (decided.status_code, status.status_code) == (404, 404)
    assert "006NOSUCHOPP" in decided.json()["detail"]
