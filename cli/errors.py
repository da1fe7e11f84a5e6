"""One line for each way a part of the system can be out of reach.

An `om` command needs Temporal, and some need the sandbox (or the real
Salesforce, support desk and license service it stands in for). When one
of them is down, the person at the terminal needs to know which part, at
which address, and what to do, not the transport library's dump. When a
part goes away in the middle of a call, the answer is lost: the line says
so, and says whether the same request may be sent again.

Two cases are told apart:
- never reached (connection refused, name not resolved, connect timeout):
  nothing was sent, so nothing changed;
- reached, then lost (the connection broke or no answer came in time): what
  was sent may or may not have been carried out. Decisions and rep actions
  carry an Update id and Temporal answers a repeat of one with its first
  outcome; a submission's workflow id makes a repeat find the running
  workflow. Both are safe to send again.

The HTTP API is not on this list: no `om` command calls it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.service import RPCError

    from om.settings import Settings

AGAIN_TEMPORAL = "is `make run` (or `om dev`) running?"
AGAIN_SANDBOX = "is `make run` (or `om sandbox`) running?"
_OS_REASON = re.compile(r'message: "([^"]+)"')


@dataclass(frozen=True)
class Sent:
    """What a command sends to Temporal, for the line printed when its answer is lost."""

    what: str
    """What may or may not have happened, e.g. "the decision"."""
    again: str
    """Whether and how it is safe to send again."""

    @classmethod
    def update(cls, what: str, update_id: str) -> Sent:
        """A workflow Update (decision, rep action) sent with `update_id`."""
        return cls(
            what,
            f"It is safe to send it again: repeat the command with --update-id {update_id} "
            "(Temporal answers a repeated Update id with the first outcome, never applying "
            "it twice)",
        )

    @classmethod
    def submission(cls, workflow_id: str) -> Sent:
        return cls(
            "the submission",
            f"It is safe to send it again: its workflow id {workflow_id} makes a repeat find "
            "the running workflow instead of starting another",
        )

    @classmethod
    def read(cls) -> Sent:
        return cls("", "Nothing was changed: run the command again once it is back")


def temporal_unreachable(address: str, error: BaseException | None = None) -> str:
    """Temporal could not be reached at all (`Client.connect` failed)."""
    reason = _reason(str(error)) if error is not None else ""
    return (
        f"cannot reach Temporal at {address}{reason}: {AGAIN_TEMPORAL} "
        "Set TEMPORAL_ADDRESS to point elsewhere"
    )


def temporal_lost(address: str, sent: Sent | None) -> str:
    """Temporal went away (or did not answer in time) after the command connected."""
    head = f"the answer from Temporal at {address} was lost (the connection broke or timed out)"
    if sent is None:
        return f"{head}: {AGAIN_TEMPORAL} Run the command again once it is back"
    if not sent.what:
        return f"{head}: {AGAIN_TEMPORAL} {sent.again}"
    return f"{head}, so {sent.what} may or may not have been recorded. {sent.again}"


def describe_rpc_error(error: RPCError, address: str, sent: Sent | None = None) -> str:
    """One line for a failed Temporal call made after connecting."""
    # Imported here, as the SDK is everywhere in cli/: `om --help` and `om check`
    # need none of it.
    from temporalio.service import RPCStatusCode

    # gRPC statuses after which the request may have reached Temporal and the
    # answer did not come back (the client connected first, so the server was up).
    lost = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}
    if error.status in lost:
        return temporal_lost(address, sent)
    return f"Temporal refused the request: {error.message}"


# ---- Salesforce, the support desk, the license service (real or the sandbox's) --------

# service name on the adapter error -> (what to call it, setting that points elsewhere)
_SERVICES = {
    "salesforce": ("Salesforce", "OM_SALESFORCE__INSTANCE_URL"),
    "support desk": ("the support desk", "OM_SUPPORT_DESK__URL"),
    "support_desk": ("the support desk", "OM_SUPPORT_DESK__URL"),
    "license service": ("the license service", "OM_LICENSE_SERVICE__URL"),
    "notifications webhook": ("the chat webhook", "OM_NOTIFICATIONS__URL"),
}


def describe_service_error(error: Exception, settings: Settings) -> str | None:
    """One line when an adapter error (`activities.errors.AdapterError`) is
    a connection failure to its service; None for any other failure."""
    service = getattr(error, "service", "")
    if service not in _SERVICES:
        return None
    how = connection_failure(error.__cause__)
    if how is None:
        return None
    name, setting = _SERVICES[service]
    url = _service_url(service, settings) or "its configured address"
    if how == "refused":
        return f"cannot reach {name} at {url}: {AGAIN_SANDBOX} Set {setting} to point elsewhere"
    return (
        f"the answer from {name} at {url} was lost (the connection broke or timed out): "
        f"{AGAIN_SANDBOX} Run the command again once it is back"
    )


def _service_url(service: str, settings: Settings) -> str | None:
    if service == "salesforce":
        sf = settings.salesforce
        return sf.instance_url or (f"login domain {sf.domain or 'login'}" if sf.username else None)
    configured = {
        "support desk": settings.support_desk,
        "support_desk": settings.support_desk,
        "license service": settings.license_service,
        "notifications webhook": settings.notifications,
    }[service]
    return configured.url


def connection_failure(error: BaseException | None) -> str | None:
    """ "refused" when the request never reached the service, "lost" when
    the connection broke or timed out after it was sent, None when `error`
    is no transport failure (requests or httpx)."""
    # Imported here: most commands never need them, and `om` starts faster.
    import httpx
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return "refused"
    if isinstance(error, httpx.TransportError):
        return "lost"
    if isinstance(error, requests.ConnectTimeout):
        return "refused"
    if isinstance(error, requests.ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        never = (NewConnectionError, NameResolutionError, ConnectTimeoutError)
        return "refused" if isinstance(reason, never) else "lost"
    if isinstance(error, requests.Timeout):
        return "lost"
    return None


def _reason(text: str) -> str:
    """` (connection refused)` from a transport dump, or "" when none is found."""
    found = _OS_REASON.findall(text)
    if found:
        return f" ({found[-1].lower()})"
    if "dns error" in text.lower():
        return " (host name not resolved)"
    return ""
