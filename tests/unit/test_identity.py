"""The identity's camera scope: ids and patterns, and None for every camera."""

from __future__ import annotations

from camera_service.auth.identity import Identity, Role


def scoped(*cameras: str) -> Identity:
    return Identity("u", Role.VIEWER, "jwt", None, cameras=cameras)


def test_an_unscoped_identity_sees_every_camera() -> None:
    assert Identity("u", Role.VIEWER, "jwt", None).sees("anything")


def test_ids_match_exactly_and_patterns_match_whole_ids() -> None:
    ident = scoped("lab", "door-*")
    assert ident.sees("lab") and ident.sees("door-1")
    assert not ident.sees("lab2") and not ident.sees("LAB") and not ident.sees("xdoor-1")


def test_an_empty_scope_sees_nothing() -> None:
    assert not scoped().sees("lab")


def test_a_session_sees_what_its_identity_sees() -> None:
    from camera_service.api.session import Session

    session = Session(60)
    assert not session.sees("lab") and session.cameras == ()  # nobody authenticated
    session.authenticate(scoped("lab", "door-*"))
    assert session.sees("lab") and session.sees("door-2") and not session.sees("gate")
    assert not session.sees(None)  # media whose name names no camera: only for "all"
    assert session.wants("camera_status_update", "lab")
    assert not session.wants("camera_status_update", "gate")
    assert not session.wants("storage_status_update")  # a newer topic: opt-in
    session.subscribe(frozenset({"storage_status_update"}))
    assert session.wants("storage_status_update")  # about no camera
    session.authenticate(Identity("u", Role.VIEWER, "jwt", None))
    assert session.sees(None) and session.sees("gate") and session.cameras is None


def test_a_media_token_never_binds_to_a_connection() -> None:
    import pytest

    from camera_service.api.session import Session
    from camera_service.auth.identity import AuthError

    session = Session(60)
    media = Identity("u", Role.VIEWER, "jwt", None, cameras=("lab",), media_only=True)
    with pytest.raises(AuthError) as info:
        session.authenticate(media)
    assert info.value.reason == "invalid" and "invalid" in info.value.message
    assert session.identity is None and session.session_id is None


def test_an_empty_topic_list_reports_and_receives_the_same_nothing() -> None:
    """docs/api.md: subscribe_events with `topics: []` from the default names no topic;
    what the result reports is what the connection then receives."""
    from camera_service.api.session import NOTIFICATION_TOPICS, Session

    session = Session(60)
    session.authenticate(Identity("u", Role.VIEWER, "jwt", None))
    assert session.subscribe(frozenset()) == frozenset()
    assert not any(session.wants(topic, "lab") for topic in NOTIFICATION_TOPICS)
    assert session.subscribe(None) == frozenset(NOTIFICATION_TOPICS)  # every topic again
    assert all(session.wants(topic, "lab") for topic in NOTIFICATION_TOPICS)
