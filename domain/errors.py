"""Failures a caller can act on. The CLI prints `str(error)` as one line and
the API turns each type into a 4xx JSON body with it as `detail`."""

from __future__ import annotations


class OmError(Exception):
    """Base of every error meant for a person rather than a traceback."""

    exit_code = 1


class UnknownUser(OmError):
    def __init__(self, email: str) -> None:
        super().__init__(f"unknown user {email!r}: not in the roster (settings `roster`)")
        self.email = email


class UnknownOpportunity(OmError):
    def __init__(self, opportunity_id: str, where: str = "Salesforce") -> None:
        super().__init__(f"unknown opportunity {opportunity_id!r}: not found in {where}")
        self.opportunity_id = opportunity_id


class NotSubmitted(OmError):
    def __init__(self, opportunity_id: str) -> None:
        super().__init__(
            f"opportunity {opportunity_id!r} has no approval workflow: "
            f"submit it first (`om submit {opportunity_id}`)"
        )
        self.opportunity_id = opportunity_id


class Finished(OmError):
    """The opportunity went through approval and its workflow has ended, so
    there is nothing left to act on: distinct from `NotSubmitted`, whose
    advice (submit it) would be wrong here."""

    def __init__(self, opportunity_id: str, stage: str) -> None:
        super().__init__(f"{opportunity_id}: its approval is finished ({stage}); nothing to decide")
        self.opportunity_id = opportunity_id
        self.stage = stage


class Refused(OmError):
    """The workflow turned a decision or rep action away; nothing changed.

    `kind` is `forbidden` (not this person), `conflict` (not now: the round
    is no longer pending) or `invalid` (the decision itself is incomplete).
    """

    def __init__(self, message: str, kind: str = "conflict") -> None:
        super().__init__(message)
        self.kind = kind


class Unavailable(OmError):
    """A service the command needs (Temporal, the sandbox) cannot be reached."""


class Busy(Unavailable):
    """The server is holding as many concurrent requests on this workflow as
    it allows (e.g. 50 people clicking Approve at once); nothing changed, and
    the same request may be sent again in a moment."""


class KeyReused(OmError):
    """An idempotency key (an Update id) came back with a different request
    than the one it was first used for: the first answer would be a lie about
    this request, and applying it would break the promise of the key, so it
    is refused and nothing changes."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"key {key!r} was already used for a different request on this opportunity; "
            "nothing changed: send a new key (Idempotency-Key, --update-id) for a new request"
        )
        self.key = key
