"""OIDC access tokens on the API: a JWT from the company's identity provider.

A bearer token that is not a roster token (service accounts keep those) is
taken as a JWT and checked against the provider named by `oidc.issuer`:
signature by a key of the provider's JWKS (found through its discovery
document), `iss` equal to the issuer, `aud` naming this API
(`oidc.audience`, default the client id) and `exp` not passed. The claims
then map to a roster entry or a mapped group (`om.identity`), exactly as the
console's sign-in does, so the same roles and regions apply either way.

Keys are cached for `oidc.jwks_cache_seconds` by PyJWT's `PyJWKClient`; a
token signed with a key id the cache does not know fetches the key set
again at once (at most every 10 seconds), which is how a provider's key
rotation is picked up.

Kept apart from `api.deps` so the authorization order there stays one
readable function: it asks this module only when the roster does not know
the token.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import jwt
from fastapi import HTTPException, Request

from domain.policy import RosterUser
from om.identity import OidcSettings, person_for_claims
from om.settings import Settings

_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


class InvalidAccessToken(Exception):
    """A JWT the API does not accept; the message says which check failed."""


class ProviderUnavailable(Exception):
    """The identity provider's discovery document or keys could not be read."""


class AccessTokens:
    """Validates access tokens of one provider; one per app (`app.state`)."""

    def __init__(self, oidc: OidcSettings) -> None:
        self.oidc = oidc
        self._keys: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()
        self._refreshed = float("-inf")

    def _key_client(self) -> jwt.PyJWKClient:
        """The JWKS client, found through discovery on first use."""
        with self._lock:
            if self._keys is None:
                try:
                    answer = httpx.get(self.oidc.discovery_url, timeout=10)
                    answer.raise_for_status()
                    jwks_uri = answer.json()["jwks_uri"]
                except (httpx.HTTPError, ValueError, KeyError) as error:
                    raise ProviderUnavailable(
                        f"could not read the identity provider's discovery document "
                        f"{self.oidc.discovery_url}: {error}"
                    ) from error
                self._keys = jwt.PyJWKClient(
                    jwks_uri,
                    cache_jwk_set=True,
                    lifespan=max(1, self.oidc.jwks_cache_seconds),
                    timeout=10,
                )
            return self._keys

    def claims(self, token: str) -> dict[str, Any]:
        """The token's claims once every check passed; InvalidAccessToken naming the
        failed check otherwise."""
        try:
            return self._checked(token, refresh=False)
        except InvalidAccessToken as error:
            if not error.args[0].startswith(_BAD_SIGNATURE) or _kid(token) is not None:
                raise
        # A token without a key id that the cached key does not verify: the
        # provider may have rotated its only key. Fetch the keys once more.
        return self._checked(token, refresh=True)

    def _signing_key(self, token: str, refresh: bool) -> Any:
        """The provider's key for `token`: by its `kid` (PyJWKClient fetches
        the set again for an unknown one), or the provider's only key when
        the token names none (RFC 7515 lets a single-key issuer omit it)."""
        keys = self._key_client()
        kid = _kid(token)
        try:
            if kid is not None:
                return self._key_by_id(keys, kid)
            if refresh and not self._may_refresh():
                raise InvalidAccessToken(_BAD_SIGNATURE)
            found = keys.get_signing_keys(refresh=refresh)
        except jwt.PyJWKClientConnectionError as error:
            raise ProviderUnavailable(f"could not read the provider's keys: {error}") from error
        except jwt.PyJWKClientError as error:
            raise InvalidAccessToken(
                f"no key of the identity provider signed it ({error})"
            ) from error
        if len(found) != 1:
            raise InvalidAccessToken(
                "the token names no key id (kid) and the provider has several keys"
            )
        return found[0].key

    def _key_by_id(self, keys: jwt.PyJWKClient, kid: str) -> Any:
        """The cached key `kid`, or, for an id the cache does not know, the key
        set fetched again (at most every `_REFRESH_SECONDS`, so tokens with
        made-up key ids cannot make the API hammer the provider)."""
        match = next((k for k in keys.get_signing_keys() if k.key_id == kid), None)
        if match is None and self._may_refresh():
            fresh = keys.get_signing_keys(refresh=True)
            match = next((k for k in fresh if k.key_id == kid), None)
        if match is None:
            raise InvalidAccessToken(f"no key of the identity provider has key id {kid!r}")
        return match.key

    def _may_refresh(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._refreshed < _REFRESH_SECONDS:
                return False
            self._refreshed = now
            return True

    def _checked(self, token: str, refresh: bool) -> dict[str, Any]:
        key = self._signing_key(token, refresh)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=_ALGORITHMS,
                audience=self.oidc.api_audience,
                issuer=self.oidc.issuer,
                leeway=self.oidc.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise InvalidAccessToken("expired") from error
        except jwt.InvalidAudienceError as error:
            raise InvalidAccessToken(
                f"wrong audience: this API accepts aud {self.oidc.api_audience!r}"
            ) from error
        except jwt.InvalidIssuerError as error:
            raise InvalidAccessToken(
                f"wrong issuer: this API accepts iss {self.oidc.issuer!r}"
            ) from error
        except jwt.InvalidSignatureError as error:
            raise InvalidAccessToken(_BAD_SIGNATURE) from error
        except jwt.InvalidTokenError as error:
            raise InvalidAccessToken(str(error)) from error
        return claims


_BAD_SIGNATURE = "signature does not verify against the provider's keys"
_REFRESH_SECONDS = 10.0


def _kid(token: str) -> str | None:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.DecodeError as error:
        raise InvalidAccessToken(f"not a JWT ({error})") from error
    return str(kid) if kid else None


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def access_tokens(request: Request) -> AccessTokens | None:
    """The app's validator, made on first use; None while OIDC is off."""
    settings: Settings = request.app.state.settings
    if not settings.oidc.enabled:
        return None
    found: AccessTokens | None = getattr(request.app.state, "access_tokens", None)
    if found is None:
        found = request.app.state.access_tokens = AccessTokens(settings.oidc)
    return found


def oidc_user(request: Request, token: str) -> RosterUser | None:
    """The person an OIDC access token names; None when the token is no JWT
    or OIDC is off (the caller then answers "unknown bearer token"). A JWT
    that fails a check is a 401 naming the check; a valid one for someone
    the roster and the group mapping do not know is a 403."""
    validator = access_tokens(request)
    if validator is None or not _looks_like_jwt(token):
        return None
    bearer = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    try:
        claims = validator.claims(token)
    except InvalidAccessToken as error:
        raise HTTPException(401, f"access token refused: {error}", bearer) from None
    except ProviderUnavailable as error:
        raise HTTPException(503, str(error)) from None
    settings: Settings = request.app.state.settings
    user = person_for_claims(settings, settings.oidc, claims)
    if user is None:
        raise HTTPException(
            403,
            "access token is valid, but its subject is neither on the roster (by email) "
            "nor in a group mapped in oidc.groups",
        )
    return user
