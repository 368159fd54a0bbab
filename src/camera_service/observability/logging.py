"""Structured logs: JSON lines by default, readable text on a terminal, UTC times,
the request's correlation id on every line, and credentials never written. They go to
stderr, or stdout (``logging.stream``) for container runtimes."""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from contextvars import ContextVar
from typing import Any

import orjson

from camera_service.config import LoggingConfig

# (connection, request id) of the request being handled, for every log line it causes:
# formatted "<connection>:<request id>" only when a line is logged. A request's steps
# that wait run in a task with this set; its first, synchronous steps set
# ``current_request`` instead.
request_id: ContextVar[tuple[object, object] | None] = ContextVar("request_id", default=None)


class CurrentRequest:
    """The request whose synchronous steps run now on the event loop's thread, set and
    cleared around them by the dispatcher: a plain attribute costs a ``ping`` a tenth
    of what setting and resetting the context variable does (docs/benchmarks.md). A
    task those steps start does not carry the request's id: its lines are its own."""

    __slots__ = ("id", "thread")

    def __init__(self) -> None:
        self.id: tuple[object, object] | None = None
        self.thread = threading.get_ident()  # the loop's: the dispatcher's, see bind()

    def bind(self) -> None:
        """Called from the thread the dispatcher runs on."""
        self.thread = threading.get_ident()


current_request = CurrentRequest()

# JWTs, our API keys and user:password@ in URLs are cut out of any message.
_SECRETS = re.compile(
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"
    r"|csk_[A-Za-z0-9_-]{16,}"
    r"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"
)
_STD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


def redact(text: str) -> str:
    return _SECRETS.sub("***", text)


def _iso(record: logging.LogRecord) -> str:
    t = time.gmtime(record.created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(record.msecs):03d}Z"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STD_ATTRS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _iso(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            entry["request_id"] = rid
        for k, v in _extras(record).items():
            if k != "request_id":
                entry[k] = redact(v) if isinstance(v, str) else v
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items() if v is not None)
        line = f"{_iso(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += "  " + extras
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


class RequestFilter(logging.Filter):
    """Stamps every line logged while a request is handled with its ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            current = current_request.id if record.thread == current_request.thread else None
            if current is None:
                current = request_id.get()
            record.request_id = None if current is None else f"{current[0]}:{current[1]}"
        return True


def setup_logging(cfg: LoggingConfig, stream: Any = None) -> None:
    """Log to ``stream`` (tests), else to ``cfg.stream``: stderr, or stdout where a
    container runtime collects it."""
    if stream is None:
        stream = sys.stdout if cfg.stream == "stdout" else sys.stderr
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    use_text = cfg.format == "text" or (cfg.format == "auto" and stream.isatty())
    handler: logging.Handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter() if use_text else JsonFormatter())
    handler.addFilter(RequestFilter())
    root.addHandler(handler)
    if cfg.file is not None:
        # imported here: logging.handlers (and the pickle it loads) costs ~0.4 MB of idle
        # RSS in every service that logs to a stream only
        from logging.handlers import RotatingFileHandler

        cfg.file.parent.mkdir(parents=True, exist_ok=True)
        fh = RotatingFileHandler(
            cfg.file, maxBytes=cfg.max_bytes, backupCount=cfg.backup_count, encoding="utf-8"
        )
        fh.setFormatter(JsonFormatter())
        fh.addFilter(RequestFilter())
        root.addHandler(fh)
    root.setLevel(cfg.level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level)
