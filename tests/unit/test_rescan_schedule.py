"""When a change inotify saw calls for a rescan of a media directory: the schedule is
sans-I/O, so these drive it with explicit times."""

from __future__ import annotations

import pytest

from camera_service.storage.watch import RescanSchedule

WINDOW, PAUSE = 1.0, 9.0
REC, SNAP = ("rec", "a.mp4"), ("snap", "a.jpg")


@pytest.fixture
def schedule() -> RescanSchedule[str]:
    return RescanSchedule(WINDOW, PAUSE)


def test_a_change_the_service_explains_after_it_was_seen_needs_no_rescan(
    schedule: RescanSchedule[str],
) -> None:
    schedule.saw(REC, True, 10.0)  # inotify first: the hook process is still starting
    assert not schedule.idle and schedule.wake_at() == 10.0 + WINDOW
    schedule.told(REC, True, 10.5)
    assert schedule.idle and schedule.wake_at() is None
    assert schedule.due(20.0) == set()


def test_a_change_the_service_explained_just_before_needs_no_rescan(
    schedule: RescanSchedule[str],
) -> None:
    schedule.told(REC, True, 10.0)
    schedule.saw(REC, True, 10.0 + WINDOW)
    assert schedule.idle and schedule.due(20.0) == set()


def test_an_unexplained_change_makes_its_directory_due_after_the_window(
    schedule: RescanSchedule[str],
) -> None:
    schedule.saw(SNAP, True, 10.0)  # copied in by hand
    assert schedule.due(10.0 + WINDOW - 0.01) == set()
    assert schedule.due(10.0 + WINDOW) == {"snap"}
    assert not schedule.idle  # until the rescan starts
    schedule.started("snap")
    schedule.finished("snap", 11.1, 0.1)
    assert schedule.idle and schedule.due(30.0) == set()


def test_an_explanation_counts_for_its_name_and_direction_only(
    schedule: RescanSchedule[str],
) -> None:
    schedule.told(SNAP, True, 10.0)  # the service wrote a.jpg
    schedule.saw(SNAP, False, 10.2)  # and someone deleted it by hand at once
    schedule.saw(("snap", "b.jpg"), True, 10.2)  # another name
    schedule.saw(("rec", "a.jpg"), True, 10.2)  # the same name in another directory
    assert schedule.due(10.2 + WINDOW) == {"snap", "rec"}


def test_an_old_explanation_explains_nothing(schedule: RescanSchedule[str]) -> None:
    schedule.told(REC, True, 10.0)
    schedule.saw(REC, True, 10.0 + WINDOW + 0.01)  # the file changed again, later
    assert schedule.due(10.0 + 2 * WINDOW + 0.01) == {"rec"}


def test_a_rescan_covers_the_changes_seen_before_it_started(
    schedule: RescanSchedule[str],
) -> None:
    schedule.saw(SNAP, True, 10.0)
    schedule.saw(REC, True, 10.0)
    schedule.started("snap")  # an explicit rescan, before the window ended
    schedule.saw(("snap", "b.jpg"), True, 10.1)  # seen while it ran: maybe after its look
    schedule.finished("snap", 10.2, 0.0)
    assert schedule.due(11.1) == {"rec", "snap"}


def test_rescans_of_a_directory_take_a_bounded_share_of_the_time(
    schedule: RescanSchedule[str],
) -> None:
    """However many outside changes arrive, a directory whose rescan took d seconds is
    not rescanned again before PAUSE * d seconds after it ended."""
    now, busy = 0.0, 0.0
    took = 0.5  # a large directory
    while now < 1000.0:
        schedule.saw(("rec", f"{now}.mp4"), True, now)  # a change every 10 ms
        if "rec" in schedule.due(now):
            schedule.started("rec")
            now += took
            busy += took
            schedule.finished("rec", now, took)
        else:
            now += 0.01
    assert busy / now <= 1 / (1 + PAUSE) + 0.01
    assert busy / now >= 1 / (1 + PAUSE) - 0.02  # and changes are still followed


def test_a_due_directory_waits_out_its_pause(schedule: RescanSchedule[str]) -> None:
    schedule.started("rec")
    schedule.finished("rec", 100.0, 2.0)  # took 2 s: nothing before 118
    schedule.saw(REC, True, 101.0)
    assert schedule.due(102.0) == set()
    assert schedule.wake_at() == 118.0
    assert schedule.due(118.0) == {"rec"}


def test_lost_events_make_every_directory_due(schedule: RescanSchedule[str]) -> None:
    schedule.lost(["rec", "snap"])
    assert not schedule.idle and schedule.wake_at() is not None
    assert schedule.due(0.0) == {"rec", "snap"}


def test_explanations_are_forgotten_after_the_window(schedule: RescanSchedule[str]) -> None:
    for i in range(10_000):
        schedule.told(("rec", f"{i}.mp4"), True, float(i))
    assert len(schedule._told) <= WINDOW + 1
