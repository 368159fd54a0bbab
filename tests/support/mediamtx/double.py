"""A test double of MediaMTX's Control API v3, held to MediaMTX's published contract.

Usage::

    async with MediaMtxDouble() as mtx:
        client = MediaMtxClient(mtx.api_url)   # whatever the service uses
        ...
        assert mtx.violations == []

What it does, and where each behaviour comes from (MediaMTX v1.20.1, ``internal/api`` and
``internal/conf``):

- every request and every response goes through :class:`~.openapi.Validator` (an aiohttp
  middleware); violations are collected in :attr:`MediaMtxDouble.violations` and a bad
  request is answered 400 with an ``Error`` body, as MediaMTX would;
- path configurations live in RAM only: :meth:`restart` forgets everything added through
  the API (and reverts patches to configured paths), like a MediaMTX restart does;
- a ``GET`` of a path configuration returns every field, filled from the defaults of the
  vendored ``mediamtx.yml`` (durations re-printed the way Go prints them, e.g. ``1h0m0s``);
- add fails if the path exists ("path already exists", 400); patch and delete of an
  unknown path answer 404 "path not found"; replace creates or replaces (current
  MediaMTX); a configuration MediaMTX's ``Validate()`` would refuse is answered 400 with
  its message (path name, source, ``runOnDemand`` only with ``publisher``, ``recordPath``
  placeholders, durations, ...);
- runtime paths (``/v3/paths/*``) exist for every non-regexp configured path, "not
  available, no readers" unless a data plane says otherwise;
- recordings are found by scanning each path's ``recordPath`` on disk exactly like
  ``recordstore.FindSegments`` (relative record paths resolve against ``work_dir``).

Data-plane hook: :attr:`MediaMtxDouble.data_plane` (None by default) may be any object
with any of these methods (plain or ``async``); missing ones are skipped:

- ``path_configured(name: str, conf: dict) -> None`` - a path configuration was created
  or changed (also for configured paths at start/restart); ``conf`` is the full effective
  configuration, exactly what ``GET /v3/config/paths/get/{name}`` returns;
- ``path_removed(name: str) -> None`` - the configuration was deleted, or the server
  stopped/restarted (runtime state is gone);
- ``global_configured(conf: dict) -> None`` - the global settings patched through the
  API (``{}`` at start/restart: API changes live in RAM);
- ``path_state(name: str) -> dict | None`` - runtime fields of ``Path`` for that path
  (``available``/``ready``, ``availableTime``/``readyTime``, ``online``, ``source``,
  ``tracks``/``tracks2``, ``inboundBytes``/``bytesReceived``,
  ``outboundBytes``/``bytesSent``, ``readers``...). Aliases are mirrored when only one of
  a pair is given; times may be ``datetime``. ``None`` means "not available, no readers".
  For names that only match a regexp configuration, a dict makes the path exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from aiohttp import web

from tests.support.lifecycle import StartStop

from .openapi import ContractViolation, ValidatedRequest, Validator

MEDIAMTX_VERSION = "v1.20.1"
DEFAULTS_PATH = Path(__file__).with_name("mediamtx.yml")

_PATH_NAME_RE = re.compile(r"^[0-9a-zA-Z_\-/\.~]+$")
# PathConf fields that MediaMTX holds as conf.Duration / conf.StringSize.
_DURATION_FIELDS = frozenset(
    {
        "sourceOnDemandStartTimeout",
        "sourceOnDemandCloseAfter",
        "recordPartDuration",
        "recordSegmentDuration",
        "recordDeleteAfter",
        "runOnDemandStartTimeout",
        "runOnDemandCloseAfter",
        "whepSTUNGatherTimeout",
        "whepHandshakeTimeout",
        "whepTrackGatherTimeout",
    }
)
_SIZE_FIELDS = frozenset({"recordMaxPartSize"})
_PATH_CONF_REF = {"$ref": "#/components/schemas/PathConf"}
_URL_SOURCE_SCHEMES = (
    "rtsp",
    "rtsps",
    "rtmp",
    "rtmps",
    "http",
    "https",
    "udp",
    "udp+mpegts",
    "udp+rtp",
    "unix+mpegts",
    "unix+rtp",
    "srt",
    "whep",
    "wheps",
    "moq",
    "moqs",
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the double received it (before any knob acted on it)."""

    method: str
    path: str
    query: Mapping[str, str]
    body: Any  # parsed JSON; the raw text if it was not JSON; None if empty
    raw_body: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class ApiCall:
    """What a handler gets: the validated request plus its aiohttp request."""

    request: web.Request
    operation_id: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any


Handler = Callable[[ApiCall], Awaitable[web.Response]]


class ConfError(Exception):
    """A configuration MediaMTX would refuse; the message is MediaMTX's."""


# -- Go-compatible formatting and parsing ----------------------------------------------------


def go_time(dt: datetime) -> str:
    """A time as Go's ``time.Time`` marshals it to JSON (RFC 3339, trimmed fraction)."""
    if dt.tzinfo is None:
        dt = dt.astimezone()
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += "." + f"{dt.microsecond:06d}".rstrip("0")
    offset = dt.utcoffset() or timedelta(0)
    if not offset:
        return text + "Z"
    secs = int(offset.total_seconds())
    sign = "+" if secs >= 0 else "-"
    secs = abs(secs)
    return f"{text}{sign}{secs // 3600:02d}:{secs % 3600 // 60:02d}"


def parse_rfc3339(text: str) -> datetime:
    """Go's ``time.Parse(time.RFC3339, ...)``, keeping the given offset."""
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})", text)
    if m is None:
        raise ValueError(f'parsing time "{text}" as "2006-01-02T15:04:05Z07:00": cannot parse')
    frac = (m.group(2) or "")[:6].ljust(6, "0")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(f"{m.group(1)}.{frac}{zone}")


_GO_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_GO_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)")
_DAY_NS = 86_400 * 1_000_000_000


def parse_go_duration(text: str) -> int:
    """MediaMTX's ``conf.Duration``: an optional ``<n>d`` prefix, then Go's ParseDuration."""
    original, days, negative = text, 0, False
    m = re.match(r"^(-?[0-9]+)d", text)
    if m:
        days = int(m.group(1))
        negative = days < 0
        days = abs(days)
        text = text[m.end() :]
    ns = 0
    if text:
        sign = 1
        if text[0] in "+-":
            sign = -1 if text[0] == "-" else 1
            text = text[1:]
        if text != "0":
            if not text:
                raise ValueError(f'time: invalid duration "{original}"')
            pos = 0
            while pos < len(text):
                part = _GO_DURATION_PART.match(text, pos)
                if part is None or not (part.group(1) or part.group(2)):
                    raise ValueError(f'time: invalid duration "{original}"')
                value = Decimal(part.group(1) or "0")
                if part.group(2):
                    value += Decimal("0." + part.group(2))
                ns += int(value * _GO_UNITS[part.group(3)])
                pos = part.end()
        ns *= sign
    ns += days * _DAY_NS
    return -ns if negative else ns


def _frac(value: int, digits: int) -> str:
    whole, rest = divmod(value, 10**digits)
    tail = f"{rest:0{digits}d}".rstrip("0")
    return f"{whole}.{tail}" if tail else str(whole)


def format_go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()``."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_frac(u, 3)}µs"
    if u < 1_000_000_000:
        return f"{sign}{_frac(u, 6)}ms"
    hours, rest = divmod(u, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    out = f"{hours}h" if hours else ""
    if hours or minutes:
        out += f"{minutes}m"
    return f"{sign}{out}{_frac(rest, 9)}s"


def format_mediamtx_duration(ns: int) -> str:
    """How ``conf.Duration`` marshals: whole days as ``<n>d``, the rest Go-style."""
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    days, rest = divmod(u, _DAY_NS)
    out = f"{days}d" if days else ""
    if rest:
        out += format_go_duration(rest)
    return sign + out


_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def parse_size(text: str) -> int:
    """``bytefmt.ToBytes`` as ``conf.StringSize`` uses it."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([KMGTPE]?)(?:I?B)?\s*", text.upper())
    if m is None or m.group(2) == "E" or float(m.group(1)) <= 0:
        raise ValueError(
            "byte quantity must be a positive integer with a unit of measurement like M, MB, "
            "MiB, G, GiB, or GB"
        )
    return int(Decimal(m.group(1)) * _SIZE_UNITS[m.group(2)])


def format_size(size: int) -> str:
    """``bytefmt.ByteSize``."""
    for unit in ("P", "T", "G", "M", "K"):
        if size >= _SIZE_UNITS[unit]:
            text = f"{size / _SIZE_UNITS[unit]:.1f}".removesuffix(".0")
            return text + unit
    return f"{size}B"


# -- recordstore (segment paths) -------------------------------------------------------------


def _record_ext(conf: Mapping[str, Any]) -> str:
    return ".ts" if conf.get("recordFormat") == "mpegts" else ".mp4"


def common_path(fmt: str) -> str:
    """``recordstore.CommonPath``: the directory prefix free of ``%`` placeholders."""
    common, remaining = "", fmt
    while True:
        idx = min((i for i in (remaining.find("/"), remaining.find("\\")) if i >= 0), default=-1)
        if idx < 0:
            break
        part, remaining = remaining[: idx + 1], remaining[idx + 1 :]
        if "%" in part:
            break
        common += part
    return common[:-1] if common else common


def encode_segment_path(fmt: str, path_name: str, start: datetime) -> str:
    """``recordstore.Path.Encode``."""
    if start.tzinfo is None:
        start = start.astimezone()
    offset = int((start.utcoffset() or timedelta(0)).total_seconds())
    if offset == 0:
        zone = "Z"
    else:
        hours, minutes = abs(offset) // 3600, abs(offset) % 3600 // 60
        zone = ("+" if offset > 0 else "-") + f"{hours:02d}{minutes:02d}"
    out = fmt.replace("%path", path_name)
    for token, value in (
        ("%Y", str(start.year)),
        ("%m", f"{start.month:02d}"),
        ("%d", f"{start.day:02d}"),
        ("%H", f"{start.hour:02d}"),
        ("%M", f"{start.minute:02d}"),
        ("%S", f"{start.second:02d}"),
        ("%f", f"{start.microsecond:06d}"),
        ("%z", zone),
        ("%s", str(int(start.timestamp()))),
    ):
        out = out.replace(token, value)
    return out


_DECODE_TOKENS = ("%path", "%Y", "%m", "%d", "%H", "%M", "%S", "%f", "%z", "%s")


def decode_segment_path(fmt: str, candidate: str) -> tuple[str | None, datetime] | None:
    """``recordstore.Path.Decode``: (path name if ``%path`` is in fmt, start) or None."""
    pattern = fmt
    for ch in "\\.+*?^$()[]{}|":
        pattern = pattern.replace(ch, "\\" + ch)
    for token, group in (
        ("%path", "(.*?)"),
        ("%Y", "([0-9]{4})"),
        ("%m", "([0-9]{2})"),
        ("%d", "([0-9]{2})"),
        ("%H", "([0-9]{2})"),
        ("%M", "([0-9]{2})"),
        ("%S", "([0-9]{2})"),
        ("%f", "([0-9]{6})"),
        ("%z", "(Z|\\+[0-9]{4}|-[0-9]{4})"),
        ("%s", "([0-9]{10})"),
    ):
        pattern = pattern.replace(token, group)
    mapping: list[str] = []
    cur = fmt
    while (i := cur.find("%")) >= 0:
        cur = cur[i:]
        mapping.extend(t for t in _DECODE_TOKENS if cur.startswith(t))
        cur = cur[1:]
    # Go's FindStringSubmatch is unanchored; keep that.
    m = re.search(pattern, candidate)
    if m is None:
        return None
    values = dict(zip(mapping, m.groups(), strict=False))
    if "%s" in values and int(values["%s"]) > 0:
        start = datetime.fromtimestamp(int(values["%s"]), tz=UTC).astimezone()
        return values.get("%path"), start.replace(microsecond=int(values.get("%f", "0")))
    naive = datetime(
        int(values.get("%Y", "0") or 1),
        int(values.get("%m", "1")),
        int(values.get("%d", "1")),
        int(values.get("%H", "0")),
        int(values.get("%M", "0")),
        int(values.get("%S", "0")),
        int(values.get("%f", "0")),
    )
    zone = values.get("%z")
    if zone is None:
        start = naive.astimezone()  # Go decodes in time.Local
    elif zone == "Z":
        start = naive.replace(tzinfo=UTC)
    else:
        sign = 1 if zone[0] == "+" else -1
        delta = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
        start = naive.replace(tzinfo=timezone(sign * delta))
    return values.get("%path"), start


# -- configuration ---------------------------------------------------------------------------


def _load_path_defaults(validator: Validator) -> dict[str, Any]:
    with DEFAULTS_PATH.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)["pathDefaults"]
    props = validator.spec["components"]["schemas"]["PathConf"]["properties"]
    out: dict[str, Any] = {}
    for key, value in raw.items():
        # An empty YAML value is Go's zero value; every such field is a string.
        if value is None:
            schema = props[key]
            if "$ref" in schema:
                schema = validator.spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
            if schema.get("type") != "string":
                raise ValueError(f"pathDefaults.{key}: empty value for a non-string field")
            value = ""
        out[key] = value
    return out


def _normalize_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Decode-time conversions MediaMTX does (and the errors it gives) for a PathConf body."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue  # JSON null into an OptionalPath pointer field: "not set"
        if key in _DURATION_FIELDS and isinstance(value, str):
            out[key] = format_mediamtx_duration(parse_go_duration(value))
        elif key in _SIZE_FIELDS and isinstance(value, str):
            out[key] = format_size(parse_size(value))
        else:
            out[key] = copy.deepcopy(value)
    return out


def is_regexp_conf(name: str) -> bool:
    return name in ("all", "all_others") or name.startswith("~")


def _conf_regexp(name: str) -> re.Pattern[str] | None:
    if name in ("all", "all_others"):
        return re.compile(r"^.*$")
    if name.startswith("~"):
        return re.compile(name[1:])
    return None


def check_path_name(name: str) -> str | None:
    """``conf.IsValidPathName`` (plus: no ``..``, so a name can never escape a directory)."""
    if name == "":
        return "cannot be empty"
    if name.startswith("/"):
        return "can't begin with a slash"
    if name.endswith("/"):
        return "can't end with a slash"
    if not _PATH_NAME_RE.match(name):
        return "can contain only alphanumeric characters, underscore, dot, tilde, minus or slash"
    if ".." in name:
        return "can't contain '..'"
    return None


def check_path_conf(name: str, conf: Mapping[str, Any]) -> None:
    """The parts of ``conf.Path.validate`` the service can trip over; raises ConfError."""
    regexp: re.Pattern[str] | None = None
    if name in ("all", "all_others"):
        regexp = re.compile(r"^.*$")
    elif name == "" or not name.startswith("~"):
        err = check_path_name(name)
        if err:
            raise ConfError(f"invalid path name '{name}': {err}")
    else:
        try:
            regexp = re.compile(name[1:])
        except re.error:
            raise ConfError(f"invalid regular expression: {name[1:]}") from None

    source = conf["source"]
    static_source = source not in ("publisher", "redirect")
    if static_source and regexp is not None and not conf["sourceOnDemand"]:
        raise ConfError(
            "a path with a regular expression (or path 'all') and a static source"
            " must have 'sourceOnDemand' set to true"
        )
    if conf["srtPublishPassphrase"] and source != "publisher":
        raise ConfError("'srtPublishPassphase' can only be used when source is 'publisher'")
    if conf["sourceOnDemand"] and source == "publisher":
        raise ConfError("'sourceOnDemand' is useless when source is 'publisher'")
    if source != "redirect" and conf["sourceRedirect"]:
        raise ConfError("'sourceRedirect' is useless when source is not 'redirect'")

    if source == "redirect":
        if not conf["sourceRedirect"]:
            raise ConfError("source redirect must be filled")
    elif source not in ("publisher", "rpiCamera"):
        scheme = source.split("://", 1)[0] if "://" in source else None
        if scheme not in _URL_SOURCE_SCHEMES:
            raise ConfError(f"invalid source: '{source}'")
        if not urlsplit(source).netloc:
            raise ConfError(f"'{source}' is not a valid URL")

    record_path = conf["recordPath"]
    if "%path" not in record_path:
        raise ConfError("'recordPath' must contain %path")
    if "%s" not in record_path and not all(
        t in record_path for t in ("%Y", "%m", "%d", "%H", "%M", "%S")
    ):
        raise ConfError("'recordPath' must contain either %s or %Y %m %d %H %M %S")
    segment = parse_go_duration(conf["recordSegmentDuration"])
    if segment > _DAY_NS:
        raise ConfError("maximum segment duration is 1 day")
    delete_after = parse_go_duration(conf["recordDeleteAfter"])
    if delete_after != 0 and delete_after < segment:
        raise ConfError("'recordDeleteAfter' cannot be lower than 'recordSegmentDuration'")

    if conf["runOnInit"] and regexp is not None:
        raise ConfError(
            "a path with a regular expression (or path 'all') does not support option"
            " 'runOnInit'; use another path"
        )
    if (conf["runOnDemand"] or conf["runOnUnDemand"]) and source != "publisher":
        raise ConfError(
            "'runOnDemand' and 'runOnUnDemand' can be used only when source is 'publisher'"
        )


def _paginate(items: list[Any], query: Mapping[str, str]) -> tuple[list[Any], int]:
    """``api.paginate``: same defaults, same errors."""

    def parse(raw: str) -> int:
        if not raw.isdigit():
            raise ValueError(f'strconv.ParseUint: parsing "{raw}": invalid syntax')
        value = int(raw)
        if value >= 1 << 31:
            raise ValueError(f'strconv.ParseUint: parsing "{raw}": value out of range')
        return value

    per_page = 100
    if query.get("itemsPerPage", ""):
        per_page = parse(query["itemsPerPage"])
        if per_page == 0:
            raise ValueError("invalid items per page")
    page = parse(query["page"]) if query.get("page", "") else 0
    if not items:
        return [], 0
    page_count = -(-len(items) // per_page)
    lo = min(page * per_page, len(items))
    hi = min((page + 1) * per_page, len(items))
    return items[lo:hi], page_count


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"status": "error", "error": message}, status=status)


def _ok() -> web.Response:
    return web.json_response({"status": "ok"})


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


# -- the double ------------------------------------------------------------------------------


class MediaMtxDouble(StartStop):
    """MediaMTX Control API v3 on 127.0.0.1, checked against the published spec.

    Knobs for failure tests: :meth:`restart`, :meth:`crash`, :meth:`fail_next`, :meth:`hang`,
    :meth:`stopped`. Observations: :attr:`requests`, :attr:`violations`,
    :meth:`wait_for_request`, :meth:`path_conf`.
    """

    def __init__(
        self,
        *,
        static_paths: Mapping[str, Mapping[str, Any] | None] | None = None,
        data_plane: Any = None,
        work_dir: str | os.PathLike[str] | None = None,
        version: str = MEDIAMTX_VERSION,
        validator: Validator | None = None,
    ) -> None:
        self.validator = validator or Validator()
        self.version = version
        # See the module docstring for the hook contract.
        self.data_plane: Any = data_plane
        # Where relative recordPaths resolve (MediaMTX's working directory).
        self.work_dir = Path(work_dir) if work_dir is not None else None
        self.requests: list[RecordedRequest] = []
        self.violations: list[ContractViolation] = []
        self.started: datetime | None = None
        # operationId -> handler; looked up per request so tests can monkeypatch entries.
        self.handlers: dict[str, Handler] = {
            "info": self._info,
            "configPathDefaultsGet": self._path_defaults_get,
            "configPathDefaultsPatch": self._path_defaults_patch,
            "configPathsList": self._conf_list,
            "configPathsGet": self._conf_get,
            "configPathsAdd": self._conf_add,
            "configPathsPatch": self._conf_patch,
            "configPathsReplace": self._conf_replace,
            "configPathsDelete": self._conf_delete,
            "pathsList": self._paths_list,
            "pathsGet": self._paths_get,
            "recordingsList": self._recordings_list,
            "recordingsGet": self._recordings_get,
            "recordingsDeleteSegment": self._recordings_delete_segment,
            "configGlobalSet": self._global_patch,
        }
        # Global settings patched through the API (RAM only; only the auth ones act).
        self.global_conf: dict[str, Any] = {}

        self._base_defaults = _load_path_defaults(self.validator)
        self._static: dict[str, dict[str, Any]] = {}
        for name, values in (static_paths or {}).items():
            errors = self.validator.schema_errors(values or {}, _PATH_CONF_REF)
            if errors:
                raise ValueError(f"static path {name!r}: " + "; ".join(m for m, _ in errors))
            normalized = _normalize_values(values or {})
            check_path_conf(name, self._merge(self._base_defaults, name, normalized))
            self._static[name] = normalized
        self._defaults = copy.deepcopy(self._base_defaults)
        self._confs: dict[str, dict[str, Any]] = copy.deepcopy(self._static)

        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._fail_remaining = 0
        self._fail_status = 500
        self._fail_message = "injected failure"
        self._unhung = asyncio.Event()
        self._unhung.set()
        self._hung: set[asyncio.Task[Any]] = set()
        self._lock = asyncio.Lock()
        self._arrivals = asyncio.Condition()
        self._available_since: dict[str, datetime] = {}

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the MediaMTX double was never started")
        return self._port

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self, port: int | None = None) -> None:
        """Start serving (a fresh MediaMTX process: RAM state reset, new start time)."""
        if self._runner is not None:
            raise RuntimeError("already running")
        await self._boot()
        await self._serve(port if port is not None else (self._port or 0))

    async def stop(self) -> None:
        """Stop serving; hung requests are dropped; the data plane hears path_removed."""
        if self._runner is None:
            return
        await self._unserve()
        await self._halt()

    async def crash(self) -> None:
        """Like MediaMTX killed (``kill -9``): its recorders die without finishing a
        segment or running a complete hook, then the API and its paths are gone.
        :meth:`start` again is MediaMTX started anew."""
        if self.data_plane is not None:
            await self.data_plane.kill_recorders()
        await self.stop()

    async def restart(self) -> None:
        """Like a MediaMTX restart: API-made paths are gone, same port, new start time."""
        async with self.stopped():
            pass

    @contextlib.asynccontextmanager
    async def stopped(self, *, lose_state: bool = True) -> AsyncIterator[None]:
        """Port closed (connection refused) inside the block; serving again afterwards.

        With ``lose_state`` (default) this is MediaMTX down and started again: RAM paths
        are forgotten and ``/v3/info`` reports a new start time. Without it, only the API
        listener goes away.
        """
        port = self.port
        await self._unserve()
        if lose_state:
            await self._halt()
        try:
            yield
        finally:
            if lose_state:
                await self._boot()
            await self._serve(port)

    async def _boot(self) -> None:
        self.global_conf = {}
        await self._hook("global_configured", {})
        self._defaults = copy.deepcopy(self._base_defaults)
        self._confs = copy.deepcopy(self._static)
        self._available_since.clear()
        now = datetime.now().astimezone()
        if self.started is not None and now <= self.started:
            now = self.started + timedelta(microseconds=1)  # a restart is always observable
        self.started = now
        for name in sorted(self._confs):
            await self._hook("path_configured", name, self._effective(name))

    async def _halt(self) -> None:
        for name in sorted(self._confs):
            await self._hook("path_removed", name)

    async def _serve(self, port: int) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/{tail:.*}", _unreachable)
        # handler_cancellation: a client that gives up ends its (possibly hung) handler.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=5.0
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def _unserve(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            raise RuntimeError("the MediaMTX double is not running")
        # A dying server drops requests it is sitting on: the client sees a disconnect.
        hung = list(self._hung)
        for task in hung:
            task.cancel()
        if hung:
            await asyncio.wait(hung)
        await runner.cleanup()

    # -- knobs ---------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, error: str = "injected failure") -> None:
        """Answer the next ``n`` requests with ``status`` and an ``Error`` body."""
        if n < 0 or not 400 <= status <= 599:
            raise ValueError("fail_next needs n >= 0 and an error status")
        self._fail_remaining, self._fail_status, self._fail_message = n, status, error

    def hang(self, on: bool = True) -> None:
        """While on, requests wait (until ``hang(False)``, the client gives up, or stop)."""
        if on:
            self._unhung.clear()
        else:
            self._unhung.set()

    @property
    def hanging(self) -> bool:
        return not self._unhung.is_set()

    @property
    def hung_requests(self) -> int:
        return len(self._hung)

    def take_violations(self) -> list[ContractViolation]:
        """Return and clear the violations (for tests that provoke them on purpose)."""
        taken, self.violations = self.violations, []
        return taken

    async def wait_for_request(
        self,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        *,
        start: int = 0,
        timeout: float = 5.0,
    ) -> RecordedRequest:
        """The first recorded request at index >= ``start`` matching ``predicate``."""

        def find() -> RecordedRequest | None:
            return next(
                (r for r in self.requests[start:] if predicate is None or predicate(r)), None
            )

        async with asyncio.timeout(timeout), self._arrivals:
            await self._arrivals.wait_for(lambda: find() is not None)
        found = find()
        assert found is not None
        return found

    # -- state accessors -----------------------------------------------------------------

    def path_names(self) -> list[str]:
        return sorted(self._confs)

    def path_conf(self, name: str) -> dict[str, Any] | None:
        """The effective configuration of ``name`` (what config/paths/get returns)."""
        return self._effective(name) if name in self._confs else None

    async def add_path(self, name: str, values: Mapping[str, Any] | None = None) -> None:
        """Create a path as another API client would (not recorded in ``requests``)."""
        async with self._lock:
            if name in self._confs:
                raise ConfError("path already exists")
            await self._commit({**self._confs, name: _normalize_values(values or {})}, [name])

    def segment_path(self, name: str, start: datetime) -> Path:
        """Where MediaMTX writes the segment of ``name`` that starts at ``start``."""
        conf_name = self._find_conf(name)
        conf = self._effective(conf_name)
        fmt = conf["recordPath"].replace("%path", name) + _record_ext(conf)
        return self._abs(encode_segment_path(fmt, name, start))

    def write_segment(self, name: str, start: datetime | None = None, data: bytes = b"") -> Path:
        """Write a segment as MediaMTX's recorder would; the path must have ``record`` on."""
        conf = self._effective(self._find_conf(name))
        if not conf["record"]:
            raise RuntimeError(f"path {name!r} has record off; MediaMTX would not write segments")
        target = self.segment_path(name, start or datetime.now().astimezone())
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return target

    # -- internals: configuration --------------------------------------------------------

    @staticmethod
    def _merge(defaults: Mapping[str, Any], name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        conf = copy.deepcopy(dict(defaults))
        conf.update(copy.deepcopy(dict(values)))
        conf["name"] = name
        for key in _DURATION_FIELDS:
            conf[key] = format_mediamtx_duration(parse_go_duration(conf[key]))
        return conf

    def _effective(self, name: str) -> dict[str, Any]:
        return self._merge(self._defaults, name, self._confs[name])

    def _abs(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else (self.work_dir or Path.cwd()) / p

    def _find_conf(self, name: str) -> str:
        """``conf.FindPathConf``: exact name, then regexp configurations; raises ConfError."""
        if name in self._confs:
            return name
        err = check_path_name(name)
        if err:
            raise ConfError(f"invalid path name: {err} ({name})")
        regexps = sorted(
            (n for n in self._confs if is_regexp_conf(n)),
            key=lambda n: (n in ("all", "all_others"), n),
        )
        for conf_name in regexps:
            pattern = _conf_regexp(conf_name)
            if pattern is not None and pattern.search(name):
                return conf_name
        raise ConfError(f"path '{name}' is not configured")

    async def _commit(self, new_confs: dict[str, dict[str, Any]], changed: list[str]) -> None:
        """Validate the whole new configuration like ``Conf.Validate``, then apply it."""
        for name in sorted(new_confs):
            check_path_conf(name, self._merge(self._defaults, name, new_confs[name]))
        removed = [n for n in self._confs if n not in new_confs]
        self._confs = new_confs
        for name in removed:
            self._available_since.pop(name, None)
            await self._hook("path_removed", name)
        for name in changed:
            if name in self._confs:
                await self._hook("path_configured", name, self._effective(name))

    async def _hook(self, method: str, *args: Any) -> Any:
        fn = getattr(self.data_plane, method, None) if self.data_plane is not None else None
        if fn is None:
            return None
        return await _maybe_await(fn(*args))

    # -- internals: HTTP -----------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append(
            RecordedRequest(request.method, request.path, dict(request.query), _body_of(raw), raw)
        )
        async with self._arrivals:
            self._arrivals.notify_all()

        if not self._unhung.is_set():
            task = asyncio.current_task()
            assert task is not None
            self._hung.add(task)
            try:
                await self._unhung.wait()
            finally:
                self._hung.discard(task)

        validated: ValidatedRequest | None = None
        rejected: ContractViolation | None = None
        try:
            validated = self.validator.validate_request(
                request.method, request.path, request.query, raw
            )
        except ContractViolation as violation:
            self.violations.append(violation)
            rejected = violation
        operation = validated.operation if validated else (rejected.operation if rejected else None)

        injected = self._fail_remaining > 0
        response: web.StreamResponse
        if injected:
            self._fail_remaining -= 1
            response = _error(self._fail_status, self._fail_message)
        elif rejected is not None and operation is None:
            # Unknown route: gin's plain-text 404.
            return web.Response(status=404, text="404 page not found")
        elif rejected is not None:
            response = _error(rejected.status, rejected.mediamtx_error or rejected.message)
        else:
            assert validated is not None
            # The spec is the router: aiohttp's catch-all route is never reached.
            response = await self._dispatch(request, validated)

        if operation is not None:
            try:
                body = response.body if isinstance(response, web.Response) else None
                self.validator.validate_response(
                    operation,
                    request.method,
                    request.path,
                    response.status,
                    body if isinstance(body, bytes) else None,
                    response.content_type,
                    injected=injected,
                )
            except ContractViolation as violation:
                self.violations.append(violation)
        return response

    async def _dispatch(self, request: web.Request, validated: ValidatedRequest) -> web.Response:
        op = validated.operation
        handler = self.handlers.get(op.operation_id)
        if handler is None:
            self.violations.append(
                ContractViolation(
                    "operation is in the spec but not implemented by the MediaMTX double",
                    direction="request",
                    method=request.method,
                    path=request.path,
                    operation=op,
                    status=500,
                )
            )
            return _error(500, "not implemented by the MediaMTX double")
        call = ApiCall(
            request, op.operation_id, validated.path_params, validated.query, validated.body
        )
        try:
            return await handler(call)
        except ConfError as exc:
            return _error(400, str(exc))
        except Exception as exc:
            # A crash in the double (or its data plane) must fail the test, not hide.
            self.violations.append(
                ContractViolation(
                    f"double handler crashed: {exc!r}",
                    direction="response",
                    method=request.method,
                    path=request.path,
                    operation=op,
                    status=500,
                )
            )
            return _error(500, f"internal error: {exc}")

    # -- handlers ------------------------------------------------------------------------

    async def _info(self, call: ApiCall) -> web.Response:
        assert self.started is not None
        return web.json_response({"version": self.version, "started": go_time(self.started)})

    async def _path_defaults_get(self, call: ApiCall) -> web.Response:
        return web.json_response(self._merge(self._defaults, "", {}))

    async def _path_defaults_patch(self, call: ApiCall) -> web.Response:
        values = _decode_values(call.body)
        async with self._lock:
            old = self._defaults
            self._defaults = {**old, **values}
            try:
                await self._commit(dict(self._confs), sorted(self._confs))
            except ConfError:
                self._defaults = old
                raise
        return _ok()

    async def _conf_list(self, call: ApiCall) -> web.Response:
        items = [self._effective(n) for n in sorted(self._confs)]
        return self._paged(items, len(items), call.query)

    async def _conf_get(self, call: ApiCall) -> web.Response:
        name = call.params["name"]
        if name not in self._confs:
            return _error(404, "path configuration not found")
        return web.json_response(self._effective(name))

    async def _conf_add(self, call: ApiCall) -> web.Response:
        name, values = call.params["name"], _decode_values(call.body)
        async with self._lock:
            if name in self._confs:
                return _error(400, "path already exists")
            await self._commit({**self._confs, name: values}, [name])
        return _ok()

    async def _global_patch(self, call: ApiCall) -> web.Response:
        """``PATCH /v3/config/global/patch``: merged into the global settings (RAM only,
        like paths); the data plane hears of the result (its auth settings)."""
        async with self._lock:
            merged = {**self.global_conf, **call.body}
            if merged.get("authMethod") == "http" and not merged.get("authHTTPAddress"):
                return _error(400, "'authHTTPAddress' must be a HTTP URL")
            self.global_conf = merged
            await self._hook("global_configured", dict(merged))
        return _ok()

    async def _conf_patch(self, call: ApiCall) -> web.Response:
        name, values = call.params["name"], _decode_values(call.body)
        async with self._lock:
            if name not in self._confs:
                return _error(404, "path not found")
            await self._commit({**self._confs, name: {**self._confs[name], **values}}, [name])
        return _ok()

    async def _conf_replace(self, call: ApiCall) -> web.Response:
        name, values = call.params["name"], _decode_values(call.body)
        async with self._lock:
            await self._commit({**self._confs, name: values}, [name])
        return _ok()

    async def _conf_delete(self, call: ApiCall) -> web.Response:
        name = call.params["name"]
        async with self._lock:
            if name not in self._confs:
                return _error(404, "path not found")
            await self._commit({n: v for n, v in self._confs.items() if n != name}, [])
        return _ok()

    async def _paths_list(self, call: ApiCall) -> web.Response:
        # Non-regexp configurations always have a runtime path (path manager "static paths").
        names = [n for n in sorted(self._confs) if not is_regexp_conf(n)]
        items = [await self._runtime_path(n, n, None) for n in names]
        return self._paged(items, len(items), call.query)

    async def _paths_get(self, call: ApiCall) -> web.Response:
        name = call.params["name"]
        if name in self._confs and not is_regexp_conf(name):
            return web.json_response(await self._runtime_path(name, name, None))
        try:
            conf_name = self._find_conf(name)
        except ConfError:
            return _error(404, "path not found")
        state = await self._hook("path_state", name)
        if not state:
            return _error(404, "path not found")
        return web.json_response(await self._runtime_path(name, conf_name, state))

    async def _runtime_path(
        self, name: str, conf_name: str, state: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        if state is None:
            state = await self._hook("path_state", name)
        given = dict(state or {})
        for key, value in list(given.items()):
            if isinstance(value, datetime):
                given[key] = go_time(value)
        # Mirror field pairs that were renamed between MediaMTX versions.
        for new, old in (
            ("available", "ready"),
            ("availableTime", "readyTime"),
            ("inboundBytes", "bytesReceived"),
            ("outboundBytes", "bytesSent"),
        ):
            if new in given and old not in given:
                given[old] = given[new]
            elif old in given and new not in given:
                given[new] = given[old]
        available = bool(given.get("available", False))
        if available and not given.get("availableTime"):
            since = self._available_since.setdefault(name, datetime.now().astimezone())
            given["availableTime"] = given["readyTime"] = go_time(since)
        elif not available:
            self._available_since.pop(name, None)
        if "tracks2" in given and "tracks" not in given:
            given["tracks"] = [t.get("codec") for t in given["tracks2"]]
        elif "tracks" in given and "tracks2" not in given and isinstance(given["tracks"], list):
            given["tracks2"] = [{"codec": c, "codecProps": None} for c in given["tracks"]]
        path: dict[str, Any] = {
            "name": name,
            "confName": conf_name,
            "source": None,
            "available": False,
            "availableTime": None,
            "online": available,
            "onlineTime": given.get("availableTime") if available else None,
            "ready": False,
            "readyTime": None,
            "tracks": [],
            "tracks2": [],
            "inboundBytes": 0,
            "inboundFramesInError": 0,
            "outboundBytes": 0,
            "bytesReceived": 0,
            "bytesSent": 0,
            "readers": [],
        }
        path.update(given)
        return path

    async def _recordings_list(self, call: ApiCall) -> web.Response:
        names = await asyncio.to_thread(self._paths_with_segments)
        page, page_count = _paginate(names, call.query)
        items = [await asyncio.to_thread(self._recording_of, n) for n in page]
        return web.json_response({"itemCount": len(names), "pageCount": page_count, "items": items})

    async def _recordings_get(self, call: ApiCall) -> web.Response:
        name = call.params["name"]
        self._find_conf(name)  # 400 "path '...' is not configured", as MediaMTX
        return web.json_response(await asyncio.to_thread(self._recording_of, name))

    async def _recordings_delete_segment(self, call: ApiCall) -> web.Response:
        name, raw_start = call.query["path"], call.query["start"]
        try:
            start = parse_rfc3339(raw_start)
        except ValueError as exc:
            return _error(400, f"invalid 'start' parameter: {exc}")
        conf = self._effective(self._find_conf(name))
        fmt = conf["recordPath"].replace("%path", name) + _record_ext(conf)
        base = self._abs(common_path(conf["recordPath"])).resolve()
        target = self._abs(encode_segment_path(fmt, name, start)).resolve()
        if not target.is_relative_to(base):
            return _error(400, "path escapes base directory")
        try:
            target.unlink()
        except FileNotFoundError:
            return _error(400, f"remove {target}: no such file or directory")
        except OSError as exc:
            return _error(400, f"remove {target}: {(exc.strerror or str(exc)).lower()}")
        return _ok()

    def _paged(self, items: list[Any], count: int, query: Mapping[str, str]) -> web.Response:
        try:
            page, page_count = _paginate(items, query)
        except ValueError as exc:
            return _error(400, str(exc))
        return web.json_response({"itemCount": count, "pageCount": page_count, "items": page})

    # -- internals: recordings (run in a thread: they walk the disk) ---------------------

    def _segments(self, fmt: str) -> list[tuple[str | None, datetime, Path]]:
        absolute = str(self._abs(fmt))
        root = common_path(absolute)
        found: list[tuple[str | None, datetime, Path]] = []
        for dirpath, _dirs, files in os.walk(root):
            for fname in files:
                full = os.path.join(dirpath, fname)
                decoded = decode_segment_path(absolute, full)
                if decoded is not None:
                    found.append((decoded[0], decoded[1], Path(full)))
        return found

    def _paths_with_segments(self) -> list[str]:
        names: set[str] = set()
        for conf_name in self._confs:
            conf = self._effective(conf_name)
            pattern = _conf_regexp(conf_name)
            if pattern is None:
                fmt = conf["recordPath"].replace("%path", conf_name) + _record_ext(conf)
                if self._segments(fmt):
                    names.add(conf_name)
            else:
                fmt = conf["recordPath"] + _record_ext(conf)
                for path_name, _start, _file in self._segments(fmt):
                    if path_name is not None and pattern.search(path_name):
                        names.add(path_name)
        return sorted(names)

    def _recording_of(self, name: str) -> dict[str, Any]:
        conf = self._effective(self._find_conf(name))
        fmt = conf["recordPath"].replace("%path", name) + _record_ext(conf)
        starts = sorted(start for _n, start, _f in self._segments(fmt))
        return {"name": name, "segments": [{"start": go_time(s)} for s in starts]}


async def _unreachable(request: web.Request) -> web.Response:
    raise AssertionError("the MediaMTX double's middleware answers every request")


def _body_of(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _decode_values(body: Any) -> dict[str, Any]:
    """The OptionalPath decode step: durations and sizes parse or fail like MediaMTX."""
    if not isinstance(body, dict):
        raise ConfError("json: cannot unmarshal into Go value of type conf.OptionalPath")
    try:
        return _normalize_values(body)
    except ValueError as exc:
        raise ConfError(str(exc)) from None
