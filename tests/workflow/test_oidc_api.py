"""OIDC access tokens on the API, against a real local OpenID provider.

The provider (`oidc-provider-mock`, tests/oidc_provider.py) signs JWTs with
its own key and publishes it at its JWKS; the API finds the JWKS through
discovery. The JWTs here are the provider's ID tokens, issued through the
real code flow to a client id: the one the API accepts as audience, or
another. Roster tokens (service accounts) are covered by test_api.py.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import jwt
import pytest
from pydantic import SecretStr
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.models import Region
from domain.policy import Role
from om.identity import GroupGrant, OidcSettings
from om.settings import PayloadEncryption, Settings
from tests.oidc_provider import Provider, oidc_provider
from tests.workflow.conftest import Harness, new_payload, running_harness

CLIENT_ID = "om-api"
GROUPS = {
    "om-emea": GroupGrant(role=Role.ORDER_MANAGEMENT, regions=[Region.EMEA]),
    "auditors": GroupGrant(role=Role.AUDITOR),
}


def _oidc(provider: Provider, **changes: object) -> OidcSettings:
    return OidcSettings(
        issuer=provider.issuer,
        client_id=CLIENT_ID,
        client_secret=SecretStr("test-secret"),
        groups=GROUPS,
        **changes,
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _authenticated(client: httpx.AsyncClient, token: str) -> httpx.Response:
    """A request that needs no Temporal: the codec endpoint with encryption
    off answers 200 (payloads unchanged) once the caller is authenticated
    (and may read histories)."""
    return await client.post("/codec/decode", json={"payloads": []}, headers=_bearer(token))


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with oidc_provider() as running:
        running.set_user("alex", {"email": "om.amer@example.com", "name": "Alex"})
        running.set_user("ann", {"email": "ann@corp.example", "groups": ["om-emea", "staff"]})
        running.set_user("olga", {"email": "olga@corp.example", "groups": ["auditors"]})
        running.set_user("riley", {"email": "riley.rep@example.com"})
        running.set_user("stranger", {"email": "nobody@corp.example", "groups": ["staff"]})
        yield running


@pytest.fixture
async def harness(
    request: pytest.FixtureRequest, time_skipping_env: WorkflowEnvironment
) -> AsyncIterator[Harness]:
    async with running_harness(time_skipping_env, request) as h:
        yield h


@pytest.fixture
async def api(harness: Harness, provider: Provider) -> AsyncIterator[httpx.AsyncClient]:
    harness.settings.oidc = _oidc(provider)
    app = create_app(harness.settings, harness.env.client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def test_a_valid_jwt_acts_with_the_roster_entry_of_its_email(
    api, harness, provider, example_payload
):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    token = provider.id_token("alex", CLIENT_ID)
    status = await api.get(f"/opportunities/{opp.id}", headers=_bearer(token))
    assert status.status_code == 200, status.text
    approved = await api.post(
        f"/opportunities/{opp.id}/decisions",
        headers=_bearer(token),
        json={"stage": "om", "action": "approve"},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["stage"] == "finance_review"
    # The rep's own JWT: the same four-eyes and role rules as their roster token.
    rep = await api.post(
        f"/opportunities/{opp.id}/decisions",
        headers=_bearer(provider.id_token("riley", CLIENT_ID)),
        json={"stage": "finance", "action": "approve"},
    )
    assert rep.status_code == 403


async def test_a_person_mapped_by_group_gets_that_groups_role_and_regions(
    api, harness, provider, example_payload
):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))  # AMER
    emea = await harness.submit(
        new_payload(
            example_payload,
            deployment="saas",
            account={**example_payload["account"], "country": "GB", "region": "EMEA"},
        )
    )
    token = provider.id_token("ann", CLIENT_ID)
    assert (await api.get(f"/opportunities/{emea.id}", headers=_bearer(token))).status_code == 200
    # An EMEA specialist (the group's regions) does not read an AMER deal
    # without cover or breach: 404 as for an unknown id, the region unnamed.
    assert (await api.get(f"/opportunities/{opp.id}", headers=_bearer(token))).status_code == 404
    other_region = await api.post(
        f"/opportunities/{opp.id}/decisions",
        headers=_bearer(token),
        json={"stage": "om", "action": "approve"},
    )
    assert other_region.status_code == 404, other_region.text
    assert "AMER" not in other_region.json()["detail"]
    decided = await api.post(
        f"/opportunities/{emea.id}/decisions",
        headers=_bearer(token),
        json={"stage": "om", "action": "approve"},
    )
    assert decided.status_code == 200, decided.text


async def test_wrong_audience_wrong_issuer_and_tampered_jwts_are_401_naming_the_check(
    api, provider
):
    wrong_audience = await api.get(
        "/opportunities/006X", headers=_bearer(provider.id_token("alex", "another-app"))
    )
    assert wrong_audience.status_code == 401
    assert "wrong audience" in wrong_audience.json()["detail"]
    assert "invalid_token" in wrong_audience.headers["www-authenticate"]

    # Same key, but issued as http://127.0.0.1:<port>: another issuer.
    other_host = f"http://127.0.0.1:{provider.port}"
    wrong_issuer = await api.get(
        "/opportunities/006X", headers=_bearer(provider.id_token("alex", CLIENT_ID, other_host))
    )
    assert wrong_issuer.status_code == 401
    assert "wrong issuer" in wrong_issuer.json()["detail"]

    forged = provider.id_token("alex", CLIENT_ID)
    head, body, signature = forged.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["email"] = "auditor@example.com"
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = await api.get("/opportunities/006X", headers=_bearer(f"{head}.{body}.{signature}"))
    assert tampered.status_code == 401 and "signature" in tampered.json()["detail"]

    unknown = await api.get(
        "/opportunities/006X", headers=_bearer(provider.id_token("stranger", CLIENT_ID))
    )
    assert unknown.status_code == 403 and "oidc.groups" in unknown.json()["detail"]


async def test_an_expired_jwt_is_401_expired():
    with oidc_provider(token_lifetime=timedelta(seconds=2)) as short:
        short.set_user("alex", {"email": "om.amer@example.com"})
        app = create_app(Settings(oidc=_oidc(short, leeway_seconds=0)))
        token = short.id_token("alex", CLIENT_ID)
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        time.sleep(max(0.0, expires - time.time()) + 1.1)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            answer = await _authenticated(client, token)
    assert answer.status_code == 401
    assert answer.json()["detail"] == "access token refused: expired"


async def test_a_rotated_provider_key_is_picked_up_and_the_old_one_dropped():
    with oidc_provider() as before:
        before.set_user("alex", {"email": "om.amer@example.com"})
        port = before.port
        app = create_app(Settings(oidc=_oidc(before, jwks_cache_seconds=3600)))
        old_token = before.id_token("alex", CLIENT_ID)
        old_keys = httpx.get(f"{before.issuer}/jwks").json()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            # Accepted...
            first = await _authenticated(client, old_token)
            assert first.status_code == 200, first.text
    # ...then the provider restarts with a new signing key, on the same issuer.
    with oidc_provider(port=port) as after:
        after.set_user("alex", {"email": "om.amer@example.com"})
        new_token = after.id_token("alex", CLIENT_ID)
        assert httpx.get(f"{after.issuer}/jwks").json() != old_keys  # a new key
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            rotated = await _authenticated(client, new_token)
            assert rotated.status_code == 200, rotated.text
            dropped = await _authenticated(client, old_token)
    assert dropped.status_code == 401, dropped.text
    assert "signature does not verify" in dropped.json()["detail"]


async def test_the_temporal_ui_codec_endpoint_takes_the_same_jwts(provider):
    key = base64.b64encode(bytes(range(32))).decode()
    settings = Settings(
        oidc=_oidc(provider),
        payload_encryption=PayloadEncryption(enabled=True, keys={"k1": SecretStr(key)}),
    )
    payload = pydantic_data_converter.payload_converter.to_payloads([{"email": "x@y.z"}])[0]
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads

    body = json.loads(json_format.MessageToJson(Payloads(payloads=[payload])))
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        auditor = _bearer(provider.id_token("olga", CLIENT_ID))  # an auditor by group
        sealed = await client.post("/codec/encode", json=body, headers=auditor)
        assert sealed.status_code == 200, sealed.text
        opened = await client.post("/codec/decode", json=sealed.json(), headers=auditor)
        assert opened.status_code == 200 and opened.json() == body
        rep = await client.post(
            "/codec/decode", json=body, headers=_bearer(provider.id_token("riley", CLIENT_ID))
        )
        assert rep.status_code == 403 and "auditor" in rep.json()["detail"]
        expired_or_foreign = await client.post(
            "/codec/decode", json=body, headers=_bearer(provider.id_token("olga", "another-app"))
        )
        assert expired_or_foreign.status_code == 401
