"""Who a person signed in through the company's identity provider is, here.

The console (OpenID Connect sign-in) and the API (OIDC access tokens) both
end with a set of claims the provider vouched for; this module maps them to
the roster's roles and regions, the same way for both, so a person has the
same rights whichever door they came through.

Mapping, in order:
1. The email claim names a roster entry (compared case-insensitively): that
   entry, as it is in the roster now. The roster may list people by email
   with no token; the token is only for service accounts.
2. Otherwise one of the person's groups (the group claim, e.g. Okta's
   `groups` or Entra ID's `groups`/`roles`) is mapped in `oidc.groups`: the
   first mapped group, in the settings' order, gives role and regions.
3. Otherwise the person is unknown and refused.

People mapped by group are on no roster: the API and the console hand the
verified person itself to the approval service (`Approvals.actor` takes a
`RosterUser` as given), so nothing about them is kept between requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator

from domain.models import Region
from domain.policy import Policy, Role, RosterUser


class GroupGrant(BaseModel):
    """What membership of one identity-provider group grants."""

    role: Role
    regions: list[Region] = Field(
        default_factory=lambda: list(Region),
        description="Regions served (default: all; Order Management usually names one)",
    )


class OidcSettings(BaseModel):
    """OpenID Connect sign-in (`Settings.oidc`; environment `OM_OIDC__ISSUER=...`,
    `OM_OIDC__CLIENT_ID`, `OM_OIDC__CLIENT_SECRET`, `OM_OIDC__GROUPS='{"om-amer":
    {"role": "order_management", "regions": ["AMER"]}}'`). Off while `issuer` is unset."""

    issuer: str | None = Field(
        default=None,
        description="Issuer URL of the identity provider; its discovery document is read "
        "from <issuer>/.well-known/openid-configuration",
    )
    client_id: str | None = Field(default=None, description="Client id of the console's app")
    client_secret: SecretStr | None = Field(
        default=None, description="Client secret of the console's app (confidential client)"
    )
    redirect_uri: str | None = Field(
        default=None,
        description="Redirect URI registered at the provider (default: this request's "
        "origin + /console/oidc/callback; set it behind a proxy that rewrites the host)",
    )
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "email", "profile"],
        description="Scopes the console asks for (add `groups` where the provider needs it)",
    )
    audience: str | None = Field(
        default=None,
        description="`aud` the API requires of access tokens (default: client_id)",
    )
    email_claim: str = Field(default="email", description="Claim holding the email address")
    groups_claim: str = Field(default="groups", description="Claim listing the person's groups")
    groups: dict[str, GroupGrant] = Field(
        default_factory=dict,
        description="Group name (or id, as the provider sends it) -> role and regions; the "
        "first group of the person, in this order, wins",
    )
    jwks_cache_seconds: int = Field(
        default=300,
        ge=0,
        description="How long the provider's signing keys are cached; an unknown key id "
        "fetches them again at once (key rotation)",
    )
    leeway_seconds: int = Field(
        default=30, ge=0, le=300, description="Clock skew allowed on exp/iat/nbf"
    )

    @field_validator("issuer")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        """Providers compare `iss` exactly; discovery is built from this URL."""
        if value is None or not value.strip():
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"oidc.issuer must be an http(s) URL, not {value!r}")
        return value.strip().rstrip("/")

    @property
    def enabled(self) -> bool:
        return bool(self.issuer and self.client_id)

    @property
    def api_audience(self) -> str | None:
        return self.audience or self.client_id

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


def _groups_of(claims: Mapping[str, Any], name: str) -> list[str]:
    value = claims.get(name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def person_for_claims(
    policy: Policy, oidc: OidcSettings, claims: Mapping[str, Any]
) -> RosterUser | None:
    """The roster entry, or the group-mapped person, the claims name; None
    when neither applies. An email the provider says is unverified
    (`email_verified: false`) never matches a roster entry."""
    email = claims.get(oidc.email_claim)
    email = email.strip() if isinstance(email, str) and email.strip() else None
    if email and claims.get("email_verified", True) is not False:
        found = policy.user(email)
        if found is not None:
            return found
    groups = _groups_of(claims, oidc.groups_claim)
    for group, grant in oidc.groups.items():
        if group in groups:
            who = email or claims.get("preferred_username") or claims.get("sub")
            if not who:
                return None
            name = claims.get("name")
            return RosterUser(
                email=str(who),
                name=str(name) if isinstance(name, str) else "",
                role=grant.role,
                regions=list(grant.regions),
            )
    return None
