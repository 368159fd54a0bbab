"""Who hears a notification: the connections subscribed to its topic that may see its
camera, grouped by the host each connected to (stream URLs in a frame depend on it).

A hot-plug reaches every connection at once; asking each session whether it wants the
notification cost more than a fifth of a fan-out to 1,000 clients. So the audience of a
(topic, camera) is found once and kept until it may differ: a connection comes or goes
(:meth:`Audiences.changed`), or any session changes who it is or what it subscribes to
(:attr:`Session.epoch <camera_service.api.session.Session.epoch>`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Generic, Protocol, TypeVar

from camera_service.api.session import Session


class Member(Protocol):
    @property
    def session(self) -> Session: ...


M = TypeVar("M", bound=Member)
Groups = list[tuple[str, list[M]]]  # (client host, its connections), in connection order

# Audiences kept at most (topics x cameras notified since the last change).
LIMIT = 512


class Audiences(Generic[M]):
    def __init__(self, members: Callable[[], Collection[M]]) -> None:
        self._members = members
        self._kept: dict[tuple[str, str | None], Groups[M]] = {}
        self._epoch = -1  # the sessions' epoch the kept audiences were found at

    def changed(self) -> None:
        """A connection came or went."""
        self._kept.clear()

    def of(self, topic: str, camera_id: str | None) -> Groups[M]:
        """The connections that receive ``topic`` about ``camera_id`` (None: about no
        camera), by client host."""
        if self._epoch != Session.epoch:
            self._kept.clear()
            self._epoch = Session.epoch
        key = (topic, camera_id)
        groups = self._kept.get(key)
        if groups is None:
            if len(self._kept) >= LIMIT:
                self._kept.clear()
            groups = self._kept[key] = self._find(topic, camera_id)
        return groups

    def _find(self, topic: str, camera_id: str | None) -> Groups[M]:
        by_host: dict[str, list[M]] = {}
        for member in self._members():
            session = member.session
            if session.wants(topic, camera_id):
                by_host.setdefault(session.host, []).append(member)
        return list(by_host.items())
