"""Routing, log in / log out, and the checks every request goes through.

One :class:`WebApp` (a twisted.web resource) serves every path: it finds the session from
its cookie, sends anyone without one to the login page, refuses a POST without the
session's CSRF token (403) and a change from a role that may not change the configuration
(403, whatever the page shows), then runs the page's handler -- a coroutine on the
appliance's loop -- with a :class:`PageContext`.  Pages register with :func:`page` (GET)
and :func:`action` (POST); see "How to add a page" in :mod:`segcli.web`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from commands.errors import CommandError
from engine.appliance import Appliance
from engine.config.model import Config
from engine.store.users import Role
from segcli.ssh.throttle import LoginThrottle
from segcli.web.sessions import COOKIE, SessionTable, WebSession

log = logging.getLogger(__name__)

#: The AsyncOS menu bar, in its order.
MENUS = ("Monitor", "Reporting", "Mail Policies", "Security Services", "Network",
         "System Administration")
LOGIN_COOKIE = b"segcli_login"
#: What AsyncOS says to a role that may not make the change.
ACCESS_DENIED = "You are not in the correct access group to make this change."
_SECURITY_HEADERS = {
    b"Content-Security-Policy": b"default-src 'self'; script-src 'self'; style-src 'self'; "
                                b"img-src 'self'; frame-ancestors 'none'; form-action 'self'",
    b"X-Frame-Options": b"DENY",
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"same-origin",
    b"Cache-Control": b"no-store",
}


@dataclass
class Response:
    """What a handler returns: a status, a body and its type, maybe a Location."""

    body: bytes = b""
    status: int = 200
    content_type: bytes = b"text/html; charset=utf-8"
    location: str | None = None


Handler = Callable[["PageContext"], Awaitable[Response]]


@dataclass(frozen=True)
class MenuItem:
    menu: str
    title: str
    path: str


@dataclass
class Route:
    get: Handler | None = None
    post: Handler | None = None
    post_changes_config: bool = True


ROUTES: dict[str, Route] = {}
MENU_ITEMS: list[MenuItem] = []


def page(path: str, *, menu: str | None = None, title: str | None = None
         ) -> Callable[[Handler], Handler]:
    """Register a GET handler for *path*; with *menu* and *title*, an item of the menu bar."""
    if menu is not None and menu not in MENUS:
        raise ValueError(f"unknown menu {menu!r}: one of {MENUS}")

    def register(handler: Handler) -> Handler:
        route = ROUTES.setdefault(path, Route())
        if route.get is not None:
            raise ValueError(f"GET {path} registered twice")
        route.get = handler
        if menu is not None and title is not None:
            MENU_ITEMS.append(MenuItem(menu, title, path))
        return handler

    return register


def action(path: str, *, changes_config: bool = True) -> Callable[[Handler], Handler]:
    """Register a POST handler for *path*.  Unless *changes_config* is False, a role that
    may not change the configuration is refused before the handler runs."""

    def register(handler: Handler) -> Handler:
        route = ROUTES.setdefault(path, Route())
        if route.post is not None:
            raise ValueError(f"POST {path} registered twice")
        route.post = handler
        route.post_changes_config = changes_config
        return handler

    return register


_TEMPLATES = Environment(loader=PackageLoader("segcli.web", "templates"),
                         autoescape=select_autoescape(default=True, default_for_string=True),
                         trim_blocks=True, lstrip_blocks=True)


def _static_files() -> dict[str, tuple[bytes, bytes]]:
    """The appliance's own CSS and JavaScript, read once: name -> (type, bytes)."""
    types = {".css": b"text/css; charset=utf-8", ".js": b"text/javascript; charset=utf-8",
             ".png": b"image/png"}
    found = {}
    for item in resources.files("segcli.web").joinpath("static").iterdir():
        suffix = item.name[item.name.rfind("."):]
        if suffix in types:
            found[item.name] = (types[suffix], item.read_bytes())
    return found


class PageContext:
    """What a page handler gets: the request, the session, the appliance, helpers."""

    def __init__(self, app: WebApp, request: Request, session: WebSession, path: str) -> None:
        self.app = app
        self.request = request
        self.session = session
        self.path = path
        self.appliance: Appliance = app.appliance

    @property
    def user(self) -> str:
        return self.session.user

    @property
    def role(self) -> Role:
        return self.session.role

    @property
    def can_change(self) -> bool:
        return self.session.can_change

    @property
    def config(self) -> Config:
        """The configuration as this session sees it: the running one plus its changes."""
        self.session.pending.rebase(self.appliance.running)
        return self.session.pending.view

    def arg(self, name: str) -> str:
        """A query (or form) argument as text; "" when absent."""
        return _argument(self.request, name)

    form = arg

    def record(self, *changes: Any) -> str | None:
        """Record *changes* as this session's pending changes, all or none: None, or the
        appliance's refusal (nothing recorded), for the page to show next to the field."""
        pending = self.session.pending
        pending.rebase(self.appliance.running)
        try:
            pending.record(changes, drop_no_ops=pending.base.id == self.appliance.running.id)
        except CommandError as exc:
            return str(exc)
        return None

    def render(self, template: str, *, status: int = 200, **values: Any) -> Response:
        values.setdefault("errors", {})
        html = _TEMPLATES.get_template(template).render(**self.template_values(), **values)
        return Response(html.encode(), status)

    def template_values(self) -> dict[str, Any]:
        token = self.session.csrf_token
        return {
            "user": self.user, "role": self.role, "can_change": self.can_change,
            "pending": bool(self.session.pending), "menu": menu_bar(), "current": self.path,
            "csrf_token": token, "hostname": self.appliance.config.hostname,
            "csrf_field": lambda: Markup('<input type="hidden" name="csrf" value="{}">')
            .format(token),
        }

    @staticmethod
    def redirect(path: str) -> Response:
        return Response(status=303, location=path)

    @staticmethod
    def json(data: Any) -> Response:
        return Response(json.dumps(data).encode(), content_type=b"application/json")


def menu_bar() -> list[tuple[str, list[MenuItem]]]:
    """The menus in AsyncOS's order, each with the pages registered in it."""
    return [(name, [item for item in MENU_ITEMS if item.menu == name]) for name in MENUS]


def _argument(request: Request, name: str) -> str:
    values = (request.args or {}).get(name.encode())
    if not values:
        return ""
    return values[0].decode("utf-8", "replace")


class WebApp(Resource):
    """Every path of the HTTPS server."""

    isLeaf = True

    def __init__(self, appliance: Appliance, *, throttle: LoginThrottle | None = None,
                 home: str = "/mail-policies/incoming") -> None:
        super().__init__()
        self.appliance = appliance
        self.sessions = SessionTable(appliance)
        self.throttle = throttle or LoginThrottle(service="web interface")
        self.home = home
        self.static = _static_files()

    def render(self, request: Request) -> int:
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        future = asyncio.ensure_future(self._respond(request))
        Deferred.fromFuture(future).addCallbacks(
            lambda response: None if gone else self._write(request, response),
            lambda failure: None if gone else self._fail(request, failure))
        return NOT_DONE_YET

    # -- the response -----------------------------------------------------------------
    def _write(self, request: Request, response: Response) -> None:
        request.setResponseCode(response.status)
        for name, value in _SECURITY_HEADERS.items():
            request.setHeader(name, value)
        request.setHeader(b"Content-Type", response.content_type)
        if response.location is not None:
            request.setHeader(b"Location", response.location.encode())
        if request.method != b"HEAD":
            request.write(response.body)
        request.finish()

    def _fail(self, request: Request, failure: Any) -> None:
        log.error("web request %s failed: %s", request.uri, failure.getTraceback())
        self._write(request, Response(b"<h1>Internal error</h1>", 500))

    async def _respond(self, request: Request) -> Response:
        path = (request.path or b"/").decode("utf-8", "replace")
        method = request.method
        if path.startswith("/static/") and method in (b"GET", b"HEAD"):
            return self._static(path.removeprefix("/static/"))
        if path == "/login":
            return await (self._login(request) if method == b"POST" else self._login_page(request))
        session = self.sessions.find(_cookie(request, COOKIE))
        if session is None:
            if method == b"POST":
                return Response(b"Your session has expired. Log in again.", 403,
                                content_type=b"text/plain; charset=utf-8")
            return PageContext.redirect("/login?next=" + quote(_return_path(request)))
        if path == "/":
            return PageContext.redirect(self.home)
        if path == "/logout" and method == b"POST":
            return self._logout(request, session)
        route = ROUTES.get(path)
        ctx = PageContext(self, request, session, path)
        if route is None:
            return ctx.render("message.html", status=404, title="Not Found",
                              message="The page you requested was not found.")
        if method in (b"GET", b"HEAD") and route.get is not None:
            return await route.get(ctx)
        if method == b"POST" and route.post is not None:
            if not hmac.compare_digest(_argument(request, "csrf"), session.csrf_token):
                return ctx.render("message.html", status=403, title="Request refused",
                                  message="The form has expired or did not come from this "
                                  "page (CSRF token missing or wrong). Reload the page.")
            if route.post_changes_config and not session.can_change:
                return ctx.render("message.html", status=403, title="Access denied",
                                  message=ACCESS_DENIED)
            return await route.post(ctx)
        return Response(b"Method not allowed", 405, content_type=b"text/plain; charset=utf-8")

    def _static(self, name: str) -> Response:
        found = self.static.get(name)
        if found is None:
            return Response(b"Not found", 404, content_type=b"text/plain; charset=utf-8")
        return Response(found[1], content_type=found[0])

    # -- log in / log out ---------------------------------------------------------------
    async def _login_page(self, request: Request, *, error: str = "", status: int = 200,
                          name: str = "") -> Response:
        # One token per browser until it logs in: a second tab (or the favicon's redirect)
        # must not invalidate the form already shown.
        token = _cookie(request, LOGIN_COOKIE) or secrets.token_urlsafe(32)
        _set_cookie(request, LOGIN_COOKIE, token)
        html = _TEMPLATES.get_template("login.html").render(
            csrf_token=token, error=error, name=name, next=_safe_next(_argument(request, "next")),
            hostname=self.appliance.config.hostname)
        return Response(html.encode(), status)

    async def _login(self, request: Request) -> Response:
        expected = _cookie(request, LOGIN_COOKIE) or ""
        if not expected or not hmac.compare_digest(_argument(request, "csrf"), expected):
            return await self._login_page(
                request, status=403, error="The login form has expired. Log in again.")
        name, password = _argument(request, "username"), _argument(request, "password")
        source = request.getClientAddress()
        host = getattr(source, "host", "unknown")

        async def check() -> Any:
            user = await self.appliance.authenticate(name, password)
            if user is None:
                raise UnauthorizedLogin("wrong user name or password")
            return user

        loop = asyncio.get_running_loop()
        try:
            user = await self.throttle.attempt(
                host, name, lambda: Deferred.fromFuture(asyncio.ensure_future(check()))
            ).asFuture(loop)
        except UnauthorizedLogin:
            return await self._login_page(request, status=401, name=name,
                                          error="Invalid username or password.")
        session = self.sessions.create(user.name, user.role)
        _set_cookie(request, COOKIE, session.token)
        log.info("web: %s logged in from %s", user.name, host)
        return PageContext.redirect(_safe_next(_argument(request, "next")) or self.home)

    def _logout(self, request: Request, session: WebSession) -> Response:
        if not hmac.compare_digest(_argument(request, "csrf"), session.csrf_token):
            return Response(b"CSRF token missing or wrong.", 403,
                            content_type=b"text/plain; charset=utf-8")
        self.sessions.end(session.token)
        request.addCookie(COOKIE, b"", path=b"/", secure=True, httpOnly=True,
                          sameSite="strict", max_age=b"0")
        return PageContext.redirect("/login")


def _cookie(request: Request, name: bytes) -> str | None:
    value = request.getCookie(name)
    return value.decode("ascii", "replace") if value else None


def _set_cookie(request: Request, name: bytes, value: str) -> None:
    request.addCookie(name, value.encode(), path=b"/", secure=True, httpOnly=True,
                      sameSite="strict")


def _return_path(request: Request) -> str:
    """The page asked for, query included (a search keeps its fields across the log-in):
    the request's target as sent, never a scheme or host (``_safe_next`` checks again)."""
    target = (request.uri or b"/").decode("utf-8", "replace")
    return _safe_next(target) or "/"


def _safe_next(path: str) -> str:
    """Where to go after logging in: a path on this server only (no open redirect: no
    scheme or host, no ``//``, no backslash, no control character for the header)."""
    if path.startswith("/") and not path.startswith("//") and "\\" not in path \
            and path.isprintable():
        return path
    return ""
