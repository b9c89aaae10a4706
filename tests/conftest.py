"""Hypothesis profiles for the project's own property tests.

``ci`` (loaded when the ``CI`` environment variable is set, as CI runs ``.ci/run``) is
derandomized, so a CI run is reproducible, and keeps no example database; ``dev`` (the
default elsewhere) searches randomly and remembers failures. Neither has a deadline: on a
shared two-core machine a slow example is load, not a defect. Choose one explicitly with
``HYPOTHESIS_PROFILE=dev|ci``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
