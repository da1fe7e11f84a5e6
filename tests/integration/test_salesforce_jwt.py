"""The OAuth 2.0 JWT bearer sign-in, end to end: simple-salesforce signs the
assertion with the integration's private key and posts it to
`https://<domain>.salesforce.com/services/oauth2/token`; the requests
session it is handed carries a transport adapter (`LoginRoute`) that sends
that host's requests to the sandbox, which verifies the assertion against
the connected app's certificate. Nothing in the library is patched."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import trustme

from activities.config import SalesforceSettings
from activities.errors import AuthenticationFailed, NotConfigured
from activities.salesforce import SalesforceAdapter, login_domain
from sandbox.oauth import JWT_GRANT, TOKEN_PATH
from sandbox.server import Sandbox, SandboxInfo

DEMO = "0065e00000DEMO01"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox of this module's own: its session gets rotated."""
    sandbox = Sandbox(tmp_path_factory.mktemp("jwt-home"))
    sandbox.start()
    try:
        sandbox.seed_demo()
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def info(running: Sandbox) -> SandboxInfo:
    assert running.info is not None
    return running.info


def jwt_settings(info: SandboxInfo, **changes: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "username": info.jwt_username,
        "consumer_key": info.jwt_consumer_key,
        "privatekey_file": info.jwt_privatekey_file,
        "domain": "login",
        "login_url": info.salesforce_instance_url,
        "ca_file": info.ca_file,
    }
    values.update(changes)
    return SalesforceSettings(**values)


def assertion(info: SandboxInfo, key: bytes | None = None, **claims: Any) -> str:
    body = {
        "iss": info.jwt_consumer_key,
        "sub": info.jwt_username,
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    signing_key = key if key is not None else Path(str(info.jwt_privatekey_file)).read_bytes()
    return jwt.encode(body, signing_key, algorithm="RS256")


def grant(info: SandboxInfo, token: str, grant_type: str = JWT_GRANT) -> requests.Response:
    return requests.post(
        info.salesforce_instance_url + TOKEN_PATH,
        data={"grant_type": grant_type, "assertion": token},
        verify=info.ca_file,
        timeout=10,
    )


@pytest.mark.parametrize("domain", ["login", "test", "acme.my.salesforce.com"])
def test_jwt_sign_in_reads_the_opportunity(running: Sandbox, info: SandboxInfo, domain: str):
    before = running.state.token_requests
    adapter = SalesforceAdapter(jwt_settings(info, domain=domain))
    assert adapter.uses_jwt and not adapter.uses_login
    assert adapter.read_opportunity(DEMO).id == DEMO
    assert running.state.token_requests == before + 1


def test_an_expired_token_is_replaced_by_a_new_sign_in(running: Sandbox, info: SandboxInfo):
    adapter = SalesforceAdapter(jwt_settings(info))
    assert adapter.read_opportunity(DEMO).id == DEMO
    signed_in = running.state.token_requests
    old = running.state.salesforce_session
    running.state.rotate_salesforce_session()  # the org expires the session
    assert adapter.read_opportunity(DEMO).id == DEMO
    assert running.state.token_requests > signed_in
    assert running.state.salesforce_session != old


def test_the_token_endpoint_answers_access_token_and_instance_url(info: SandboxInfo):
    answer = grant(info, assertion(info))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["instance_url"] == info.salesforce_instance_url
    assert body["token_type"] == "Bearer" and body["access_token"]
    data = requests.get(
        f"{info.salesforce_instance_url}/services/data/v59.0/sobjects/Opportunity/{DEMO}",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        verify=info.ca_file,
        timeout=10,
    )
    assert data.status_code == 200


def _other_key() -> bytes:
    return trustme.CA().issue_cert("intruder", key_type=trustme.KeyType.RSA).private_key_pem.bytes()


@pytest.mark.parametrize(
    ("claims", "error", "description"),
    [
        ({"key": "other"}, "invalid_grant", "signature invalid"),
        ({"iss": "3MVG9notours"}, "invalid_client_id", "client identifier invalid"),
        ({"aud": "https://evil.example.com"}, "invalid_grant", "audience is invalid"),
        ({"exp": int(time.time()) - 60}, "invalid_grant", "expired"),
        ({"exp": None}, "invalid_grant", '"exp"'),
        ({"sub": "nobody@example.com"}, "invalid_grant", "user hasn't approved"),
    ],
)
def test_bad_assertions_get_salesforces_error_body(
    info: SandboxInfo, claims: dict[str, Any], error: str, description: str
):
    key = _other_key() if claims.pop("key", None) else None
    answer = grant(info, assertion(info, key=key, **claims))
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == error
    assert description in body["error_description"]


def test_a_seeded_user_may_sign_in_and_other_grants_are_refused(info: SandboxInfo):
    assert grant(info, assertion(info, sub="riley.rep@example.com")).status_code == 200
    refused = grant(info, "x", grant_type="password")
    assert refused.json() == {
        "error": "unsupported_grant_type",
        "error_description": "grant type not supported",
    }


def test_refused_sign_in_is_one_line_naming_the_reason(info: SandboxInfo, tmp_path: Path):
    unknown = SalesforceAdapter(jwt_settings(info, username="nobody@example.com"))
    with pytest.raises(AuthenticationFailed) as raised:
        unknown.read_opportunity(DEMO)
    message = str(raised.value)
    assert "nobody@example.com" in message and "invalid_grant" in message
    assert "\n" not in message
    wrong_key = tmp_path / "other.key"
    wrong_key.write_bytes(_other_key())
    with pytest.raises(AuthenticationFailed, match="signature invalid"):
        SalesforceAdapter(jwt_settings(info, privatekey_file=wrong_key)).read_opportunity(DEMO)
    with pytest.raises(NotConfigured, match="salesforce.privatekey_file: cannot read"):
        SalesforceAdapter(
            jwt_settings(info, privatekey_file=tmp_path / "missing.key")
        ).read_opportunity(DEMO)
    not_a_key = tmp_path / "not.key"
    not_a_key.write_text("hello")
    with pytest.raises(NotConfigured, match="not a usable private key"):
        SalesforceAdapter(jwt_settings(info, privatekey_file=not_a_key)).read_opportunity(DEMO)


@pytest.mark.parametrize(
    ("setting", "domain"),
    [
        (None, "login"),
        ("test", "test"),
        ("acme.my", "acme.my"),
        ("https://Acme.my.salesforce.com/", "acme.my"),
    ],
)
def test_login_domain_accepts_login_test_and_my_domain(setting: str | None, domain: str):
    assert login_domain(setting) == domain
