"""Who is looking: sign-in sessions, the ``Authorization`` header, and CSRF tokens.

A person signs in by pasting a gateway token. The token stays on the server (in memory, keyed by
a random session id); the browser holds only the session id in an HttpOnly, SameSite=Strict
cookie (Secure when the page came over https). Every request re-resolves the token through the
gateway's `Authenticator`, so a revoked or expired token ends the session within its refresh
time. ``Authorization: Bearer`` works too (scripts, curl): no cookie, no CSRF token needed,
since a browser never sends that header on its own.

Every form that changes something carries the session's CSRF token (a hidden ``csrf`` field, or
the ``X-CSRF-Token`` header for htmx); the sign-in form carries a double-submit token from its
own cookie. A missing or wrong token is refused with 403 before anything is called.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from mcp_gateway.auth import Authenticator
from mcp_gateway.errors import AuthError
from mcp_gateway.models import Principal

SESSION_COOKIE = "controlroom_session"
SIGNIN_COOKIE = "controlroom_signin"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL_S = 12 * 3600.0
MAX_SESSIONS = 10_000
COOKIE_PATH = "/ui"
"""Where the gateway mounts the monitor (`mcp_gateway.server.build_gateway`); cookies are sent only there."""


class CsrfRefused(Exception):
    """A state-changing request without the right CSRF token."""


@dataclass
class Session:
    """One signed-in browser."""

    token: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    expires: float = field(default_factory=lambda: time.monotonic() + SESSION_TTL_S)


@dataclass(frozen=True)
class Viewer:
    """The principal a request acts for; ``csrf`` is None for ``Authorization`` header callers."""

    principal: Principal
    csrf: str | None = None
    session_id: str | None = None


class Sessions:
    """Sign in, sign out, and resolve a request to its `Viewer`."""

    def __init__(self, authenticator: Authenticator, ttl_s: float = SESSION_TTL_S) -> None:
        self.authenticator = authenticator
        self.ttl_s = ttl_s
        self._sessions: dict[str, Session] = {}

    async def sign_in(self, token: str) -> str:
        """A new session id for ``token``; `AuthError` (its text says why) when the token is refused."""
        token = token.strip()
        await self.authenticator.principal(f"Bearer {token}")
        self._drop_expired()
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = Session(token=token, expires=time.monotonic() + self.ttl_s)
        return session_id

    def sign_out(self, session_id: str | None) -> None:
        if session_id is not None:
            self._sessions.pop(session_id, None)

    async def viewer(self, request: Request) -> Viewer | None:
        """Who ``request`` acts for, or None (no session, unknown, expired or revoked token)."""
        header = request.headers.get("authorization")
        if header:
            try:
                return Viewer(await self.authenticator.principal(header))
            except AuthError:
                return None
        session_id = request.cookies.get(SESSION_COOKIE)
        session = self._sessions.get(session_id) if session_id else None
        if session is None or session.expires < time.monotonic():
            return None
        try:
            principal = await self.authenticator.principal(f"Bearer {session.token}")
        except AuthError:
            self.sign_out(session_id)
            return None
        return Viewer(principal, csrf=session.csrf, session_id=session_id)

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._sessions.items() if s.expires < now]:
            del self._sessions[key]


def check_csrf(viewer: Viewer, request: Request, form: FormData | None) -> None:
    """Refuse (`CsrfRefused`) a cookie session's change without its CSRF token."""
    if viewer.csrf is None:  # Authorization header: not a credential a browser sends by itself
        return
    sent = request.headers.get(CSRF_HEADER) or (str(form.get(CSRF_FIELD) or "") if form is not None else "")
    if not sent or not hmac.compare_digest(sent, viewer.csrf):
        raise CsrfRefused("this form's CSRF token is missing or wrong: reload the page and try again")


def check_signin_csrf(request: Request, form: FormData) -> None:
    """The sign-in form's double-submit check: the hidden field equals the sign-in cookie."""
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    sent = str(form.get(CSRF_FIELD) or "")
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise CsrfRefused("the sign-in form's CSRF token is missing or wrong: reload the sign-in page")


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None = None) -> None:
    """An HttpOnly, SameSite=Strict cookie for the monitor's path; Secure over https."""
    response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
