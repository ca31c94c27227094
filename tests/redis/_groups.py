"""pytest-xdist groups of the Redis tests (kept apart from the helpers the app processes
import, which do not load pytest)."""

from __future__ import annotations

import pytest

#: The failover tests (cluster and Sentinel) each run eight app processes beside six Redis
#: processes: under pytest-xdist with ``--dist loadgroup`` (as .ci/test runs the suite)
#: they share one worker, so the two never load the machine at the same time. Without
#: xdist the mark does nothing (pyproject.toml registers it for ``--strict-markers``).
FAILOVER_GROUP = pytest.mark.xdist_group("redis-failover")
