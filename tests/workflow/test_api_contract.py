"""The API as a contract: idempotency keys that refuse a changed request,
authorization before validation, and least privilege in reading deals,
through the real app against the real workflow (time-skipping server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from domain.errors import KeyReused
from domain.policy import Role, RosterUser
from tests.workflow.conftest import Harness, new_payload
from tests.workflow.test_console import sign_in

OM_AMER = {"Authorization": "Bearer demo-om-amer"}
OM_AMER_2 = {"Authorization": "Bearer second-om-amer"}
OM_EMEA = {"Authorization": "Bearer demo-om-emea"}
BILLING = {"Authorization": "Bearer demo-billing"}
AUDITOR = {"Authorization": "Bearer demo-auditor"}
OWNER = {"Authorization": "Bearer demo-riley-rep"}  # owns the example payload
OTHER_REP = {"Authorization": "Bearer demo-emma-rep"}
APPROVE = {"stage": "om", "action": "approve"}
REJECT = {"stage": "om", "action": "reject", "reasons": ["PO_MISSING"], "comment": "attach it"}


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    # A second AMER specialist: keys must not answer across callers.
    harness.settings.roster.append(
        RosterUser(
            email="om2.amer@example.com",
            role=Role.ORDER_MANAGEMENT,
            regions=harness.settings.user("om.amer@example.com").regions,  # type: ignore[union-attr]
            token="second-om-amer",
        )
    )
    app = create_app(harness.settings, harness.env.client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


def _decisions(status: dict) -> list[str]:
    return [h["action"] for h in status["history"] if h["actor"] != "workflow"]


# ---- idempotency ----------------------------------------------------------------------


async def test_a_key_reused_for_a_different_decision_is_422_and_changes_nothing(
    api, harness, example_payload
):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    url = f"/opportunities/{opp.id}/decisions"
    keyed = {**OM_AMER, "Idempotency-Key": "click-1"}
    first = await api.post(url, headers=keyed, json=APPROVE)
    assert first.status_code == 200, first.text
    assert (await api.post(url, headers=keyed, json=APPROVE)).json() == first.json()
    before = (await api.get(f"/opportunities/{opp.id}", headers=OM_AMER)).json()

    for changed in (
        REJECT,  # another action
        {**APPROVE, "round": 1},  # the same decision pinned to a round
        {**APPROVE, "comment": "looks fine"},
        {"stage": "finance", "action": "approve"},
    ):
        reused = await api.post(url, headers=keyed, json=changed)
        assert reused.status_code == 422, (changed, reused.text)
        body = reused.json()
        assert body["code"] == "idempotency_key_reused"
        assert "'click-1' was already used for a different request" in body["message"]
    after = (await api.get(f"/opportunities/{opp.id}", headers=OM_AMER)).json()
    assert after["stage"] == before["stage"] == "finance_review"
    assert after["history"] == before["history"]


async def test_keys_are_scoped_to_the_caller_and_the_opportunity(api, harness, example_payload):
    first_opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    second_opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    keyed = {**OM_AMER, "Idempotency-Key": "k"}
    approved = await api.post(
        f"/opportunities/{first_opp.id}/decisions", headers=keyed, json=APPROVE
    )
    assert approved.status_code == 200
    # Another person's same key is not the first answer: their decision is judged (409).
    other = await api.post(
        f"/opportunities/{first_opp.id}/decisions",
        headers={**OM_AMER_2, "Idempotency-Key": "k"},
        json=APPROVE,
    )
    assert other.status_code == 409 and other.json()["code"] == "conflict"
    # The same key on another opportunity is a new request there, even a different one.
    rejected = await api.post(
        f"/opportunities/{second_opp.id}/decisions", headers=keyed, json=REJECT
    )
    assert rejected.status_code == 200, rejected.text
    assert (await harness.status(second_opp.id)).stage == "rejected"


# ---- authorization before validation -----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{}", b'{"stage": "nope", "action": 7}', b'{"stage": "om"', b""],
    ids=["not-json", "empty-object", "wrong-values", "truncated", "no-body"],
)
async def test_callers_who_may_not_decide_get_403_whatever_the_body(api, body):
    url = "/opportunities/bad id!/decisions"  # not even a valid id
    for who in (AUDITOR, OWNER):
        response = await api.post(url, headers=who, content=body)
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"
    assert (await api.post(url, content=body)).status_code == 401
    checked = await api.post("/opportunities/006X/decisions", headers=OM_AMER, content=body)
    assert checked.status_code == 422 and checked.json()["errors"], checked.text
    assert (
        await api.post("/opportunities/006X/recall", headers=OM_AMER, content=body)
    ).status_code == 403


async def test_a_malformed_decision_names_each_field(api):
    response = await api.post(
        "/opportunities/006X/decisions", headers=OM_AMER, json={"stage": "nope"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid" and body["detail"] == body["message"]
    assert {e["field"] for e in body["errors"]} == {"body.stage", "body.action"}
    unknown = await api.post(
        "/opportunities/006X/decisions",
        headers=OM_AMER,
        json={**REJECT, "reasons": ["NOPE"]},
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_reason_code"
    assert unknown.json()["errors"][0]["field"] == "body.reasons"


# ---- least privilege -----------------------------------------------------------------


async def test_reps_read_and_act_on_their_own_deals_only(api, harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas", amount=987654.0))
    url = f"/opportunities/{opp.id}"
    never = await api.get("/opportunities/006NEVERSUBMITTED", headers=OTHER_REP)
    assert (await api.get(url, headers=OWNER)).status_code == 200
    for who in (BILLING, AUDITOR, OM_AMER):
        assert (await api.get(url, headers=who)).status_code == 200
    for who in (OTHER_REP, OM_EMEA):  # not theirs; not their region, no cover, no breach
        hidden = await api.get(url, headers=who)
        assert hidden.status_code == 404
        # The same answer as for an id never submitted: nothing to probe.
        assert hidden.json()["code"] == never.json()["code"] == "not_found"
        assert hidden.json()["message"] == never.json()["message"].replace(
            "006NEVERSUBMITTED", opp.id
        )
    for action in ("recall", "resubmit"):
        refused = await api.post(f"{url}/{action}", headers=OTHER_REP, json={})
        assert refused.status_code == 404, refused.text
        text = refused.text
        assert "riley" not in text.lower() and "987" not in text and "Acme" not in text
    assert (await harness.status(opp.id)).stage == "om_review"
    recalled = await api.post(f"{url}/recall", headers=OWNER, json={})
    assert recalled.status_code == 200


async def test_the_console_shows_another_reps_deal_as_not_found(harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    app = create_app(harness.settings, harness.env.client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as console:
        csrf = await sign_in(console, "demo-emma-rep")
        page = await console.get(f"/console/opportunities/{opp.id}")
        assert page.status_code == 404
        assert "riley" not in page.text.lower() and "Acme" not in page.text
        recall = await console.post(
            f"/console/opportunities/{opp.id}/rep",
            data={"csrf": csrf, "action": "recall", "comment": ""},
        )
        assert recall.status_code == 404 and "riley" not in recall.text.lower()
    assert (await harness.status(opp.id)).stage == "om_review"
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as console:
        await sign_in(console, "demo-riley-rep")
        own = await console.get(f"/console/opportunities/{opp.id}")
        assert own.status_code == 200 and "Acme" in own.text


async def test_reps_list_no_queue(dev_harness, example_payload):
    """Queue rows name other people's deals, amounts and assignees (a dev
    server: listing needs its visibility API)."""
    opp = await dev_harness.submit(new_payload(example_payload, deployment="saas"))
    app = create_app(dev_harness.settings, dev_harness.env.client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        for _ in range(200):  # the specialist sees it once it is listed
            listed = await client.get("/queue", headers=OM_AMER)
            if any(r["opportunity_id"] == opp.id for r in listed.json()):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"{opp.id} never listed")
        for who in (OWNER, OTHER_REP):
            refused = await client.get("/queue", headers=who)
            assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        await sign_in(client, "demo-om-amer")
        assert f'<tr data-id="{opp.id}"' in (await client.get("/console/queue")).text
        await sign_in(client, "demo-riley-rep")  # the owner: still no queue
        page = await client.get("/console/queue")
        assert page.status_code == 200 and "<tr data-id=" not in page.text
        assert opp.id not in page.text


async def test_an_update_id_reused_for_another_action_is_refused(harness, example_payload):
    """The same id on a recall and then a resubmit (the console's form ids,
    the CLI's --update-id) is another request, though the argument is equal."""
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    rep = "riley.rep@example.com"
    await harness.approvals.rep_action(opp.id, "recall", rep, update_id=f"{rep}:u1")
    again = await harness.approvals.rep_action(opp.id, "recall", rep, update_id=f"{rep}:u1")
    assert again.stage == "recalled"
    with pytest.raises(KeyReused, match="'u1' was already used for a different request"):
        await harness.approvals.rep_action(opp.id, "resubmit", rep, update_id=f"{rep}:u1")
    assert (await harness.status(opp.id)).stage == "recalled"
