"""The specialist console: server-rendered pages in the same app as the API.

Specialists live in a queue all day, so the console is plain HTML forms over
the very operations the API and the CLI use (`om.approvals.Approvals`):
no front-end build step, no JavaScript needed, and every refusal the workflow
gives is shown inline with the status and sentence the API would answer
(`api.errors`).

Sign-in (OpenID Connect, a service account's roster token, or one click in
demo mode) starts a session in an HttpOnly, SameSite=Lax cookie scoped to
`/console` and signed with the console secret. Every state-changing form
carries a CSRF token, an HMAC of the session's id under that same secret,
checked before anything is sent to the workflow; so every replica, and a
restarted process, accepts the forms of any other.
Who may decide is still the workflow's call (it alone
knows the round, the region cover and the four-eyes rule); the console only
hides controls a role can never use and refuses auditors outright.

One module per page group (`session`, `oidc`, `queue`, `opportunities`), each with
its own router, and `shared` for what they have in common; `router` here
gathers them, so the app includes the console in one line. The pages are
left out of the OpenAPI schema: they are not an API.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.console import oidc, opportunities, queue, reports, session

router = APIRouter()
router.include_router(session.router)
router.include_router(oidc.router)
router.include_router(queue.router)
router.include_router(opportunities.router)
router.include_router(reports.router)

__all__ = ["router"]
