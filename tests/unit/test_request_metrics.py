"""Request figures: durations are appended and counted later in bulk; every figure
read must be what counting each request as it came would give."""

from __future__ import annotations

import bisect

from hypothesis import given
from hypothesis import strategies as st

from camera_service.observability.metrics import (
    FOLD_AT,
    LATENCY_BUCKETS,
    LogHistogram,
    Metrics,
)

durations = st.floats(min_value=0.0, max_value=20.0, allow_nan=False)
# Near the edges of buckets, where int(seconds * 1e6) and a comparison could disagree.
edgy = st.one_of(
    durations,
    st.sampled_from(LATENCY_BUCKETS),
    st.integers(0, 10**7).map(lambda us: us / 1e6),
)


def one_by_one(samples: list[float]) -> LogHistogram:
    h = LogHistogram()
    for s in samples:
        h.add(s)
    return h


@given(st.lists(edgy, max_size=300))
def test_sorted_samples_land_where_add_puts_them(samples: list[float]) -> None:
    bulk = LogHistogram()
    bulk.add_sorted(sorted(samples))
    expected = one_by_one(samples)
    assert bulk.counts == expected.counts
    assert bulk.count == expected.count == len(samples)


@given(
    st.lists(
        st.tuples(st.sampled_from(["ping", "get_status"]), edgy, st.sampled_from([0, 0, -32602])),
        max_size=2 * FOLD_AT + 10,
    )
)
def test_figures_equal_counting_each_request(
    requests: list[tuple[str, float, int]],
) -> None:
    m = Metrics()
    for method, seconds, code in requests:
        m.request_done(method, code, seconds)
    assert m.total_requests == len(requests)
    assert m.total_errors == sum(1 for *_, code in requests if code)
    expected_codes: dict[tuple[str, int], int] = {}
    for method, _, code in requests:
        expected_codes[method, code] = expected_codes.get((method, code), 0) + 1
    assert m.requests == expected_codes
    for method in {r[0] for r in requests}:
        buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        for name, seconds, _ in requests:
            if name == method:
                buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        m._fold()
        assert m.methods[method].buckets == buckets
    assert m.latency.counts == one_by_one([s for _, s, _ in requests]).counts
    text = m.render()
    if requests:
        assert f'camera_service_rpc_requests_total{{method="{requests[0][0]}"' in text


def test_a_request_counts_at_once_in_the_summary() -> None:
    m = Metrics()
    m.request_done("ping", 0, 0.00001)
    summary = m.summary()
    assert summary["total_requests"] == 1
    assert summary["p50_ms"] > 0


def test_many_requests_fold_as_they_come_and_count_exactly() -> None:
    m = Metrics()
    samples = [(i % 97) * 1e-4 + (i % 7) * 1e-6 for i in range(3 * FOLD_AT + 5)]
    for s in samples:
        m.request_done("ping", 0, s)
    assert len(m.methods["ping"].pending) < FOLD_AT  # folded along the way
    buckets = [0] * (len(LATENCY_BUCKETS) + 1)
    for s in samples:
        buckets[bisect.bisect_left(LATENCY_BUCKETS, s)] += 1
    assert m.requests == {("ping", 0): len(samples)}
    assert m.methods["ping"].buckets == buckets
    assert m.latency.counts == one_by_one(samples).counts
    assert abs(m.total_seconds - sum(samples)) < 1e-9
