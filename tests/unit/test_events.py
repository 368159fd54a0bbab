"""The typed event bus: delivery by exact type, in order, a failing handler skipped."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from camera_service.events import EventBus


@dataclass(frozen=True, slots=True)
class Ping:
    n: int


@dataclass(frozen=True, slots=True)
class LoudPing(Ping):
    pass


@dataclass(frozen=True, slots=True)
class Pong:
    n: int


def test_handlers_get_the_events_of_their_type_in_subscription_order() -> None:
    bus = EventBus()
    seen: list[tuple[str, object]] = []
    bus.subscribe(Ping, lambda e: seen.append(("first", e)))
    bus.subscribe(Pong, lambda e: seen.append(("pong", e)))
    bus.subscribe(Ping, lambda e: seen.append(("second", e)))
    bus.publish(Ping(1))
    bus.publish(Pong(2))
    bus.publish("nobody listens to str")
    assert seen == [("first", Ping(1)), ("second", Ping(1)), ("pong", Pong(2))]


def test_the_type_must_match_exactly() -> None:
    bus = EventBus()
    seen: list[object] = []
    bus.subscribe(Ping, seen.append)
    bus.publish(LoudPing(1))
    assert seen == []


def test_a_failing_handler_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    seen: list[Ping] = []

    def broken(event: Ping) -> None:
        raise RuntimeError("boom")

    bus.subscribe(Ping, broken)
    bus.subscribe(Ping, seen.append)
    with caplog.at_level(logging.ERROR, "camera_service.events"):
        bus.publish(Ping(3))
    assert seen == [Ping(3)]
    [record] = caplog.records
    assert record.getMessage() == "event subscriber failed"
    assert record.__dict__["event"] == "Ping"


def test_a_handler_subscribed_during_delivery_hears_the_next_event() -> None:
    bus = EventBus()
    seen: list[str] = []

    def first(event: Ping) -> None:
        seen.append(f"first {event.n}")
        if event.n == 1:
            bus.subscribe(Ping, lambda e: seen.append(f"late {e.n}"))

    bus.subscribe(Ping, first)
    bus.publish(Ping(1))
    bus.publish(Ping(2))
    assert seen == ["first 1", "first 2", "late 2"]
