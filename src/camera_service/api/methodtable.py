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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic

from pydantic import BaseModel, ConfigDict, ValidationError
from typing_extensions import TypeVar

from camera_service.api.context import ApiContext
from camera_service.api.jsonrpc import INVALID_PARAMS, RpcError
from camera_service.api.session import Session
from camera_service.auth.identity import Role


class Params(BaseModel):
    """Base of every params model: unknown params are ignored (old clients send
    ``auth_token`` with every call), values are validated strictly."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=False)


class NoParams(Params):
    pass


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
    _fixed: P | None = field(init=False)  # the params of a method that takes none

    def __post_init__(self) -> None:
        # Sync handlers run without creating a coroutine: cheaper on the hot path.
        self.is_async = inspect.iscoroutinefunction(self.handler)
        self._fixed = self.params() if self.params is NoParams else None

    def unseen(self, call: Call[P]) -> Callable[[], object] | None:
        """When the call names a camera the caller may not see: the answer to give
        instead of the handler's (``camera.unseen``), else None."""
        scoped = self.camera
        if scoped is None:
            return None
        camera_id = scoped.of(call.params)
        if camera_id is None or call.session.sees(camera_id):
            return None
        return functools.partial(scoped.unseen, call, camera_id)

    def validate(self, raw: dict[str, Any]) -> P:
        if self._fixed is not None:
            return self._fixed
        try:
            return self.params.model_validate(raw)
        except ValidationError as exc:
            raise invalid_params(exc) from None


def invalid_params(exc: ValidationError) -> RpcError:
    err = exc.errors(include_url=False)[0]
    param = ".".join(str(p) for p in err["loc"]) or "params"
    msg = err["msg"]
    if err["type"] == "missing":
        msg = "is required"
    return RpcError(
        INVALID_PARAMS,
        f"Invalid params: {param} {msg}",
        {"reason": "invalid_params", "param": param},
    )


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

    def __iter__(self) -> Iterator[MethodSpec[Any]]:
        return iter(sorted(self._methods.values(), key=lambda s: s.name))

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def names(self) -> list[str]:
        return sorted(self._methods)
