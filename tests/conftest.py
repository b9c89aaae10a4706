"""Hypothesis profiles for the project's own property tests, and the built docs site.

``ci`` (loaded when the ``CI`` environment variable is set, as CI runs ``.ci/run``) is
derandomized, so a CI run is reproducible, and keeps no example database; ``dev`` (the
default elsewhere) searches randomly and remembers failures. Neither has a deadline: on a
shared two-core machine a slow example is load, not a defect. Choose one explicitly with
``HYPOTHESIS_PROFILE=dev|ci``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from pgcluster import postgres_server, postgres_url

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


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs site built with ``mkdocs build --strict`` into a temporary folder."""
    root = Path(__file__).resolve().parents[1]
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "mkdocs"),
            "build",
            "--strict",
            "-f",
            str(root / "mkdocs.yml"),
            "-d",
            str(out),
        ],
        cwd=root,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return out


__all__ = ["postgres_server", "postgres_url"]
"""The PostgreSQL fixtures (:mod:`pgcluster`), shared with every test module from here."""
