"""tests._ports: each pytest-xdist worker hands out loopback ports of its own slice."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests import _ports
from tests._ports import FIRST, SLICE, SLICES, free_port, worker_index, worker_slice
from tests.redis._topologies import BUS_OFFSET

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _listening(stack: ExitStack, port: int) -> bool:
    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    sock.listen(1)
    return True


@pytest.mark.parametrize(
    ("environ", "index"),
    [
        ({}, 0),
        ({"PYTEST_XDIST_WORKER": "gw0"}, 0),
        ({"PYTEST_XDIST_WORKER": "gw13"}, 13),
        ({"PYTEST_XDIST_WORKER": "master"}, 0),
    ],
)
def test_the_worker_index_comes_from_xdist(environ: dict[str, str], index: int) -> None:
    assert worker_index(environ) == index


def test_workers_slices_are_disjoint_and_outside_the_ephemeral_range() -> None:
    slices = [set(worker_slice(index)) for index in range(SLICES)]
    assert all(len(ports) == SLICE for ports in slices)
    assert len(set().union(*slices)) == SLICES * SLICE
    assert worker_slice(SLICES + 2) == worker_slice(2)  # more workers than slices: shared
    everything = set().union(*slices)
    buses = {port + BUS_OFFSET for port in everything}
    assert not everything & buses  # a worker's plain port is never another's bus port
    highest = max(buses)
    assert min(everything) == FIRST
    if EPHEMERAL_RANGE.exists():
        first_ephemeral = int(EPHEMERAL_RANGE.read_text().split()[0])
        assert highest < first_ephemeral


def test_ports_are_distinct_and_of_this_worker() -> None:
    mine = worker_slice(worker_index())
    with ExitStack() as stack:
        handed_out = []
        for _ in range(40):
            port = free_port(also=BUS_OFFSET)
            assert _listening(stack, port)
            handed_out.append(port)
    assert len(set(handed_out)) == len(handed_out)
    assert all(port in mine for port in handed_out)


@pytest.fixture
def all_but_one_held() -> Iterator[int]:
    """Every port of this worker's slice held by a listening socket, but one: yield it."""
    with ExitStack() as stack:
        spared = None
        for port in worker_slice(worker_index()):
            if spared is None and _ports._bindable(port):
                spared = port
                continue
            _listening(stack, port)
        assert spared is not None
        yield spared


def test_a_held_port_is_passed_over(all_but_one_held: int) -> None:
    assert free_port() == all_but_one_held
    assert free_port() == all_but_one_held  # the slice wraps around


def test_a_full_slice_is_an_error(all_but_one_held: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as last:
        last.bind(("127.0.0.1", all_but_one_held))
        with pytest.raises(RuntimeError, match="no free port"):
            free_port()
