"""The web view's HTTP server: a head-reading gate in front of a strict handler per request.

One request per connection (HTTP/1.0: no keep-alive to manage), GET and HEAD only (POST
only for the Teach page's changes, with no body), a fixed set of paths, and nothing read
from disk but the event pictures and the taught examples' thumbnails, by names of one
exact shape (web/pictures.py, web/teach.py). Connections are accepted and their request heads
read by one thread (app/web/gate.py), within a deadline, a byte budget and per-address
and total caps, so idle and slow clients cost no thread. A complete head gets a handler
thread: MAX_HANDLERS for anyone, and RESERVED_HANDLERS more kept for requests that carry
the token or ask /healthz, so a token holder and a health check get in however busy the
rest is. Bodies are refused; writes time out, so a viewer that stops reading is dropped;
streams are capped.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.client import HTTPException, parse_headers
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from socketserver import _SocketWriter  # type: ignore[attr-defined]  # http.server's own unbuffered writer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from app.web import page as web_page
from app.web import pictures as event_pictures
from app.web.access import TEACH_HEADER, loopback_host, offers_token, same_site
from app.web.gate import Arrival, Gate, GateLimits
from app.web.status import LiveStatus
from app.web.stream import JpegStream
from app.web.teach import TeachDesk

log = logging.getLogger(__name__)

MAX_REQUEST_LINE = 4096  # http.server allows 65536
MAX_REQUEST_HEAD = 16 * 1024  # request line and headers together
MAX_HEADERS = 40  # http.client allows 100; a browser sends about 15
MAX_QUERY_FIELDS = 8
REQUEST_DEADLINE_S = 5.0  # to send the whole request head (a browser sends it in one packet): no slow-loris
WRITE_TIMEOUT_S = 10.0  # a viewer that reads nothing for this long is dropped
MAX_PER_ADDRESS = 16  # connections from one address: a few pages of one viewer
MAX_PENDING_HEADS = 256  # heads being read at once; the oldest makes room for a new one
MAX_HANDLERS = 32  # requests being served at once, for anyone
RESERVED_HANDLERS = 4  # more, only for requests with the token or for /healthz
MAX_STREAMS = 8  # MJPEG and event streams together: 4 pages
STREAM_POLL_S = 1.0  # how often a stream checks for shutdown while nothing new comes
EVENTS_MIN_INTERVAL_S = 0.1  # at most 10 status messages a second, however fast the model runs
LISTEN_BACKLOG = 128  # connections the kernel queues until the gate accepts them
HEALTH_PATH = "/healthz"

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


def listening_socket(family: socket.AddressFamily, address: tuple[Any, ...]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once after a stop
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


class WebServer:
    """Serves the page, its streams and the API for one pipeline."""

    def __init__(
        self,
        family: socket.AddressFamily,
        address: tuple[Any, ...],
        status: LiveStatus,
        stream: JpegStream,
        token: str | None,
        pictures: Path | None = None,
        teach: TeachDesk | None = None,
    ) -> None:
        self.status = status
        self.teach = teach  # the Teach page's desk, if any
        self.stream = stream
        self.pictures = pictures  # the event pictures' folder, if any
        self.token = token
        self.closing = threading.Event()
        self._handlers = threading.BoundedSemaphore(MAX_HANDLERS)
        self._reserved = threading.BoundedSemaphore(RESERVED_HANDLERS)
        self._streams = threading.BoundedSemaphore(MAX_STREAMS)
        self.socket = listening_socket(family, address)
        self.server_address = self.socket.getsockname()
        limits = GateLimits(MAX_REQUEST_HEAD, REQUEST_DEADLINE_S, MAX_PER_ADDRESS, MAX_PENDING_HEADS)
        self.gate = Gate(self.socket, limits, self.admit)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def cookie_name(self) -> str:
        return f"movinet_token_{self.port}"  # cookies ignore ports: one name per app

    def serve_forever(self) -> None:
        self.gate.serve_forever()

    def admit(self, arrival: Arrival) -> bool:
        """Gate callback: serve a complete head on a thread if a handler place is free."""
        if self._handlers.acquire(blocking=False):
            places = self._handlers
        elif self._privileged(arrival.head) and self._reserved.acquire(blocking=False):
            places = self._reserved
        else:
            return False
        thread = threading.Thread(target=self._serve, args=(arrival, places), name="web-request", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no thread to be had: answer busy
            places.release()
            return False
        return True

    def _privileged(self, head: bytes) -> bool:
        """A request for /healthz, or one carrying the token: may use the reserved handlers."""
        line, _, rest = head.partition(b"\n")
        parts = line.split()
        if len(parts) < 2:
            return False
        url = urlsplit(parts[1].decode("latin-1"))
        if url.path == HEALTH_PATH or self.token is None:
            return True
        try:
            query = parse_qs(url.query, max_num_fields=MAX_QUERY_FIELDS)
            headers = parse_headers(io.BytesIO(rest))
        except (ValueError, HTTPException):
            return False
        return offers_token(self.token, self.cookie_name, query, headers)

    def _serve(self, arrival: Arrival, places: threading.BoundedSemaphore) -> None:
        try:
            WebHandler(arrival, arrival.address, self)
        except Exception:
            self.handle_error(arrival.address)
        finally:
            places.release()
            with contextlib.suppress(OSError):
                arrival.sock.shutdown(socket.SHUT_WR)  # the answer is complete: say so before closing
            arrival.sock.close()
            self.gate.done(arrival)

    def handle_error(self, client_address: Any) -> None:
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
        self.gate.close()
        self.socket.close()


class RequestHead(io.BytesIO):
    """The request head as the gate read it; `exhausted` if it was cut short at MAX_REQUEST_HEAD."""

    def __init__(self, head: bytes, exhausted: bool) -> None:
        super().__init__(head)
        self.exhausted = exhausted


class WebHandler(BaseHTTPRequestHandler):
    server: WebServer
    server_version = "movinet-web"
    protocol_version = "HTTP/1.0"
    default_request_version = "HTTP/1.0"  # else an unparsable request gets an HTTP/0.9 answer: no status line

    def setup(self) -> None:
        arrival: Arrival = self.request
        self.connection = arrival.sock
        self.connection.settimeout(WRITE_TIMEOUT_S)  # the head is in: from now on only writes can block
        self.rfile = RequestHead(arrival.head, arrival.exhausted)  # type: ignore[assignment]
        self.wfile = _SocketWriter(self.connection)
        self.head_only = False

    def parse_request(self) -> bool:
        if len(self.raw_requestline) > MAX_REQUEST_LINE:
            self.requestline, self.request_version, self.command = "", "", ""  # as http.server's own 414
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
            return False
        if not super().parse_request():
            return False
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
        query = self._admitted(url.query)
        if query is None:
            return
        offered = query.get("token", [None])[0]
        if url.path in ("/", "/teach") and offered is not None:
            # Swap the token in the address for a cookie, and drop it from the history.
            cookie = f"{self.server.cookie_name}={offered}; Path=/; HttpOnly; SameSite=Strict"
            where = "./" if url.path == "/" else "teach"
            self._reply(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": where, "Set-Cookie": cookie})
            return
        if self.server.teach is not None and (reply := self.server.teach.get(url.path)) is not None:
            self._reply(*reply)
            return
        route = ROUTES.get(url.path)
        if route is None and url.path.startswith(PICTURES_PATH):
            route = WebHandler.picture
        if route is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        route(self)

    def do_HEAD(self) -> None:
        self.head_only = True
        self.do_GET()

    def _method_not_allowed(self) -> None:
        self._reply(HTTPStatus.METHOD_NOT_ALLOWED, b"GET or HEAD only\n", "text/plain", {"Allow": "GET, HEAD"})

    def do_POST(self) -> None:
        """The Teach page's changes only (app/web/teach.py), with the same token rules as GET."""
        url = urlsplit(self.path)
        if self.server.teach is None or not url.path.startswith(TEACH_API):
            self._method_not_allowed()
            return
        query = self._admitted(url.query)
        if query is None:
            return
        if not same_site(self.headers):
            self._json(HTTPStatus.FORBIDDEN, {"error": f"a change needs the {TEACH_HEADER}: 1 header, from this site"})
            return
        reply = self.server.teach.post(url.path, query)
        if reply is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        self._reply(*reply)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _method_not_allowed

    # -- checks -------------------------------------------------------------------------
    def _admitted(self, query_text: str) -> dict[str, list[str]] | None:
        """The query if the request may be served (host and token); else None, answered."""
        try:
            query = parse_qs(query_text, max_num_fields=MAX_QUERY_FIELDS)
        except ValueError:
            self.send_error(HTTPStatus.BAD_REQUEST, "too many query fields")
            return None
        if self.server.token is None and not loopback_host(self.headers):
            self.send_error(HTTPStatus.FORBIDDEN, "this address is served to loopback names only")
            return None
        if not self._authorized(query):
            self._reply(
                HTTPStatus.UNAUTHORIZED,
                b"a token is needed: open this address with ?token=YOUR_TOKEN once\n",
                "text/plain; charset=utf-8",
                {"WWW-Authenticate": 'Bearer realm="movinet"'},
            )
            return None
        return query

    def _authorized(self, query: Mapping[str, list[str]]) -> bool:
        token = self.server.token
        return token is None or offers_token(token, self.server.cookie_name, query, self.headers)

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

    def api_pictures(self) -> None:
        folder = self.server.pictures
        self._json(HTTPStatus.OK, event_pictures.recent(folder, RECENT_PICTURES) if folder is not None else [])

    def picture(self) -> None:
        folder = self.server.pictures
        name = urlsplit(self.path).path.removeprefix(PICTURES_PATH)
        data = event_pictures.read(folder, name) if folder is not None else None
        if data is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        self._reply(HTTPStatus.OK, data, "image/jpeg")

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
    HEALTH_PATH: WebHandler.healthz,
    "/snapshot.jpg": WebHandler.snapshot,
    "/stream.mjpg": WebHandler.mjpeg,
    "/events": WebHandler.events,
    "/api/pictures": WebHandler.api_pictures,
}
PICTURES_PATH = "/pictures/"  # + an event picture's name
TEACH_API = "/api/teach/"
RECENT_PICTURES = 6
