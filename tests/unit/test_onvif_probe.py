"""The WS-Discovery probe and the reading of its answers (no sockets): what is kept,
what is dropped, and that no datagram makes the reader raise."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from hypothesis import given
from hypothesis import strategies as st

from camera_service.cameras.onvif import _Collector, parse_probe_matches, probe_message

WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"


def answer(relates_to: str, endpoint: str, xaddrs: list[str], scopes: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="{WSA}"'
        f' xmlns:d="{WSD}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>'
        f"<a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>"
        f"<a:Action>{WSD}/ProbeMatches</a:Action></s:Header><s:Body><d:ProbeMatches>"
        f"<d:ProbeMatch><a:EndpointReference><a:Address>{escape(endpoint)}</a:Address>"
        "</a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>"
        f"<d:Scopes>{escape(scopes)}</d:Scopes><d:XAddrs>{escape(' '.join(xaddrs))}</d:XAddrs>"
        "<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches>"
        "</s:Body></s:Envelope>"
    ).encode()


def test_the_probe_asks_for_onvif_video_transmitters() -> None:
    message_id, data = probe_message()
    root = ET.fromstring(data)
    assert root.findtext(f".//{{{WSA}}}MessageID") == message_id
    assert root.findtext(f".//{{{WSA}}}Action") == f"{WSD}/Probe"
    types = root.findtext(f".//{{{WSD}}}Types") or ""
    prefix, _, name = types.partition(":")
    assert name == "NetworkVideoTransmitter"
    assert f'xmlns:{prefix}="http://www.onvif.org/ver10/network/wsdl"' in data.decode()
    assert probe_message()[0] != message_id  # a fresh id per probe


def test_an_answer_to_our_probe_is_read() -> None:
    url = "http://192.0.2.7/onvif/device_service"
    [match] = parse_probe_matches(
        answer("urn:uuid:1", "urn:uuid:dev", [url], "onvif://www.onvif.org/name/X"),
        "urn:uuid:1",
        "192.0.2.7",
    )
    assert match.endpoint == "urn:uuid:dev"
    assert match.xaddrs == (url,)
    assert match.scopes == ("onvif://www.onvif.org/name/X",)


def test_an_answer_to_another_probe_is_dropped() -> None:
    data = answer("urn:uuid:other", "urn:uuid:dev", ["http://192.0.2.7/onvif"])
    assert parse_probe_matches(data, "urn:uuid:1", "192.0.2.7") == []


def test_service_urls_other_than_http_are_dropped() -> None:
    data = answer("urn:uuid:1", "urn:uuid:dev", ["file:///etc/passwd", "ftp://x/y"])
    assert parse_probe_matches(data, "urn:uuid:1", "192.0.2.7") == []
    data = answer("urn:uuid:1", "urn:uuid:dev", ["ftp://x/y", "https://192.0.2.7/o"])
    [match] = parse_probe_matches(data, "urn:uuid:1", "192.0.2.7")
    assert match.xaddrs == ("https://192.0.2.7/o",)


def test_the_collector_bounds_size_and_count() -> None:
    collector = _Collector("urn:uuid:1", limit=2, max_bytes=4096)
    big = answer("urn:uuid:1", "urn:uuid:big", ["http://192.0.2.1/o"], "x" * 5000)
    collector.datagram_received(big, ("192.0.2.1", 3702))
    assert collector.matches == {}
    for n in range(5):
        data = answer("urn:uuid:1", f"urn:uuid:d{n}", [f"http://192.0.2.{n}/o"])
        collector.datagram_received(data, (f"192.0.2.{n}", 3702))
    assert list(collector.matches) == ["urn:uuid:d0", "urn:uuid:d1"]
    assert collector.full.is_set()


def test_a_device_answering_twice_counts_once() -> None:
    collector = _Collector("urn:uuid:1", limit=8, max_bytes=65_507)
    data = answer("urn:uuid:1", "urn:uuid:d", ["http://192.0.2.1/o"])
    collector.datagram_received(data, ("192.0.2.1", 3702))
    collector.datagram_received(data, ("192.0.2.1", 3702))
    assert list(collector.matches) == ["urn:uuid:d"]


@given(st.binary(max_size=2048))
def test_no_datagram_makes_the_reader_raise(data: bytes) -> None:
    assert isinstance(parse_probe_matches(data, "urn:uuid:1", "192.0.2.1"), list)


@given(
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
        min_size=1,
        max_size=40,
    ),
    st.lists(
        st.from_regex(r"\Ahttps?://[a-z0-9.]{1,20}(:[0-9]{1,5})?/[a-z_/]{0,20}\Z"),
        min_size=1,
        max_size=4,
    ),
)
def test_any_well_formed_answer_reads_back(endpoint: str, xaddrs: list[str]) -> None:
    [match] = parse_probe_matches(answer("urn:uuid:1", endpoint, xaddrs), "urn:uuid:1", "h")
    assert match.endpoint == endpoint
    assert match.xaddrs == tuple(xaddrs)


@given(st.text(max_size=200))
def test_mangled_answers_never_raise(junk: str) -> None:
    good = answer("urn:uuid:1", "urn:uuid:d", ["http://192.0.2.1/o"]).decode()
    cut = len(junk) % len(good)
    data = (good[:cut] + junk + good[cut:]).encode()
    result = parse_probe_matches(data, "urn:uuid:1", "h")
    assert all(m.xaddrs for m in result)
