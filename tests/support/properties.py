"""Example budgets for the property-based tests (hypothesis).

The normal suite runs each property a bounded number of times. The ``long`` profile
(``HYPOTHESIS_PROFILE=long``, or ``pytest --hypothesis-profile=long``) multiplies every
budget by ``LONG_FACTOR``, for a run that is worth leaving alone for a while.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG_FACTOR = 100


def register_profiles() -> None:
    settings.register_profile("long", max_examples=10_000, deadline=None, print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def examples(n: int) -> settings:
    """``n`` examples in the normal suite, ``n * LONG_FACTOR`` under the long profile."""
    factor = LONG_FACTOR if settings.get_current_profile_name() == "long" else 1
    return settings(
        max_examples=n * factor,
        deadline=None,
        # Inputs are built to be large on purpose (frames, streams near the limits).
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
