"""pytest-xdist groups of the Redis tests (kept apart from the helpers the app processes
import, which do not load pytest)."""

from __future__ import annotations

import pytest

#: The cluster and Sentinel modules: under pytest-xdist with ``--dist loadgroup`` (as
#: .ci/test runs the suite) all their tests share one worker. Each module then starts its
#: module-scoped topology once (six or seven Redis processes) instead of once per worker,
#: and the two failover tests, which add eight app processes each, never run at the same
#: time. Without xdist the mark does nothing (pyproject.toml registers it for
#: ``--strict-markers``).
HA_GROUP = pytest.mark.xdist_group("redis-ha")
