"""Loopback ports for servers a test starts on a port chosen beforehand (Redis, a fixed
``port=`` of the code under test), and for ports on which nothing may listen.

A server that can bind port 0 itself should (the emulator, werkzeug, uvicorn, oidc-provider
do): nothing can take its port. A port chosen before the server binds it has to stay free
until then. One probed with ``bind(("127.0.0.1", 0))`` comes from the kernel's ephemeral
range, where any process's next outgoing connection or ``bind(0)`` may take it first; with
pytest-xdist the other workers make such connections and binds all the time.

:func:`free_port` hands out ports below the ephemeral range (Linux starts it at 32768), in
``[FIRST, FIRST + SPAN)``, each pytest-xdist worker from a slice of its own: no worker of
the run hands out a port of another, and no outgoing connection takes one as its source
port. Redis cluster nodes also bind their port + 10000, which is in ``[20000, 30000)``, out
of the ephemeral range and of every worker's slice. Without xdist the run uses the first
slice. Every port handed out was bindable a moment before, so a port that another program
(another test run on the same machine) holds is passed over.
"""

from __future__ import annotations

import os
import random
import re
import socket
import threading
from collections.abc import Iterator, Mapping

FIRST = 10000  #: the first port handed out
SPAN = 10000  #: how many ports, all workers together
SLICES = 16  #: workers with a slice of their own (a 17th shares the first, and so on)
SLICE = SPAN // SLICES
HOST = "127.0.0.1"


def worker_index(environ: Mapping[str, str] | None = None) -> int:
    """The pytest-xdist worker's number (``gw3`` is 3); 0 without xdist."""
    name = (os.environ if environ is None else environ).get("PYTEST_XDIST_WORKER", "")
    found = re.fullmatch(r"gw(\d+)", name)
    return int(found.group(1)) if found else 0


def worker_slice(index: int) -> range:
    """The ports worker ``index`` hands out."""
    start = FIRST + (index % SLICES) * SLICE
    return range(start, start + SLICE)


def _cycle(ports: range) -> Iterator[int]:
    # A random start: two test runs on one machine (two worktrees) rarely try the same port
    # at the same moment; the cursor then walks on, so a port comes back only after the
    # whole slice was handed out.
    offset = random.randrange(len(ports))
    while True:
        yield from ports[offset:]
        yield from ports[:offset]
        offset = 0


_lock = threading.Lock()
_ports: Iterator[int] | None = None


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port(also: int | None = None) -> int:
    """A port of this worker's slice that nothing holds on 127.0.0.1 now.

    ``also``: an offset (the Redis cluster bus's 10000) at which the port must be free too.
    """
    global _ports
    with _lock:
        if _ports is None:
            _ports = _cycle(worker_slice(worker_index()))
        for _ in range(SLICE):
            port = next(_ports)
            if _bindable(port) and (also is None or _bindable(port + also)):
                return port
    raise RuntimeError(f"no free port left in {worker_slice(worker_index())}")
