"""What a source flow is given besides its source's configuration."""

from __future__ import annotations

import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

from ._identities import IdentitySpec
from ._retry import DEFAULT_IMDS_RETRY, RetryPolicy


@dataclass
class ImdsState:
    """Whether IMDS has ever answered this client (before that, a connection failure is
    taken to mean "not on Azure" and is not retried, so off-Azure calls fail fast)."""

    answered: bool = False


@dataclass(frozen=True)
class FlowContext:
    """One token request: the identity, the resource and the request's options.

    The callables are seams: ``now`` (wall clock, for expiry), ``monotonic`` (for retry
    budgets), ``uniform`` (jitter), ``new_id`` (request ids), ``read_key_file`` (reads the
    Arc key file at a path inside a directory, see ``_arc.read_key_file``) and
    ``platform`` (``sys.platform``).
    """

    identity: IdentitySpec
    resource: str
    claims_challenge: Optional[str] = None
    token_sha256_to_refresh: Optional[str] = None
    client_capabilities: tuple[str, ...] = ()
    imds_retry: RetryPolicy = DEFAULT_IMDS_RETRY
    imds_state: ImdsState = field(default_factory=ImdsState)
    now: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    uniform: Callable[[float, float], float] = random.uniform
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    read_key_file: Optional[Callable[[str, str], bytes]] = None
    platform: str = sys.platform
