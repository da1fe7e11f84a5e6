"""Payload encryption: the codec, its settings and the UI's codec endpoint."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from api.app import create_app
from api.codec import router as codec_router
from om.codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    EncryptionConfigError,
    PayloadEncryption,
    data_converter_for,
    encryption_settings,
    load_keys,
    new_key,
)
from om.settings import Settings

K1, K2 = new_key(), new_key()
SECRET = "sam.buyer@acme.example"


class EncryptedSettings(Settings):
    """Settings with the field the project's Settings is to gain."""

    payload_encryption: PayloadEncryption = PayloadEncryption()


def _config(**keys: str) -> PayloadEncryption:
    return PayloadEncryption(enabled=True, keys={k: SecretStr(v) for k, v in keys.items()})


def _settings(**keys: str) -> EncryptedSettings:
    return EncryptedSettings(payload_encryption=_config(**keys))


def _plain(text: str = SECRET) -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([{"email": text}])[0]


async def test_round_trip_hides_plaintext_and_names_the_key():
    codec = EncryptionCodec.from_settings(_config(k1=K1))
    [sealed] = await codec.encode([_plain()])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == b"k1"
    assert SECRET.encode() not in sealed.SerializeToString()
    [opened] = await codec.decode([sealed])
    assert opened == _plain()


async def test_rotation_new_key_encrypts_old_key_still_decrypts():
    old = EncryptionCodec.from_settings(_config(k1=K1))
    [before] = await old.encode([_plain()])
    rotated = EncryptionCodec.from_settings(_config(k2=K2, k1=K1))
    [after] = await rotated.encode([_plain()])
    assert after.metadata[KEY_ID_METADATA] == b"k2"
    assert await rotated.decode([before, after]) == [_plain(), _plain()]
    with pytest.raises(ValueError, match="unknown key id 'k2'"):
        await old.decode([after])


async def test_active_key_id_overrides_order_and_plain_payloads_pass_through():
    codec = EncryptionCodec.from_settings(
        PayloadEncryption(
            enabled=True, keys={"k1": SecretStr(K1), "k2": SecretStr(K2)}, active_key_id="k2"
        )
    )
    [sealed] = await codec.encode([_plain()])
    assert sealed.metadata[KEY_ID_METADATA] == b"k2"
    assert await codec.decode([_plain()]) == [_plain()]  # history from before encryption


async def test_tampered_or_relabelled_payload_fails_authentication():
    codec = EncryptionCodec.from_settings(_config(k1=K1, k2=K1))
    [sealed] = await codec.encode([_plain()])
    # Flip one bit (setting the last byte to 0 would be a no-op 1 time in 256).
    tampered = sealed.data[:-1] + bytes([sealed.data[-1] ^ 0x01])
    flipped = Payload(metadata=dict(sealed.metadata), data=tampered)
    with pytest.raises(ValueError, match="failed authentication"):
        await codec.decode([flipped])
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"k2"}, data=sealed.data)
    with pytest.raises(ValueError, match="failed authentication"):
        await codec.decode([relabelled])


def test_bad_keys_are_refused_naming_the_setting(tmp_path):
    with pytest.raises(EncryptionConfigError, match=r"keys\['k1'\]: not valid base64"):
        load_keys(_config(k1="not base64!"))
    short = base64.b64encode(b"x" * 16).decode()
    with pytest.raises(EncryptionConfigError, match=r"keys\['k1'\]: 16 bytes"):
        load_keys(_config(k1=short))
    with pytest.raises(EncryptionConfigError, match="no key configured"):
        EncryptionCodec.from_settings(_config())
    missing = PayloadEncryption(enabled=True, keys_file=tmp_path / "nope.json")
    with pytest.raises(EncryptionConfigError, match="keys_file .*nope.json: cannot read"):
        load_keys(missing)
    with pytest.raises(EncryptionConfigError, match="active_key_id 'k9'"):
        EncryptionCodec(load_keys(_config(k1=K1)), "k9")


def test_keys_file_is_merged_after_inline_keys(tmp_path):
    file = tmp_path / "keys.json"
    file.write_text(json.dumps({"k2": K2}))
    config = PayloadEncryption(enabled=True, keys={"k1": SecretStr(K1)}, keys_file=file)
    assert list(load_keys(config)) == ["k1", "k2"]


def test_converter_is_plain_unless_enabled():
    assert data_converter_for(Settings()) is pydantic_data_converter
    assert encryption_settings(Settings()).enabled is False
    converter = data_converter_for(_settings(k1=K1))
    assert isinstance(converter.payload_codec, EncryptionCodec)
    # the pydantic payload converter is kept
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class


async def test_failure_messages_are_encoded_and_encrypted():
    converter = data_converter_for(_settings(k1=K1))
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"comment names {SECRET}"), failure)
    assert SECRET not in failure.message and SECRET.encode() not in failure.SerializeToString()
    decoded = await converter.decode_failure(failure)
    assert SECRET in str(decoded)


# --- the codec endpoint ----------------------------------------------------------------

UI = "http://localhost:8233"


@pytest.fixture
async def codec_api():
    app = FastAPI()
    app.state.settings = _settings(k1=K1)
    app.include_router(codec_router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


def _body(*payloads: Payload) -> dict:
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads

    return json.loads(json_format.MessageToJson(Payloads(payloads=payloads)))


async def test_ui_codec_round_trip_for_auditor_with_cors(codec_api):
    headers = {"Authorization": "Bearer demo-auditor", "Origin": UI}
    encoded = await codec_api.post("/codec/encode", json=_body(_plain()), headers=headers)
    assert encoded.status_code == 200, encoded.text
    assert encoded.headers["access-control-allow-origin"] == UI
    assert SECRET not in encoded.text
    sealed = encoded.json()["payloads"][0]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
    decoded = await codec_api.post("/codec/decode", json=encoded.json(), headers=headers)
    assert decoded.status_code == 200
    data = base64.b64decode(decoded.json()["payloads"][0]["data"])
    assert SECRET.encode() in data


async def test_codec_endpoint_refuses_other_roles_and_anonymous(codec_api):
    body = _body(_plain())
    assert (await codec_api.post("/codec/decode", json=body)).status_code == 401
    rep = await codec_api.post(
        "/codec/decode", json=body, headers={"Authorization": "Bearer demo-riley-rep"}
    )
    assert rep.status_code == 403 and "auditor" in rep.json()["detail"]
    om = await codec_api.post(
        "/codec/decode", json=body, headers={"Authorization": "Bearer demo-om-emea"}
    )
    assert om.status_code == 200
    junk = await codec_api.post(
        "/codec/decode", content=b"{not json", headers={"Authorization": "Bearer demo-auditor"}
    )
    assert junk.status_code == 422


async def test_preflight_answers_only_known_ui_origins(codec_api):
    asked = {"Origin": UI, "Access-Control-Request-Method": "POST"}
    ok = await codec_api.options("/codec/decode", headers=asked)
    assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == UI
    assert "X-Namespace" in ok.headers["access-control-allow-headers"]
    evil = await codec_api.options("/codec/decode", headers={**asked, "Origin": "https://evil"})
    assert "access-control-allow-origin" not in evil.headers


async def test_codec_passes_payloads_unchanged_while_encryption_is_off():
    """Off is a setting, not a server fault: no 5xx, the UI shows payloads as they are."""
    app = create_app(Settings())
    auditor = {"Authorization": "Bearer demo-auditor"}
    payload = {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "eyJhIjogMX0="}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for path in ("/codec/decode", "/codec/encode"):
            response = await client.post(path, json={"payloads": [payload]}, headers=auditor)
            assert response.status_code == 200, response.text
            assert response.json() == {"payloads": [payload]}
            empty = await client.post(path, json={"payloads": []}, headers=auditor)
            assert empty.json() == {"payloads": []}
        rep_token = {"Authorization": "Bearer demo-riley-rep"}
        rep = await client.post("/codec/decode", json={"payloads": []}, headers=rep_token)
        assert rep.status_code == 403 and rep.json()["code"] == "forbidden"
        bad = await client.post("/codec/decode", json={"payloads": "x"}, headers=auditor)
        assert bad.status_code == 422 and bad.json()["code"] == "invalid"
