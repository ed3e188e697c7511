"""The web interface's listeners: HTTPS with the appliance's certificate, and plain HTTP
that only redirects to it.

The certificate is the one the SMTP listener offers with STARTTLS
(``<data>/tls/server.pem``, made by :func:`engine.smtp.tls.ensure_server_certificate` for
the appliance's host name), so one certificate stands for the appliance.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, endpoints
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from engine.config.model import Endpoint
from engine.smtp.tls import ensure_server_certificate, server_context
from segcli.web.app import WebApp
from segcli.web.xml_status import xml_root

if TYPE_CHECKING:
    from twisted.internet.interfaces import IListeningPort

    from engine.appliance import Appliance


#: The largest request body taken: the web interface's forms are a few fields, never a file.
MAX_BODY = 64 * 1024
_TOO_LARGE = (b"HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
              b"Content-Length: %d\r\nConnection: close\r\n\r\n%s")
_TOO_LARGE_TEXT = b"The request is too large (at most %d bytes).\n" % MAX_BODY


class BoundedChannel(HTTPChannel):
    """An HTTP/1.1 connection that takes no request body over MAX_BODY: one announced
    larger (Content-Length) is answered 413 before a byte of it is read, and the
    connection closes; a chunked one that grows larger aborts the connection.  Either way
    the request never reaches a page, so nothing changes.  (No HTTP/2: not offered.)"""

    refused = False

    def allHeadersReceived(self) -> None:
        if self.length is not None and self.length > MAX_BODY:
            self.refuse(answer=True)
            return
        super().allHeadersReceived()

    def refuse(self, *, answer: bool) -> None:
        """Read nothing more from this connection; say 413 first if *answer*."""
        self.refused = True
        transport: Any = self.transport
        if answer:
            transport.write(_TOO_LARGE % (len(_TOO_LARGE_TEXT), _TOO_LARGE_TEXT))
            self.loseConnection()
        else:
            transport.abortConnection()

    def rawDataReceived(self, data: bytes) -> None:
        if not self.refused:
            super().rawDataReceived(data)

    def allContentReceived(self) -> None:
        if not self.refused:  # a chunked body cut short: never handed to a page
            super().allContentReceived()


class BoundedRequest(Request):
    """Counts the body as it arrives (a chunked body announces no length)."""

    received = 0

    def handleContentChunk(self, data: bytes) -> None:
        channel = self.channel
        if getattr(channel, "refused", False):
            return
        self.received += len(data)
        if self.received > MAX_BODY and isinstance(channel, BoundedChannel):
            channel.refuse(answer=False)
            return
        super().handleContentChunk(data)


class BoundedSite(Site):
    """A Site of BoundedChannel connections and BoundedRequest requests."""

    protocol = BoundedChannel  # type: ignore[assignment]
    requestFactory = BoundedRequest


class WebServer:
    """The HTTPS server of one appliance (and its HTTP redirector, when asked for)."""

    def __init__(self, appliance: Appliance, https: Endpoint, http: Endpoint | None = None,
                 *, extra: dict[bytes, Resource] | None = None) -> None:
        self.appliance = appliance
        self.https = https
        self.http = http
        self.app = WebApp(appliance)
        # /xml: the XML status pages, with HTTP Basic authentication; wrong passwords there
        # and at the log-in page count in one record, as they do for one appliance
        mounts = {b"xml": xml_root(appliance, throttle=self.app.throttle), **(extra or {})}
        self.root: Resource = _Mounts(self.app, mounts)
        self._ports: list[IListeningPort] = []
        self.https_port = 0
        self.http_port = 0

    async def start(self) -> int:
        """Listen; return the HTTPS port (CannotListenError when an address is taken)."""
        from twisted.internet import reactor  # the running one: importing this module installs none

        from segcli.web.pages import load_pages

        load_pages()
        material = ensure_server_certificate(self.appliance.options.data_dir / "tls",
                                             (self.appliance.config.hostname,))
        site = BoundedSite(self.root)
        site.displayTracebacks = False
        tls = endpoints.SSL4ServerEndpoint(reactor, self.https.port, server_context(material),
                                           interface=self.https.host)
        port = await tls.listen(site).asFuture(asyncio.get_running_loop())
        self._ports.append(port)
        self.https_port = port.getHost().port
        if self.http is not None:
            redirect = BoundedSite(_RedirectToHttps(self))
            plain = endpoints.TCP4ServerEndpoint(reactor, self.http.port, interface=self.http.host)
            http_port = await plain.listen(redirect).asFuture(asyncio.get_running_loop())
            self._ports.append(http_port)
            self.http_port = http_port.getHost().port
        return self.https_port

    def url(self) -> str:
        host = self.https.host
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"https://{Endpoint(host, self.https_port)}/"

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        for port in self._ports:
            await defer.maybeDeferred(port.stopListening).asFuture(loop)
        self._ports.clear()


class _Mounts(Resource):
    """The web app, with other resources mounted at their first path segment."""

    def __init__(self, app: WebApp, mounts: dict[bytes, Resource]) -> None:
        super().__init__()
        self.app = app
        for name, resource in mounts.items():
            self.putChild(name, resource)

    def getChild(self, path: bytes, request: Request) -> Resource:
        return self.app  # a leaf: it reads the whole request.path itself

    def render(self, request: Request) -> bytes | int:
        return self.app.render(request)


class _RedirectToHttps(Resource):
    """Plain HTTP: every request is sent to the same path over HTTPS (301)."""

    isLeaf = True

    def __init__(self, server: WebServer) -> None:
        super().__init__()
        self.web = server

    def render(self, request: Request) -> bytes:
        host = request.getRequestHostname().decode("ascii", "replace") or "127.0.0.1"
        target = f"https://{Endpoint(host, self.web.https_port)}{request.uri.decode('ascii', 'replace')}"
        request.setResponseCode(301)
        request.setHeader(b"Location", target.encode())
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return f"Moved to {target}\n".encode()
