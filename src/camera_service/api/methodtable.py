"""The method table: every JSON-RPC method as data, looked up by name.

A method is a :class:`MethodSpec` (name, handler, role, params model, result type, and
for a method about one camera its :class:`CameraParam`); the table is built once from a
plain list (``MethodTable(all_methods(), context)``, the list in
``api/methods/__init__.py``), so the API surface is that list. Handlers are
plain functions of a :class:`Call` typed by their params model, and mypy checks that a
spec's ``params`` is the model its handler takes where the spec's type is inferred
(each module's ``METHODS`` is a tuple: in a ``list[MethodSpec[Any]]`` it would not be).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, cast

from pydantic import BaseModel, ConfigDict, ValidationError
from typing_extensions import TypeVar

from camera_service.api.context import ApiContext
from camera_service.api.jsonrpc import RpcError, bad_param
from camera_service.api.session import Session
from camera_service.auth.identity import Role


class Params(BaseModel):
    """Base of every params model: unknown params are ignored (old clients send
    ``auth_token`` with every call), values are validated strictly."""

    # defer_build: a method's validator is built at its first call, not at import; most
    # methods of an idle service are never called (issue 20: idle RSS).
    model_config = ConfigDict(
        extra="ignore", frozen=True, str_strip_whitespace=False, defer_build=True
    )
    # True: validating reads nothing but the values (no clock, no settings), so the
    # model of the same string params is validated once and reused (it is frozen).
    memo: ClassVar[bool] = False


# Distinct params a method keeps validated; past it they are forgotten and kept again.
MEMO_LIMIT = 256


class NoParams(Params):
    pass


# The params of every method that takes none: one frozen instance, shared.
NO_PARAMS = NoParams()


# A bare MethodSpec (the table's view: any params model) is MethodSpec[Any].
P = TypeVar("P", bound=Params, default=Any)


@dataclass(slots=True)
class Call(Generic[P]):
    """What a handler gets: the validated params, the calling session and the context."""

    params: P
    session: Session
    ctx: ApiContext


@dataclass(frozen=True, slots=True)
class CameraParam(Generic[P]):
    """A method whose params name one camera: which one (``of``; None: no camera named),
    and the method's answer for a camera the caller may not see (``unseen``: returns a
    result or raises, without waiting). That answer is the one for a camera that does
    not exist, so a limited identity cannot tell a hidden camera from a missing one."""

    of: Callable[[P], str | None]
    unseen: Callable[[Call[P], str], object]


@dataclass(slots=True)
class MethodSpec(Generic[P]):
    name: str
    # Returns the result, or an awaitable of it; a pre-encoded result is an orjson.Fragment.
    handler: Callable[[Call[P]], object]
    summary: str
    role: Role | None  # None: callable without authentication
    params: type[P]
    result: object  # the result's type (contract TypedDict, builtin): the OpenRPC schema
    errors: tuple[int, ...] = ()
    # Long-running methods get their own task so the connection keeps reading meanwhile.
    concurrent: bool = False
    # The camera the params name, checked against the caller's camera scope first.
    camera: CameraParam[P] | None = None
    is_async: bool = field(init=False)
    takes_params: bool = field(init=False)  # False: its params are always NO_PARAMS
    # Sync, no params, no camera: the dispatcher calls the handler at once.
    plain: bool = field(init=False)
    _memo: dict[tuple[tuple[str, Any], ...], P] | None = field(init=False)

    def __post_init__(self) -> None:
        # Sync handlers run without creating a coroutine: cheaper on the hot path.
        self.is_async = inspect.iscoroutinefunction(self.handler)
        self.takes_params = self.params is not NoParams
        self.plain = not (self.is_async or self.takes_params or self.camera is not None)
        self._memo = {} if self.params.memo else None

    def unseen(self, call: Call[P]) -> Callable[[], object] | None:
        """When the call names a camera the caller may not see: the answer to give
        instead of the handler's (``camera.unseen``), else None."""
        scoped = self.camera
        if scoped is None:
            return None
        identity = call.session.identity
        if identity is not None and identity.cameras is None:
            return None  # sees every camera (Session.sees), asked first: the usual case
        camera_id = scoped.of(call.params)
        if camera_id is None or call.session.sees(camera_id):
            return None
        return functools.partial(scoped.unseen, call, camera_id)

    def validate(self, raw: dict[str, Any]) -> P:
        if not self.takes_params:
            return cast(P, NO_PARAMS)
        memo = self._memo
        key = None
        if memo is not None:
            try:
                key = tuple(raw.items())
                hit = memo.get(key)
            except TypeError:  # a value that is a list or an object: not kept
                key = hit = None
            if hit is not None:
                return hit
        try:
            params = self.params.model_validate(raw)
        except ValidationError as exc:
            raise invalid_params(exc) from None
        # Only string values: 1, 1.0 and True are equal keys that strict validation
        # tells apart; a string equals nothing but the same string.
        if memo is not None and key is not None and all(type(v) is str for v in raw.values()):
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[key] = params
        return params


def invalid_params(exc: ValidationError) -> RpcError:
    """The first problem, as ``invalid <param>: <reason>`` in plain words (clients
    match them; pydantic's own phrasing is not part of the contract)."""
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"]]
    param = ".".join(loc) or "params"
    noun = loc[0] if len(loc) == 1 else "value"
    reason = plain_reason(err["type"], err.get("ctx") or {}, err.get("input"), noun)
    if len(loc) > 1:  # an item of a list param: say which
        reason = f"item {'.'.join(loc[1:])}: {reason}"
    rpc = bad_param(loc[0] if loc else "params", reason)
    rpc.data = {"reason": "invalid_params", "param": param}
    return rpc


# pydantic error types -> what they mean to a client
_EXPECTED = {
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "int_parsing": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected an object",
    "missing": "required but missing",
    "finite_number": "expected a finite number",
    "datetime_type": "expected an ISO 8601 date-time string",
    "datetime_parsing": "expected an ISO 8601 date-time string",
    "datetime_from_date_parsing": "expected an ISO 8601 date-time string",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "greater than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


_ECHOED = re.compile(r"[A-Za-z0-9_.+-]{1,32}")


def _shown(value: object) -> str:
    """The value refused, when it is short and harmless to repeat (never a path)."""
    if isinstance(value, str) and _ECHOED.fullmatch(value):
        return f" '{value}'"
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 1e15:
        return f" {value:g}" if isinstance(value, float) else f" {value}"
    return ""


def plain_reason(kind: str, ctx: dict[str, Any], value: object, noun: str = "value") -> str:
    """One pydantic error (type, context, input) in lower-case plain English."""
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return _lower_first(str(ctx["error"]))
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        choices = [c.strip().strip("'") for c in str(expected).replace(" or ", ",").split(",")]
        listed = ", ".join(c for c in choices[:-1] if c)
        options = f"{listed} or {choices[-1]}" if listed else choices[-1]
        return f"unsupported {noun}{_shown(value)}, expected {options}"
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"must be {words} {ctx.get(key)}"
    if kind in ("string_too_long", "too_long"):
        return f"must be at most {ctx.get('max_length')} long"
    if kind in ("string_too_short", "too_short"):
        return f"must be at least {ctx.get('min_length')} long"
    return _EXPECTED.get(kind, "not an accepted value")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


class MethodTable:
    """The methods by name, and the context every call of them gets."""

    def __init__(self, methods: Iterable[MethodSpec[Any]], ctx: ApiContext) -> None:
        self.ctx = ctx
        self._methods: dict[str, MethodSpec[Any]] = {}
        for spec in methods:
            if spec.name in self._methods:
                raise ValueError(f"method {spec.name} registered twice")
            self._methods[spec.name] = spec

    def get(self, name: str) -> MethodSpec[Any] | None:
        return self._methods.get(name)

    def getter(self) -> Callable[[str], MethodSpec[Any] | None]:
        """``get`` as the mapping's own method: one Python frame less per request."""
        return self._methods.get

    def __iter__(self) -> Iterator[MethodSpec[Any]]:
        return iter(sorted(self._methods.values(), key=lambda s: s.name))

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def names(self) -> list[str]:
        return sorted(self._methods)
