"""Team-channel notifications over a Slack-compatible incoming webhook (httpx),
and the activity the workflow calls for SLA warnings and breach escalations.

The body is what a Slack incoming webhook takes, `{"channel", "text"}`, plus
our `idempotency_key` and `opportunity_id` (Slack ignores fields it does not
know; the sandbox's chat stand-in and a relay of our own use them). The key
also goes out as the `Idempotency-Key` header, so a receiver that honours it
drops a retried post whose first answer was lost instead of showing the
message twice. Slack itself does not de-duplicate: there a lost answer can
mean one repeated message, which beats a lost escalation.

A deployment without chat still works: when no webhook URL is configured
(`OM_NOTIFICATIONS__URL` unset and no sandbox running) the activity logs the
notification as a warning, channel and text, and succeeds. The workflow's
path never depends on chat being there; the worker log is the fallback.

The webhook URL is treated as a secret (Slack puts its credential in the
path), so error messages and logs never repeat it.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity

from activities._http import HttpService
from activities.errors import RequestRejected, as_activity_errors
from domain.messages import ActivityName, Notification


class NotificationClient(HttpService):
    """Posts to the webhook at `settings.url` (the full URL, path included);
    a bearer token is sent when `settings.token` is set."""

    service = "notifications webhook"
    setting_prefix = "OM_NOTIFICATIONS"

    @property
    def configured(self) -> bool:
        """Whether there is a webhook to post to; without one, notifications are logged."""
        return bool(self.settings.url)

    def _headers(self) -> dict[str, str]:
        # Bearer only: HttpService's Zendesk email/token form means nothing to a webhook.
        return {"Authorization": f"Bearer {self.settings.token}"} if self.settings.token else {}

    async def send(self, notification: Notification) -> None:
        """Post one message; `NotConfigured` without a URL (callers check `configured`).

        5xx, 408/425/429, timeouts and refused connections raise the
        retryable `ServiceUnavailable`; a refused token the retryable
        `AuthenticationFailed` (an operator fixes settings); any other 4xx,
        or a redirect (a wrong URL: httpx does not follow it, and a webhook
        answers 2xx), the non-retryable `RequestRejected`.
        """
        payload = {
            "channel": notification.channel,
            "text": notification.text,
            "idempotency_key": notification.idempotency_key,
            "opportunity_id": notification.opportunity_id,
        }
        # The absolute URL as the path: httpx's base_url join would add a
        # trailing slash to an empty path, and a webhook path is exact.
        response, _ = await self.request(
            "POST",
            self.settings.url or "",
            json=payload,
            headers={"Idempotency-Key": notification.idempotency_key},
            label=f"a post to {notification.channel}",
        )
        if not 200 <= response.status_code < 300:
            raise RequestRejected(
                f"the {self.service} answered {response.status_code} on a post to "
                f"{notification.channel}: check {self.setting_prefix}__URL",
                service=self.service,
                status=response.status_code,
            )


class NotificationActivities:
    def __init__(self, client: NotificationClient) -> None:
        self.client = client

    @activity.defn(name=ActivityName.NOTIFY.value)
    @as_activity_errors
    async def send(self, n: Notification) -> None:
        """Post `n` to its channel, or log it when no webhook is configured."""
        if not self.client.configured:
            activity.logger.warning(
                "notifications webhook not configured (set OM_NOTIFICATIONS__URL); "
                "not sent to %s: %s",
                n.channel,
                n.text,
                extra={"channel": n.channel, "opportunity_id": n.opportunity_id},
            )
            return
        await self.client.send(n)

    def activities(self) -> list[Any]:
        return [self.send]
