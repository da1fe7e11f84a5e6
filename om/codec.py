"""Payload encryption: what the Temporal server stores is ciphertext.

Opportunities carry contacts' names and email addresses, and decisions carry
specialists' free-text comments; Temporal keeps all of them in workflow
history, in its database, for the retention period. With payload encryption
on, the client and the worker encrypt every payload (inputs, results,
signals, updates, queries, memo, failure details) with AES-256-GCM before it
leaves the process, so the server, its database and its backups only ever
hold ciphertext.

Keys live in settings as `{key id: base64 of 32 bytes}`. The active key
(`active_key_id`, else the first one) encrypts and its id travels in each
payload's `encryption-key-id` metadata; every known key decrypts. Rotation is
therefore: add a new key in front, deploy, and keep the old one for as long
as histories encrypted with it are retained.

The Temporal UI cannot read ciphertext, so the API serves the codec server
protocol the UI speaks from `api/codec.py`. That HTTP part is kept out of
this module: the worker and every client import it, and they need no web
framework.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from om.settings import PayloadEncryption, Settings

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32


class EncryptionConfigError(ValueError):
    """Encryption is on but its keys cannot be used; names the setting."""


def encryption_settings(settings: Settings) -> PayloadEncryption:
    """The payload-encryption settings (off unless a deployment turns them on)."""
    return settings.payload_encryption


def load_keys(config: PayloadEncryption) -> dict[str, bytes]:
    """Decoded keys in order (active first is not implied: see `active_key_id`).

    Raises `EncryptionConfigError` naming the setting at fault, so a bad
    deployment fails at start-up rather than on the first payload."""
    raw: dict[str, str] = {kid: secret.get_secret_value() for kid, secret in config.keys.items()}
    if config.keys_file is not None:
        try:
            from_file = json.loads(Path(config.keys_file).read_text())
        except OSError as error:
            raise EncryptionConfigError(
                f"payload_encryption.keys_file {config.keys_file}: cannot read "
                f"({error.strerror or error})"
            ) from error
        except ValueError as error:
            raise EncryptionConfigError(
                f"payload_encryption.keys_file {config.keys_file}: not a JSON object of "
                f"key id -> base64 key ({error})"
            ) from error
        if not isinstance(from_file, dict):
            raise EncryptionConfigError(
                f"payload_encryption.keys_file {config.keys_file}: not a JSON object"
            )
        raw.update({str(k): str(v) for k, v in from_file.items()})
    keys: dict[str, bytes] = {}
    for kid, encoded in raw.items():
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as error:
            raise EncryptionConfigError(
                f"payload_encryption.keys[{kid!r}]: not valid base64"
            ) from error
        if len(key) != KEY_BYTES:
            raise EncryptionConfigError(
                f"payload_encryption.keys[{kid!r}]: {len(key)} bytes, AES-256 needs {KEY_BYTES}"
            )
        keys[kid] = key
    return keys


def new_key() -> str:
    """A fresh base64 key for settings (`python -c 'from om.codec import new_key;
    print(new_key())'`)."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over the whole serialized payload (data and metadata), so
    the original encoding is hidden too. A random 96-bit nonce per payload;
    the key id is bound as associated data so a payload relabelled with
    another key id fails authentication instead of decrypting to garbage."""

    def __init__(self, keys: dict[str, bytes], active_key_id: str | None = None) -> None:
        if not keys:
            raise EncryptionConfigError("payload_encryption.keys: no key configured")
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self.active_key_id = active_key_id or next(iter(keys))
        if self.active_key_id not in self._ciphers:
            raise EncryptionConfigError(
                f"payload_encryption.active_key_id {self.active_key_id!r} is not among the keys"
            )

    @classmethod
    def from_settings(cls, config: PayloadEncryption) -> EncryptionCodec:
        return cls(load_keys(config), config.active_key_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        kid = self.active_key_id.encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.active_key_id].encrypt(nonce, payload.SerializeToString(), kid)
        return Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: kid}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        """Plain payloads pass through unchanged: histories written before
        encryption was turned on stay readable."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        kid = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise ValueError(
                f"payload encrypted with unknown key id {kid!r}: add it to payload_encryption.keys"
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], kid.encode())
        except InvalidTag as error:
            raise ValueError(f"payload under key id {kid!r} failed authentication") from error
        return Payload.FromString(plain)


def data_converter_for(settings: Any) -> DataConverter:
    """The project's pydantic converter, encrypting when settings say so.

    With encryption on, failure messages and stack traces are moved into the
    (encrypted) encoded attributes too, since an exception message may quote
    a comment or an email address."""
    config = encryption_settings(settings)
    if not config.enabled:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec.from_settings(config),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
