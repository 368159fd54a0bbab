"""The method registry: every JSON-RPC method with its params model, role and result.

Methods are added explicitly (``registry.add(MethodSpec(...))``) by the modules under
``api/methods``; there is no decorator magic, so the list of methods is the list of
``add`` calls a reader can follow from ``api/methods/__init__.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from camera_service.api.jsonrpc import INVALID_PARAMS, RpcError
from camera_service.auth.identity import Role

if TYPE_CHECKING:
    from camera_service.api.session import Session


class Params(BaseModel):
    """Base of every params model: unknown params are ignored (old clients send
    ``auth_token`` with every call), values are validated strictly."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=False)


class NoParams(Params):
    pass


@dataclass(slots=True)
class Call:
    """What a handler gets: the validated params and the calling session."""

    params: Any
    session: Session


Handler = Callable[[Call], Any] | Callable[[Call], Awaitable[Any]]


@dataclass(slots=True)
class MethodSpec:
    name: str
    handler: Handler
    summary: str
    role: Role | None  # None: callable without authentication
    params: type[Params] = NoParams
    result: Any = None  # a type (TypedDict, model, builtin) used only for the OpenRPC schema
    errors: tuple[int, ...] = ()
    # Long-running methods get their own task so the connection keeps reading meanwhile.
    concurrent: bool = False
    is_async: bool = field(init=False)

    def __post_init__(self) -> None:
        # Sync handlers run without creating a coroutine: cheaper on the hot path.
        self.is_async = inspect.iscoroutinefunction(self.handler)

    def validate(self, raw: dict[str, Any]) -> Any:
        if self.params is NoParams:
            return _NO_PARAMS
        try:
            return self.params.model_validate(raw)
        except ValidationError as exc:
            raise invalid_params(exc) from None


_NO_PARAMS = NoParams()


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


class MethodRegistry:
    def __init__(self) -> None:
        self._methods: dict[str, MethodSpec] = {}

    def add(self, spec: MethodSpec) -> None:
        if spec.name in self._methods:
            raise ValueError(f"method {spec.name} registered twice")
        self._methods[spec.name] = spec

    def get(self, name: str) -> MethodSpec | None:
        return self._methods.get(name)

    def __iter__(self) -> Iterator[MethodSpec]:
        return iter(sorted(self._methods.values(), key=lambda s: s.name))

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def names(self) -> list[str]:
        return sorted(self._methods)
