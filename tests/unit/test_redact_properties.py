"""Properties of :func:`redact`: no address survives, words without one are kept, and
redacting twice changes nothing more."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from camera_service.api.redact import redact

# Words that cannot form an address or a path.
words = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz ,;()'-"), max_size=40)
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True)
ports = st.integers(1, 65535)
addresses = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.tuples(st.ip_addresses(v=4), ports).map(lambda a: f"{a[0]}:{a[1]}"),
    st.tuples(st.ip_addresses(v=6), ports).map(lambda a: f"[{a[0]}]:{a[1]}"),
    st.tuples(hosts, ports).map(lambda a: f"{a[0]}:{a[1]}"),
    st.tuples(st.sampled_from(["http", "https", "unix"]), hosts).map(
        lambda a: f"{a[0]}://{a[1]}/x"
    ),
    st.lists(st.from_regex(r"[a-z0-9._-]{1,8}", fullmatch=True), min_size=1, max_size=4).map(
        lambda parts: "/" + "/".join(parts)
    ),
)


@given(words)
def test_words_without_an_address_are_kept(text: str) -> None:
    assert redact(text) == text


@given(words, addresses, words)
def test_no_address_survives(before: str, address: str, after: str) -> None:
    shown = redact(f"{before} {address} {after}")
    assert address not in shown
    assert shown.startswith(before) and shown.endswith(after)


@given(st.text(max_size=80))
def test_redacting_twice_changes_nothing_more(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
