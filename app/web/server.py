"""The web view's HTTP server: the standard library's ThreadingHTTPServer with a strict handler.

One thread per connection, one request per connection (HTTP/1.0: no keep-alive to
manage), GET and HEAD only, a fixed set of paths and nothing read from disk. Requests are
bounded before they are parsed: the request line and headers together in size, the
header count, and the time a client may take to send them; bodies are refused. Writes
time out, so a viewer that stops reading is dropped, and connections and streams are
capped, so a flood of clients cannot take more than a few threads.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

from app.web import page as web_page
from app.web.status import LiveStatus
from app.web.stream import JpegStream

log = logging.getLogger("app.web")

MAX_REQUEST_LINE = 4096  # http.server allows 65536
MAX_REQUEST_HEAD = 16 * 1024  # request line and headers together
MAX_HEADERS = 40  # http.client allows 100; a browser sends about 15
MAX_QUERY_FIELDS = 8
REQUEST_DEADLINE_S = 10.0  # to send the whole request head: no slow-loris
WRITE_TIMEOUT_S = 10.0  # a viewer that reads nothing for this long is dropped
MAX_CONNECTIONS = 32
MAX_STREAMS = 8  # MJPEG and event streams together: 4 pages
STREAM_POLL_S = 1.0  # how often a stream checks for shutdown while nothing new comes
EVENTS_MIN_INTERVAL_S = 0.1  # at most 10 status messages a second, however fast the model runs
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token may be in the address
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}
ASSETS = {
    "/app.js": ("text/javascript; charset=utf-8", web_page.JS.encode()),
    "/app.css": ("text/css; charset=utf-8", web_page.CSS.encode()),
}


class WebServer(ThreadingHTTPServer):
    """Serves the page, its streams and the API for one pipeline."""

    daemon_threads = True  # a stuck viewer never keeps the app from exiting

    def __init__(
        self,
        family: socket.AddressFamily,
        address: tuple[Any, ...],
        status: LiveStatus,
        stream: JpegStream,
        token: str | None,
    ) -> None:
        self.address_family = family
        self.status = status
        self.stream = stream
        self.token = token
        self.closing = threading.Event()
        self._connections = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._streams = threading.BoundedSemaphore(MAX_STREAMS)
        super().__init__(address, WebHandler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def cookie_name(self) -> str:
        return f"movinet_token_{self.port}"  # cookies ignore ports: one name per app

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up this host's FQDN, which can hang for seconds on
        # a Pi without DNS; nothing here needs it.
        socketserver.TCPServer.server_bind(self)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._connections.acquire(blocking=False):
            self.shutdown_request(request)  # over the cap: hang up at once rather than queue
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connections.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            log.debug("web client %s went away", client_address[0])  # normal for viewers: no traceback
        else:
            log.exception("web request from %s failed", client_address[0])

    def try_stream(self) -> bool:
        """Take one of the MAX_STREAMS stream places; release with end_stream()."""
        return self._streams.acquire(blocking=False)

    def end_stream(self) -> None:
        self._streams.release()

    def close(self) -> None:
        """Stop serving and end every stream (from any thread but the serving one)."""
        self.closing.set()
        self.shutdown()
        self.server_close()


class RequestReader:
    """The connection's input for the request head: bounded in bytes and in time.

    A request line or header section over the budget is cut short and flagged (the
    handler answers 414 or 431); past the deadline a read raises TimeoutError, which
    http.server answers by closing the connection.
    """

    def __init__(self, raw: BinaryIO, connection: socket.socket, budget: int, deadline: float) -> None:
        self.raw = raw
        self.connection = connection
        self.budget = budget
        self.deadline = deadline
        self.exhausted = False

    def readline(self, limit: int = -1) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request head took too long")
        self.connection.settimeout(remaining)
        allowed = self.budget + 1 if limit < 0 else min(limit, self.budget + 1)
        line = self.raw.readline(allowed) if self.budget >= 0 else b""
        self.budget -= len(line)
        if self.budget < 0:
            self.exhausted = True
        return line

    def close(self) -> None:
        self.raw.close()


class WebHandler(BaseHTTPRequestHandler):
    server: WebServer
    server_version = "movinet-web"
    protocol_version = "HTTP/1.0"
    default_request_version = "HTTP/1.0"  # else an unparsable request gets an HTTP/0.9 answer: no status line
    timeout = WRITE_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        self.rfile = RequestReader(  # type: ignore[assignment]
            self.rfile, self.connection, MAX_REQUEST_HEAD, time.monotonic() + REQUEST_DEADLINE_S
        )
        self.head_only = False

    def parse_request(self) -> bool:
        if len(self.raw_requestline) > MAX_REQUEST_LINE:
            self.requestline, self.request_version, self.command = "", "", ""  # as http.server's own 414
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
            return False
        if not super().parse_request():
            return False
        self.connection.settimeout(WRITE_TIMEOUT_S)  # from now on only writes can block
        if self.rfile.exhausted or len(self.headers) > MAX_HEADERS:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            return False
        if self.headers.get("Content-Length", "0").strip() != "0" or "Transfer-Encoding" in self.headers:
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "requests here have no body")
            return False
        return True

    def end_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def version_string(self) -> str:
        return self.server_version  # no Python version for scanners

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("web %s: " + format, self.address_string(), *args)

    # -- methods ------------------------------------------------------------------------
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        try:
            query = parse_qs(url.query, max_num_fields=MAX_QUERY_FIELDS)
        except ValueError:
            self.send_error(HTTPStatus.BAD_REQUEST, "too many query fields")
            return
        if not self._host_allowed():
            self.send_error(HTTPStatus.FORBIDDEN, "this address is served to loopback names only")
            return
        offered = query.get("token", [None])[0]
        if not self._authorized(offered):
            self._reply(
                HTTPStatus.UNAUTHORIZED,
                b"a token is needed: open this address with ?token=YOUR_TOKEN once\n",
                "text/plain; charset=utf-8",
                {"WWW-Authenticate": 'Bearer realm="movinet"'},
            )
            return
        if url.path == "/" and offered is not None:
            # Swap the token in the address for a cookie, and drop it from the history.
            cookie = f"{self.server.cookie_name}={offered}; Path=/; HttpOnly; SameSite=Strict"
            self._reply(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": "./", "Set-Cookie": cookie})
            return
        route = ROUTES.get(url.path)
        if route is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        route(self)

    def do_HEAD(self) -> None:
        self.head_only = True
        self.do_GET()

    def _method_not_allowed(self) -> None:
        self._reply(HTTPStatus.METHOD_NOT_ALLOWED, b"GET or HEAD only\n", "text/plain", {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _method_not_allowed

    # -- checks -------------------------------------------------------------------------
    def _host_allowed(self) -> bool:
        """Without a token, only loopback names: no web page can rebind its own name to us (DNS rebinding).

        A browser always sends Host, so a request without one is no such attack.
        """
        if self.server.token is not None:
            return True
        host = self.headers.get("Host", "")
        name = host[1 : host.find("]")] if host.startswith("[") else host.rpartition(":")[0] or host
        return not name or name.lower() in LOOPBACK_NAMES

    def _authorized(self, offered: str | None) -> bool:
        token = self.server.token
        if token is None:
            return True
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        candidates = [offered, value.strip() if scheme.lower() == "bearer" else None, self._cookie_token()]
        expected = token.encode()
        # Constant-time: how much of a guess matches must not show in the response time.
        return any(hmac.compare_digest(c.encode(), expected) for c in candidates if c)

    def _cookie_token(self) -> str | None:
        try:
            morsel = SimpleCookie(self.headers.get("Cookie", "")).get(self.server.cookie_name)
        except CookieError:
            return None
        return morsel.value if morsel is not None else None

    # -- responses ----------------------------------------------------------------------
    def _reply(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not self.head_only:
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._reply(status, json.dumps(data).encode() + b"\n", "application/json")

    def page(self) -> None:
        self._reply(HTTPStatus.OK, web_page.HTML.encode(), "text/html; charset=utf-8")

    def asset(self) -> None:
        content_type, body = ASSETS[urlsplit(self.path).path]
        self._reply(HTTPStatus.OK, body, content_type)

    def api_status(self) -> None:
        self._json(HTTPStatus.OK, self.server.status.as_json())

    def healthz(self) -> None:
        health = self.server.status.health()
        status = HTTPStatus.OK if health.ok else HTTPStatus.SERVICE_UNAVAILABLE
        self._reply(status, f"{health.state}: {health.detail}\n".encode(), "text/plain; charset=utf-8")

    def snapshot(self) -> None:
        stream = self.server.stream
        with stream.watching():
            picture = stream.next_jpeg(stream.version, timeout=3.0)
        if picture is None:
            self.send_error(HTTPStatus.SERVICE_UNAVAILABLE, "no frame to show")
            return
        self._reply(HTTPStatus.OK, picture[1], "image/jpeg")

    def mjpeg(self) -> None:
        self._stream("multipart/x-mixed-replace; boundary=frame", self._send_pictures)

    def events(self) -> None:
        self._stream("text/event-stream; charset=utf-8", self._send_events)

    def _stream(self, content_type: str, send: Callable[[], None]) -> None:
        """A response that lasts until the viewer leaves or the app stops (one of MAX_STREAMS)."""
        if not self.server.try_stream():
            self.send_error(HTTPStatus.SERVICE_UNAVAILABLE, "too many viewers")
            return
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type)
            self.end_headers()
            if not self.head_only:
                send()
        except (ConnectionError, TimeoutError):
            pass  # the viewer left, or stopped reading for WRITE_TIMEOUT_S
        finally:
            self.server.end_stream()

    def _send_pictures(self) -> None:
        stream, closing = self.server.stream, self.server.closing
        with stream.watching():
            number = 0
            while not closing.is_set():
                picture = stream.next_jpeg(number, STREAM_POLL_S)
                if picture is None:
                    continue
                number, jpeg = picture
                head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                self.wfile.write(head.encode() + jpeg + b"\r\n")

    def _send_events(self) -> None:
        status, closing = self.server.status, self.server.closing
        self.wfile.write(b"retry: 2000\n\n")  # the browser reconnects 2 s after a drop
        number = -1
        while not closing.is_set():
            sent_at = time.monotonic()
            number = status.wait(number, STREAM_POLL_S)  # a message at least every second
            self.wfile.write(b"data: " + json.dumps(status.as_json()).encode() + b"\n\n")
            closing.wait(max(0.0, sent_at + EVENTS_MIN_INTERVAL_S - time.monotonic()))


ROUTES: dict[str, Callable[[WebHandler], None]] = {
    "/": WebHandler.page,
    "/app.js": WebHandler.asset,
    "/app.css": WebHandler.asset,
    "/api/status": WebHandler.api_status,
    "/healthz": WebHandler.healthz,
    "/snapshot.jpg": WebHandler.snapshot,
    "/stream.mjpg": WebHandler.mjpeg,
    "/events": WebHandler.events,
}
