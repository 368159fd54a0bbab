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
