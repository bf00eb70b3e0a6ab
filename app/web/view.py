"""`run --web [HOST:]PORT`: the live web view, for a Pi with no screen.

app/settings/run.py builds WebSettings (parse_listen, load_token), cli.py calls `attach_web`.
The view listens on 127.0.0.1 unless told otherwise; any other address needs a token,
which comes from a file (--web-token-file) or MOVINET_WEB_TOKEN, never from the command
line, where every user of the machine could read it in `ps`. Values are checked here
(address, token) when the view starts, so a bad one is a one-line `error:`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import AppError, OptionError
from app.input_files import UnreadableFile, read_small_text
from app.overlay import LiveOverlay, model_label
from app.pipeline import Pipeline, Stage
from app.settings.model import ModelSettings
from app.web.server import WebServer
from app.web.status import LiveStatus, RunInfo
from app.web.stream import DEFAULT_FPS, JpegStream
from app.web.teach import teach_desk_for

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
TOKEN_ENV = "MOVINET_WEB_TOKEN"
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~-]{16,256}")  # safe in an address, a header and a cookie
MAX_TOKEN_FILE_BYTES = 4096  # a token is at most 256 characters; /dev/zero is not a token file
TOKEN_HINT = "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe())'"
STALE_STEPS = 3  # /healthz fails after this many missed model steps (or --stall-timeout, if longer)


@dataclass(frozen=True)
class WebSettings:
    host: str
    port: int
    token: str | None  # None: no token (refused beyond this machine when the view starts)
    fps: float = DEFAULT_FPS  # the video's pictures a second at most
    teach_set: Path | None = None  # the Teach page's set, or None for none

    @property
    def listen(self) -> str:
        """As the user writes it: `[::1]:8080`, `0.0.0.0:8080`."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Listen:
    """Where to listen, resolved."""

    family: socket.AddressFamily
    address: tuple[Any, ...]  # for bind()

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return ipaddress.ip_address(self.address[0].partition("%")[0])  # without an IPv6 scope


def url_of(address: tuple[Any, ...]) -> str:
    host, port = address[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def parse_listen(text: str) -> tuple[str, int]:
    """`8080`, `0.0.0.0:8080`, `[::]:8080`, `mypi.local:8080` -> (host, port); AppError if bad."""
    host, colon, port_text = text.strip().rpartition(":")
    if not colon:
        host = DEFAULT_HOST
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise OptionError("web", f"{text}: write an IPv6 address in brackets, e.g. [::1]:8080")
    if not host:
        raise OptionError("web", f"{text}: the host is empty (give just a port for {DEFAULT_HOST})")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise OptionError("web", f"{text}: the port must be a number from 0 to 65535, got {port_text!r}")
    return host, int(port_text)


def resolve_listen(host: str, port: int) -> Listen:
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise OptionError("web", f"cannot resolve {host!r}: {exc}") from None
    return Listen(family, address)


def load_token(path: Path | None, env: Mapping[str, str]) -> str | None:
    """The token from the file if one is given, else from the environment; None if neither."""
    if path is not None:
        try:
            token = read_small_text(path, "web token file", MAX_TOKEN_FILE_BYTES).strip()
            shared = path.stat().st_mode & 0o077
        except UnreadableFile as exc:
            raise OptionError("web_token_file", f"{path}: cannot read it: {exc.reason}") from None
        if shared:
            log.warning("%s can be read by other users: chmod 600 %s", path, path)
        where = str(path)
    else:
        token = env.get(TOKEN_ENV, "").strip()
        where = f"${TOKEN_ENV}"
        if not token:
            return None
    if not TOKEN_PATTERN.fullmatch(token):
        rule = "16 to 256 letters, digits, '-', '_', '.' or '~'"
        raise AppError(f"the web token in {where} must be {rule}; {TOKEN_HINT}")
    return token


class WebView:
    """The running server and what feeds it; `close` is the pipeline's closer."""

    def __init__(self, server: WebServer, stream: JpegStream, url: str) -> None:
        self.server = server
        self.stream = stream
        self.url = url
        self._thread = threading.Thread(target=server.serve_forever, name="web", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.close()
        self.stream.close()


def attach_web(
    pipeline: Pipeline,
    settings: WebSettings | None,
    model_settings: ModelSettings,
    overlay: LiveOverlay,
    pictures: Path | None = None,
) -> WebView | None:
    """Start the server and feed it from the pipeline (None without --web).

    `overlay` is the run's (shared with the previews); `model_settings` the run's label
    options, which the Teach page applies to its set; `pictures`: the event pictures'
    folder, whose newest pictures the page shows.
    """
    if settings is None:
        return None
    token = settings.token
    listen = resolve_listen(settings.host, settings.port)
    if not listen.ip.is_loopback and token is None:
        raise OptionError(
            "web",
            f"{settings.listen} listens beyond this machine, so it needs a token: put one in a file named by "
            f"--web-token-file (web_token_file in a config) or in ${TOKEN_ENV} ({TOKEN_HINT})",
        )
    classifier = pipeline.classifier
    model = model_label(classifier.model_path.stem)
    stream = JpegStream(overlay, fps=settings.fps)
    run = RunInfo(model, classifier.runtime, classifier.threads, pipeline.source.name, pipeline.options.fps)
    stale_after = max(pipeline.options.stall_timeout, STALE_STEPS / pipeline.options.fps)
    status = LiveStatus(overlay, run, stale_after, viewers=lambda: stream.watchers, encode_ms=lambda: stream.encode_ms)
    teach = teach_desk_for(pipeline, settings.teach_set, model_settings)
    try:
        server = WebServer(listen.family, listen.address, status, stream, token, pictures, teach)
    except OSError as exc:
        stream.close()
        raise OptionError("web", f"{settings.listen}: cannot listen: {exc.strerror or exc}") from None
    view = WebView(server, stream, url_of(server.server_address))
    pipeline.on_result(overlay.update, Stage.OVERLAY)  # the status shows the labels of each result
    pipeline.on_result(status.on_result)
    pipeline.on_frame(stream.on_frame, wanted=stream.wanted)
    pipeline.on_close(view.close)
    how = "open it once with ?token=..." if token else "no token"
    if listen.ip.is_unspecified:
        how += f"; from other machines e.g. http://{socket.gethostname()}.local:{server.port}/"
    log.info("web view on %s (%s)", view.url, how)
    return view
