"""The blocking-call detector of the asyncio tests sees what it must and nothing else."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from tests._blocking import BlockingCalls


def _serve_one(listener: socket.socket) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.sendall(conn.recv(16))


def test_blocking_calls_on_the_loop_thread_are_reported(tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    target.write_text("x")
    listener = socket.create_server(("127.0.0.1", 0))

    async def main() -> list[str]:
        with BlockingCalls() as blocking:
            target.read_text()
            server = asyncio.get_running_loop().run_in_executor(None, _serve_one, listener)
            with socket.create_connection(listener.getsockname(), timeout=5) as client:
                client.sendall(b"ping")
                client.recv(16)
            await server
        return blocking.calls

    with listener:
        calls = asyncio.run(main())
    names = [call.split("(")[0] for call in calls]
    assert names[0] == "open"
    assert {"socket.connect", "socket.sendall", "socket.recv"} <= set(names)


def test_the_same_calls_in_a_worker_thread_or_on_asyncio_sockets_are_not(tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    target.write_text("x")
    listener = socket.create_server(("127.0.0.1", 0))

    async def main() -> list[str]:
        with BlockingCalls() as blocking:
            await asyncio.to_thread(target.read_text)
            await asyncio.to_thread(time.sleep, 0)
            server = asyncio.get_running_loop().run_in_executor(None, _serve_one, listener)
            reader, writer = await asyncio.open_connection(*listener.getsockname())
            writer.write(b"ping")
            assert await reader.read(16) == b"ping"
            writer.close()
            await writer.wait_closed()
            await server
        return blocking.calls

    with listener:
        assert asyncio.run(main()) == []


def test_the_socket_class_is_restored() -> None:
    before = {name: socket.socket.__dict__.get(name) for name in ("recv", "sendall")}
    with BlockingCalls():
        assert socket.socket.__dict__.get("recv") is not None
    assert {name: socket.socket.__dict__.get(name) for name in ("recv", "sendall")} == before
