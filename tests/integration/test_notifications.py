"""Team-channel notifications: the webhook adapter and its activity against the
sandbox's chat stand-in over real HTTP, and `om sandbox notifications`.

The sandbox is shared by the session, so each test posts about its own
opportunity id (or channel) and filters by it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from activities.config import ServiceSettings
from activities.errors import (
    AuthenticationFailed,
    NotConfigured,
    RequestRejected,
    ServiceUnavailable,
)
from activities.notifications import NotificationActivities, NotificationClient
from cli.sandbox import sandbox_app
from domain.messages import Notification
from loadtest.ports import free_port
from om.settings import Settings
from sandbox.client import SandboxAdminClient
from sandbox.server import SandboxInfo

runner = CliRunner()


def fresh_id() -> str:
    return "006N" + uuid.uuid4().hex[:12].upper()


def note(opportunity_id: str, key: str | None = None, **changes: str) -> Notification:
    fields = {
        "channel": "#om-emea-queue",
        "text": f"SLA warning: {opportunity_id} is due in 2 business hours",
        "idempotency_key": key or f"sla-warning-{opportunity_id}-1",
        "opportunity_id": opportunity_id,
        **changes,
    }
    return Notification.model_validate(fields)


@pytest.fixture
def faults(sandbox_admin: SandboxAdminClient) -> Iterator[SandboxAdminClient]:
    """The admin client, with every fault cleared afterwards even when a test fails."""
    yield sandbox_admin
    sandbox_admin.clear_faults()


async def test_post_reaches_the_sandbox_with_our_fields(notification_client, sandbox_admin):
    opp = fresh_id()
    await notification_client.send(note(opp))
    [stored] = sandbox_admin.notifications(opportunity_id=opp)
    assert stored["channel"] == "#om-emea-queue"
    assert stored["text"] == f"SLA warning: {opp} is due in 2 business hours"
    assert stored["idempotency_key"] == f"sla-warning-{opp}-1"
    assert stored["received_at"].endswith("Z")


async def test_duplicate_key_is_stored_once_and_answered_ok(
    sandbox, notification_client, sandbox_admin
):
    opp = fresh_id()
    await notification_client.send(note(opp, key=f"dup-{opp}"))
    await notification_client.send(note(opp, key=f"dup-{opp}", text="a retry"))
    await notification_client.send(note(opp, key=f"other-{opp}", channel="#om-emea-managers"))
    stored = sandbox_admin.notifications(opportunity_id=opp)
    assert [m["idempotency_key"] for m in stored] == [f"dup-{opp}", f"other-{opp}"]  # newest last
    assert stored[0]["text"].startswith("SLA warning")  # the first post wins
    assert [m["channel"] for m in sandbox_admin.notifications(opp, "#om-emea-managers")] == [
        "#om-emea-managers"
    ]
    # The wire answer is Slack's: 200 "ok", whether or not the key was seen.
    async with httpx.AsyncClient() as client:
        again = await client.post(
            sandbox.notifications_url,
            json={"channel": "#om-emea-queue", "text": "x", "opportunity_id": opp},
            headers={
                "Authorization": f"Bearer {sandbox.notifications_token}",
                "Idempotency-Key": f"dup-{opp}",
            },
        )
    assert (again.status_code, again.text) == (200, "ok")
    assert again.headers["x-idempotency-lookup"] == "hit"
    assert len(sandbox_admin.notifications(opportunity_id=opp)) == 2


async def test_activity_posts_and_unconfigured_url_logs_without_failing(
    notification_client, sandbox_admin, caplog
):
    opp = fresh_id()
    await ActivityEnvironment().run(NotificationActivities(notification_client).send, note(opp))
    assert len(sandbox_admin.notifications(opportunity_id=opp)) == 1

    unconfigured = NotificationActivities(NotificationClient(ServiceSettings()))
    with caplog.at_level(logging.WARNING, logger="temporalio.activity"):
        assert await ActivityEnvironment().run(unconfigured.send, note(opp)) is None
    [record] = [r for r in caplog.records if r.name == "temporalio.activity"]
    assert record.levelno == logging.WARNING
    assert "#om-emea-queue" in record.getMessage() and "SLA warning" in record.getMessage()
    assert len(sandbox_admin.notifications(opportunity_id=opp)) == 1  # nothing posted
    with pytest.raises(NotConfigured, match="OM_NOTIFICATIONS__URL"):
        await unconfigured.client.send(note(opp))


async def test_503_is_retryable_and_a_lost_answer_retried_is_stored_once(
    notification_client, faults
):
    opp = fresh_id()
    faults.set_faults({"notifications": {"status": 503, "count": 1}})
    with pytest.raises(ServiceUnavailable) as raised:
        await notification_client.send(note(opp))
    assert raised.value.retryable and raised.value.status == 503
    assert faults.notifications(opportunity_id=opp) == []

    faults.set_faults({"notifications": {"status": 503, "count": 1}})
    activities = NotificationActivities(notification_client)
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(activities.send, note(opp))
    assert failed.value.type == "ServiceUnavailable" and not failed.value.non_retryable

    # Stored, then the answer lost: Temporal's retry sends the same key again.
    faults.set_faults({"notifications": {"status": 502, "count": 1, "after_create": True}})
    with pytest.raises(ServiceUnavailable):
        await notification_client.send(note(opp))
    await notification_client.send(note(opp))
    assert len(faults.notifications(opportunity_id=opp)) == 1


async def test_timeout_and_refused_connection_are_retryable(sandbox, faults):
    slow = NotificationClient(
        ServiceSettings(
            url=sandbox.notifications_url, token=sandbox.notifications_token, timeout_seconds=0.2
        )
    )
    faults.set_faults({"notifications": {"delay_seconds": 0.6, "count": 1}})
    with pytest.raises(ServiceUnavailable, match="timed out"):
        await slow.send(note(fresh_id()))
    port = free_port()  # nobody listens on it
    gone = NotificationClient(ServiceSettings(url=f"http://127.0.0.1:{port}/chat/webhook"))
    with pytest.raises(ServiceUnavailable, match="unreachable") as raised:
        await gone.send(note(fresh_id()))
    assert raised.value.retryable


async def test_refusals_are_not_retryable_and_never_name_the_webhook_url(sandbox):
    token = sandbox.notifications_token
    wrong_path = NotificationClient(
        ServiceSettings(url=sandbox.license_service_url + "/chat/nope", token=token)
    )
    redirected = NotificationClient(
        ServiceSettings(url=sandbox.notifications_url + "/", token=token)
    )
    blank = NotificationClient(ServiceSettings(url=sandbox.notifications_url, token=token))
    for client, message in [
        (wrong_path, note(fresh_id())),
        (redirected, note(fresh_id())),
        (blank, note(fresh_id(), text=" ")),
    ]:
        with pytest.raises(RequestRejected) as raised:
            await client.send(message)
        assert not raised.value.retryable
        assert client.settings.url not in str(raised.value)
        assert "#om-emea-queue" in str(raised.value)
    bad_token = NotificationClient(ServiceSettings(url=sandbox.notifications_url, token="nope"))
    with pytest.raises(AuthenticationFailed) as refused:  # fixable by an operator: retryable
        await bad_token.send(note(fresh_id()))
    assert refused.value.status == 403 and "invalid_token" in str(refused.value)


def test_settings_find_the_webhook_in_sandbox_json(sandbox: SandboxInfo):
    info = json.loads((sandbox.home / "sandbox.json").read_text())
    assert info["notifications_url"] == sandbox.notifications_url
    assert info["notifications_url"].endswith("/chat/webhook")
    assert info["notifications_token"] == sandbox.notifications_token
    assert Settings(home=sandbox.home).with_sandbox_defaults().notifications.url == (
        sandbox.notifications_url
    )


async def test_cli_lists_notifications_and_show_includes_them(
    om_home, notification_client, seed_opportunity
):
    opp = seed_opportunity()
    channel = f"#om-test-{uuid.uuid4().hex[:8]}"
    await notification_client.send(note(opp, key=f"w-{opp}", channel=channel, text="SLA warning"))
    await notification_client.send(note(opp, key=f"b-{opp}", channel=channel, text="SLA breach"))

    listed = runner.invoke(sandbox_app, ["notifications", "--opportunity", opp, "--json"])
    assert listed.exit_code == 0, listed.output
    assert [m["text"] for m in json.loads(listed.stdout)] == ["SLA warning", "SLA breach"]
    by_channel = runner.invoke(sandbox_app, ["notifications", "--channel", channel, "--json"])
    assert [m["opportunity_id"] for m in json.loads(by_channel.stdout)] == [opp, opp]
    text = runner.invoke(sandbox_app, ["notifications", "--channel", channel])
    assert text.exit_code == 0, text.output
    lines = text.stdout.strip().splitlines()
    assert len(lines) == 2 and channel in lines[0] and opp in lines[0]
    assert lines[1].endswith("SLA breach")
    none = runner.invoke(sandbox_app, ["notifications", "--channel", "#nobody-here"])
    assert (none.exit_code, none.stdout.strip()) == (0, "no notifications")

    shown = runner.invoke(sandbox_app, ["show", opp, "--json"])
    assert shown.exit_code == 0, shown.output
    assert [m["text"] for m in json.loads(shown.stdout)["notifications"]] == [
        "SLA warning",
        "SLA breach",
    ]
    shown_text = runner.invoke(sandbox_app, ["show", opp])
    assert shown_text.exit_code == 0 and f"Chat {channel}" in shown_text.stdout
