"""Where and how to reach the MQTT broker: the URL, credentials, TLS, client id and topics.

`broker_url` is the argparse type of `--mqtt`, so `config check` names a bad URL with
its key and line. The password never comes from the command line or the URL, where any
user could read it in `ps`: it comes from a file (--mqtt-password-file) or from
MOVINET_MQTT_PASSWORD, as the web view's token does.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from app.errors import AppError, OptionError
from app.input_files import UnreadableFile, read_small_text

SCHEMES = {"mqtt": 1883, "mqtts": 8883}
USER_ENV = "MOVINET_MQTT_USER"
PASSWORD_ENV = "MOVINET_MQTT_PASSWORD"
# MQTT topic levels: no wildcards, no empty level (a leading or doubled slash).
TOPIC_PATTERN = re.compile(r"[^/#+\x00]+(/[^/#+\x00]+)*")
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
MQTT_STRING_MAX_BYTES = 65535  # an MQTT string's 2-byte length (user name, password, topic)
PASSWORD_FILE_MAX_BYTES = 1 << 16  # read no further; what is read must still fit an MQTT string
# Far beyond any real prefix, and leaves every topic the app builds on one (a discovery
# topic adds a node id, a label and three levels) well inside an MQTT string.
PREFIX_MAX_BYTES = 1024
DEFAULT_STATUS_S = 30.0
DEFAULT_DISCOVERY_PREFIX = "homeassistant"


@dataclass(frozen=True)
class BrokerUrl:
    scheme: str
    host: str
    port: int
    user: str | None

    @property
    def tls(self) -> bool:
        return self.scheme == "mqtts"

    def __str__(self) -> str:  # never shows a password: there is none in here
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def broker_url(text: str) -> BrokerUrl:
    """`mqtt://host[:port]`, `mqtts://user@host:8883`; argparse.ArgumentTypeError if bad."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:  # a port that is not a number or out of range
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise argparse.ArgumentTypeError(f"{text!r}: use mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS)")
    if not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r}: no broker host")
    if parts.password is not None:
        raise argparse.ArgumentTypeError(
            f"put the password in --mqtt-password-file or ${PASSWORD_ENV}, not in the URL (`ps` shows it)"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"{text!r}: a broker URL has no path; topics are set by --mqtt-prefix")
    try:  # what name lookup does with it, where a bad one was a UnicodeError traceback
        parts.hostname.encode("idna")
    except UnicodeError:
        name = shown(parts.hostname)
        raise argparse.ArgumentTypeError(f"{name}: not a host name (dot-separated labels of 1 to 63)") from None
    if port == 0:  # "any port" to a server, no broker's address
        raise argparse.ArgumentTypeError(f"{text!r}: port 0 is no broker's port (1-65535, or none for the default)")
    user = unquote(parts.username) if parts.username else None
    return BrokerUrl(parts.scheme, parts.hostname, SCHEMES[parts.scheme] if port is None else port, user)


def shown(text: str) -> str:
    """`text` quoted for a message, its start only if it is long (a 70,000-character value)."""
    return f"{text[:20]!r}... ({len(text)} characters)" if len(text) > 40 else repr(text)


def utf8_size(text: str) -> int | None:
    """The bytes MQTT sends for `text`, None if it cannot be UTF-8 (an undecodable command-line byte)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def topic_prefix(text: str) -> str:
    text = text.strip()
    size = utf8_size(text)
    if size is None or size > PREFIX_MAX_BYTES:
        limit = f"a topic prefix is UTF-8 text of at most {PREFIX_MAX_BYTES} bytes"
        raise argparse.ArgumentTypeError(f"{shown(text)}: {limit}")
    if not TOPIC_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r}: topic levels separated by '/', none empty, no '+' or '#'")
    return text


def client_id(text: str) -> str:
    if not CLIENT_ID_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r}: 1 to 64 letters, digits, '.', '_' or '-'")
    return text


def existing_file(text: str) -> Path:
    path = Path(text)
    if not os.path.isfile(path):  # False, not OSError, for a name too long
        raise argparse.ArgumentTypeError(f"no such file: {path}")
    return path


def hostname() -> str:
    """This machine's short name, as topics and ids use it (e.g. `kitchen-pi`)."""
    name = socket.gethostname().split(".")[0].lower()
    return re.sub(r"[^a-z0-9_-]+", "-", name).strip("-") or "pi"


@dataclass(frozen=True)
class MqttSettings:
    url: BrokerUrl
    user: str | None
    password: str | None
    ca_file: Path | None  # None: the system's CA certificates (mqtts only)
    client_id: str
    prefix: str
    discovery_prefix: str | None  # None: no Home Assistant discovery
    status_interval: float

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.url.tls:
            return None
        try:
            return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise OptionError("mqtt_ca_file", f"{self.ca_file}: not a PEM CA certificate ({exc})") from None


def read_password(path: Path | None, env: Mapping[str, str]) -> str | None:
    if path is None:
        password = env.get(PASSWORD_ENV) or None
        check_mqtt_string(password, f"${PASSWORD_ENV}")
        return password
    try:
        password = read_small_text(path, "password file", PASSWORD_FILE_MAX_BYTES).strip() or None
    except UnreadableFile as exc:
        raise OptionError("mqtt_password_file", f"{path}: cannot read: {exc.reason}") from None
    check_mqtt_string(password, f"--mqtt-password-file {path}")
    return password


def check_mqtt_string(text: str | None, what: str) -> None:
    """AppError unless `text` fits an MQTT string (once a struct.error deep in paho)."""
    if text is None:
        return
    size = utf8_size(text)
    if size is None:
        raise AppError(f"{what}: not UTF-8 text, which MQTT requires")
    if size > MQTT_STRING_MAX_BYTES:
        raise AppError(f"{what}: {size} bytes, MQTT allows at most {MQTT_STRING_MAX_BYTES} bytes")


def mqtt_settings(
    url: BrokerUrl,
    *,
    user: str | None = None,
    password_file: Path | None = None,
    ca_file: Path | None = None,
    client_id: str | None = None,
    prefix: str | None = None,
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX,
    status_interval: float = DEFAULT_STATUS_S,
    env: Mapping[str, str] = os.environ,
) -> MqttSettings:
    """The MQTT options checked together; AppError names a bad one.

    Also `config check`'s check (with the environment of the service, unknown there: {}).
    `user` None: from the URL, else $MOVINET_MQTT_USER; `discovery_prefix` "off": none.
    """
    if ca_file is not None and not url.tls:
        tls_url = BrokerUrl("mqtts", url.host, url.port if url.port != SCHEMES["mqtt"] else SCHEMES["mqtts"], None)
        raise OptionError("mqtt", f"{url} is not TLS, yet a CA file is given", str(tls_url))
    user_from = "--mqtt-user" if user else "the MQTT user in --mqtt" if url.user else f"${USER_ENV}"
    user = user or url.user or env.get(USER_ENV) or None
    check_mqtt_string(user, user_from)
    password = read_password(password_file, env)
    if password is not None and user is None:
        raise AppError(f"an MQTT password needs a user: --mqtt-user, mqtt://USER@HOST or ${USER_ENV}")
    name = hostname()
    settings = MqttSettings(
        url=url,
        user=user,
        password=password,
        ca_file=ca_file,
        client_id=client_id or f"movinet-{name}",
        prefix=prefix or f"movinet/{name}",
        discovery_prefix=None if discovery_prefix == "off" else discovery_prefix,
        status_interval=status_interval,
    )
    settings.tls_context()  # a CA file that is not one fails here, not at the first connection
    return settings
