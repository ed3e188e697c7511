"""The web interface's handling of requests, against a real ``segcli lab`` process over real
HTTPS: the page asked for before logging in comes back with its query (a local path only),
and request bodies over the bound are refused -- 413 before the body is read when it is
announced, the connection aborted when a chunked one grows over it -- with nothing changed
and the server still answering.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
from collections.abc import Iterator
from http.cookies import SimpleCookie
from urllib.parse import quote, urlencode, urlsplit

import pytest

from segcli.web.server import MAX_BODY
from tests.e2e.web_fixtures import PASSWORD, WebAppliance, browser, context  # noqa: F401

NEW_DEFAULT = "a1b2c3-limits-000001@beta.cmd.cisco.com"
SEARCH = "/monitor/tracking?search=Search&sender=alice%40example.org&limit=25"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebAppliance]:
    appliance = WebAppliance.start(tmp_path_factory.mktemp("web") / "data")
    try:
        yield appliance
    finally:
        assert appliance.stop() == 0, "".join(appliance.lines)


def _tls() -> ssl.SSLContext:
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE  # the appliance's self-signed certificate
    return tls


class Client:
    """A plain HTTPS client that keeps the cookies it is given."""

    def __init__(self, web: WebAppliance) -> None:
        split = urlsplit(web.url)
        self.host, self.port = split.hostname or "127.0.0.1", split.port or 443
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None
                ) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPSConnection(self.host, self.port, timeout=30,
                                                 context=_tls())
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            text = answer.read().decode("utf-8", "replace")
            for value in answer.headers.get_all("Set-Cookie") or ():
                for name, morsel in SimpleCookie(value).items():
                    self.cookies[name] = morsel.value
            return answer.status, dict(answer.headers.items()), text
        finally:
            connection.close()

    def login_page(self, path: str = "/login") -> str:
        status, _, html = self.request("GET", path)
        assert status == 200
        return csrf_of(html)

    def login(self) -> None:
        token = self.login_page()
        status, headers, _ = self.request("POST", "/login", {
            "csrf": token, "username": "admin", "password": PASSWORD, "next": ""})
        assert status == 303 and "segcli_session" in self.cookies, headers

    def raw(self, head: bytes, body: bytes) -> bytes:
        """Send *head* and what of *body* the server takes; everything it answers, to the
        end of the connection (b"" when it aborted without a word)."""
        raw = socket.create_connection((self.host, self.port), timeout=30)
        with _tls().wrap_socket(raw) as tls:
            received = b""
            with contextlib.suppress(OSError):  # the server may close while we send
                tls.sendall(head)
                for start in range(0, len(body), 4096):
                    tls.sendall(body[start:start + 4096])
            with contextlib.suppress(OSError):
                while chunk := tls.recv(65536):
                    received += chunk
            return received

    def head(self, method: str, path: str, extra: str) -> bytes:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"{extra}\r\n").encode()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found[1]


def _has_pending_changes(client: Client) -> bool:
    status, _, html = client.request("GET", "/security/tdc")
    assert status == 200
    return 'id="uncommitted"' in html


# -- the page asked for before logging in ----------------------------------------------------
def test_logging_in_returns_to_the_page_with_its_query(context, web):  # noqa: F811
    page = context.new_page()
    page.goto(web.url.rstrip("/") + SEARCH)
    assert "/login" in page.url
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_load_state()
    assert page.url == web.url.rstrip("/") + SEARCH


def test_the_return_path_is_always_a_local_path(web):
    client = Client(web)
    status, headers, _ = client.request("GET", SEARCH)
    assert status == 303
    assert headers["Location"] == "/login?next=" + quote(SEARCH)
    for target, shown in (("//evil.example/x?y=1", "/"), ("https://evil.example/x", "/")):
        status, headers, _ = client.request("GET", target)
        assert status == 303 and headers["Location"] == f"/login?next={shown}", headers
    # a forged "next" is refused by the log-in page and after logging in
    token = client.login_page("/login?next=//evil.example/")
    status, headers, _ = client.request("POST", "/login", {
        "csrf": token, "username": "admin", "password": PASSWORD,
        "next": "//evil.example/?a=b"})
    assert status == 303 and headers["Location"] == "/mail-policies/incoming"


# -- request bodies over the bound --------------------------------------------------------------
def test_an_announced_oversized_login_is_refused_unread(web):
    client = Client(web)
    token = client.login_page()
    form = urlencode({"csrf": token, "username": "admin", "password": PASSWORD,
                      "pad": "x" * MAX_BODY}).encode()
    answer = client.raw(client.head("POST", "/login", f"Content-Length: {len(form)}\r\n"),
                        form)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"too large" in answer
    assert "segcli_session" not in client.cookies  # nobody logged in
    client.login()  # the server still answers, and the same form logs in when small


def test_oversized_page_actions_change_nothing(web):
    client = Client(web)
    client.login()
    assert not _has_pending_changes(client)
    status, _, html = client.request("GET", "/security/tdc/edit")
    assert status == 200
    form = urlencode({"csrf": csrf_of(html), "enabled": "on", "intake_address": NEW_DEFAULT,
                      "pad": "x" * MAX_BODY}).encode()

    announced = client.raw(client.head("POST", "/security/tdc/edit",
                                       f"Content-Length: {len(form)}\r\n"), form)
    assert announced.startswith(b"HTTP/1.1 413 "), announced[:200]

    chunks = b"".join(b"%x\r\n%s\r\n" % (len(form[i:i + 8192]), form[i:i + 8192])
                      for i in range(0, len(form), 8192)) + b"0\r\n\r\n"
    chunked = client.raw(client.head("POST", "/security/tdc/edit",
                                     "Transfer-Encoding: chunked\r\n"), chunks)
    assert not chunked.startswith(b"HTTP/"), chunked[:200]  # aborted without an answer

    assert not _has_pending_changes(client)  # the server answers; nothing was recorded
    small = {"csrf": csrf_of(html), "enabled": "on", "intake_address": NEW_DEFAULT}
    assert client.request("POST", "/security/tdc/edit", small)[0] == 303
    assert _has_pending_changes(client)  # the same action, small, is taken
