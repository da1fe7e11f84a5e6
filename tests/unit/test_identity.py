"""Mapping a provider's claims to roster roles and regions (om.identity),
and the demo settings `om dev` runs with."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from cli.dev import demo_settings
from domain.errors import UnknownUser
from domain.models import Region
from domain.policy import Role, RosterUser
from om.approvals import Approvals
from om.identity import GroupGrant, OidcSettings, person_for_claims
from om.settings import Settings

OIDC = OidcSettings(
    issuer="https://idp.example/",
    client_id="om",
    groups={
        "om-apac": GroupGrant(role=Role.ORDER_MANAGEMENT, regions=[Region.APAC]),
        "billing-team": GroupGrant(role=Role.BILLING),
    },
)


def _settings() -> Settings:
    roster = [
        RosterUser(email="Pat@Corp.example", name="Pat", role=Role.AUDITOR, regions=list(Region)),
        RosterUser(email="svc@corp.example", role=Role.BILLING, token="svc-token"),
    ]
    return Settings(roster=roster)


def test_the_roster_by_email_wins_over_groups_case_insensitively():
    settings = _settings()
    found = person_for_claims(
        settings, OIDC, {"email": "pat@corp.EXAMPLE", "groups": ["billing-team"]}
    )
    assert found is not None and found.role == Role.AUDITOR and found.name == "Pat"


def test_a_group_maps_role_and_regions_first_mapped_group_in_settings_order():
    person = person_for_claims(
        _settings(),
        OIDC,
        {
            "email": "kim@corp.example",
            "name": "Kim",
            "groups": ["staff", "billing-team", "om-apac"],
        },
    )
    assert person == RosterUser(
        email="kim@corp.example", name="Kim", role=Role.ORDER_MANAGEMENT, regions=[Region.APAC]
    )
    billing = person_for_claims(_settings(), OIDC, {"email": "b@x", "groups": "billing-team"})
    assert billing is not None and billing.role == Role.BILLING
    assert billing.regions == list(Region)


def test_unknown_people_and_unverified_emails_map_to_nobody():
    settings = _settings()
    assert person_for_claims(settings, OIDC, {"email": "x@corp.example", "groups": []}) is None
    assert person_for_claims(settings, OIDC, {"sub": "123"}) is None
    unverified = {"email": "pat@corp.example", "email_verified": False}
    assert person_for_claims(settings, OIDC, unverified) is None


def test_other_claim_names_are_read_from_settings():
    entra = OIDC.model_copy(update={"email_claim": "preferred_username", "groups_claim": "roles"})
    person = person_for_claims(
        _settings(), entra, {"preferred_username": "pat@corp.example", "roles": []}
    )
    assert person is not None and person.role == Role.AUDITOR
    by_role = person_for_claims(
        _settings(), entra, {"preferred_username": "lee@corp.example", "roles": ["om-apac"]}
    )
    assert by_role is not None and by_role.regions == [Region.APAC]


def test_issuer_loses_its_trailing_slash_and_audience_defaults_to_client_id():
    assert OIDC.issuer == "https://idp.example"
    assert OIDC.discovery_url == "https://idp.example/.well-known/openid-configuration"
    assert OIDC.api_audience == "om" and OIDC.enabled
    assert not OidcSettings().enabled


def test_a_verified_person_acts_as_given_an_email_only_from_the_roster():
    """A group-mapped person is on no roster: the API hands the verified
    person to the service, which takes it as given; a bare email (the CLI's
    `--as`) must be on the roster."""
    approvals = Approvals(client=None, settings=Settings())  # type: ignore[arg-type]
    person = RosterUser(email="Mapped@corp.example", role=Role.BILLING)
    actor = approvals.actor(person)
    assert (actor.email, actor.role, actor.regions) == (person.email, Role.BILLING, [])
    with pytest.raises(UnknownUser):
        approvals.actor("mapped@corp.example")
    assert approvals.actor("om.amer@example.com").regions == [Region.AMER]


def test_om_dev_turns_demo_on_with_a_console_secret_kept_in_its_home(tmp_path: Path):
    first = demo_settings(Settings(), tmp_path)
    assert first.demo and first.console_secret is not None
    secret = first.console_secret.get_secret_value()
    assert len(secret) >= 32 and (tmp_path / "console-secret").stat().st_mode & 0o077 == 0
    again = demo_settings(Settings(), tmp_path)
    assert again.console_secret is not None and again.console_secret.get_secret_value() == secret
    own = demo_settings(Settings(console_secret=SecretStr("mine")), tmp_path)
    assert own.console_secret is not None and own.console_secret.get_secret_value() == "mine"
