"""Who may read and who may write, and the headers every response carries.

Keys are compared in constant time and never logged or echoed. A browser cannot put an
Authorization header on <img>/<audio> requests, so the web page trades a key once for a session
cookie (HttpOnly, SameSite=Strict) that is good for reads only; writes always need the header.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict

from fastapi import HTTPException, Request

from .settings import Settings

SESSION_COOKIE = "xmodal_session"
MAX_SESSIONS = 1000

# the web page's own policy: everything from this server, nothing inline, no framing
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; "
            "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# a stored SVG or HTML item opened directly: a document that can run nothing and reach nothing
SANDBOX_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _same(given: str, key: str | None) -> bool:
    return key is not None and hmac.compare_digest(given.encode("utf-8", "surrogatepass"), key.encode("utf-8"))


class Keys:
    """The configured keys, and the sessions the page opened with them."""

    def __init__(self, settings: Settings):
        self.api_key = settings.api_key
        self.read_key = settings.read_key
        self._sessions: OrderedDict[str, str] = OrderedDict()  # token -> "read"
        self._lock = threading.Lock()

    def role_of(self, token: str) -> str | None:
        """'write' for the api key, 'read' for the read key, else None."""
        if _same(token, self.api_key):
            return "write"
        if _same(token, self.read_key):
            return "read"
        return None

    def open_session(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[token] = "read"
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return token

    def session_role(self, token: str | None) -> str | None:
        if not token:
            return None
        with self._lock:
            return self._sessions.get(token)


def bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def require_read(request: Request) -> None:
    """Reads are open unless a read key is set; then the read key, the api key or a session."""
    keys: Keys = request.app.state.keys
    if keys.read_key is None:
        return
    token = bearer(request)
    if token is None:
        if keys.session_role(request.cookies.get(SESSION_COOKIE)):
            return
        raise _unauthorized("this server needs a key for reads: send Authorization: Bearer KEY")
    if keys.role_of(token) is None:
        raise HTTPException(403, "wrong key")


def require_write(request: Request) -> None:
    """Writes need the api key in the Authorization header (never a cookie: no cross-site writes)."""
    keys: Keys = request.app.state.keys
    if keys.api_key is None:
        raise HTTPException(403, "writes are off: start the server with --api-key-file (or $XMODAL_API_KEY)")
    token = bearer(request)
    if token is None:
        raise _unauthorized("writes need the api key: send Authorization: Bearer KEY")
    if keys.role_of(token) != "write":
        raise HTTPException(403, "wrong key: writes need the api key")


class SecurityHeaders:
    """ASGI middleware: nosniff, no referrer and no framing on every response."""

    HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
               (b"x-frame-options", b"DENY")]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in self.HEADERS if h[0] not in names]
            await send(message)

        await self.app(scope, receive, with_headers)
