"""Which blocking calls ran on the event loop's thread: a detector that never times anything.

asyncio's debug mode reports callbacks slower than a threshold, which measures the machine as
much as the code (a loaded CI runner fails it, a fast laptop hides a blocking call). This
detector instead listens to Python's audit events (PEP 578) for the calls that block a thread:
opening a file, locking one, sleeping, resolving a name, connecting a blocking socket, starting
a process. Reads and writes on a blocking socket raise no audit event, so while a detector is
active the socket class's send and receive methods report themselves too. It records the calls
made on the thread that entered it, and ignores the same calls made by worker threads
(``asyncio.to_thread``, executors), which is where a blocking call belongs.

An audit hook cannot be removed, so one hook is installed for the whole test run; it does
nothing but a dictionary lookup while no detector is active.
"""

from __future__ import annotations

import socket
import sys
import threading
from typing import Any

#: Audit events of calls that block the calling thread.
BLOCKING_EVENTS = frozenset(
    {
        "open",
        "fcntl.flock",
        "fcntl.lockf",
        "msvcrt.locking",
        "time.sleep",  # raised by Python 3.12 and later
        "socket.connect",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "subprocess.Popen",
        "os.system",
    }
)

#: Files opened by the import system: a first import reads a module, which is not our I/O.
_IMPORT_SUFFIXES = (".py", ".pyc", ".so", ".pyd", ".pth", ".json", ".typed")

#: Methods of a blocking socket that wait for the peer without raising an audit event.
_SOCKET_IO = ("recv", "recv_into", "recvfrom", "send", "sendall", "sendto")

_watching: dict[int, BlockingCalls] = {}
_installed = False
_install_lock = threading.Lock()
_originals: dict[str, Any] = {}


def _is_import(event: str, args: tuple[Any, ...]) -> bool:
    if event != "open" or not args or not isinstance(args[0], (str, bytes)):
        return False
    path = args[0].decode() if isinstance(args[0], bytes) else args[0]
    return path.endswith(_IMPORT_SUFFIXES) or "__pycache__" in path or "dist-info" in path


def _is_nonblocking_socket(event: str, args: tuple[Any, ...]) -> bool:
    """asyncio connects non-blocking sockets on the loop thread: that does not block."""
    if event != "socket.connect" or not args or not isinstance(args[0], socket.socket):
        return False
    return args[0].gettimeout() == 0.0


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _watching or event not in BLOCKING_EVENTS:
        return
    watcher = _watching.get(threading.get_ident())
    if watcher is None or _is_import(event, args) or _is_nonblocking_socket(event, args):
        return
    watcher.calls.append(f"{event}{_describe(args)}")


def _describe(args: tuple[Any, ...]) -> str:
    shown = [
        a if isinstance(a, (str, bytes, int, float, tuple)) else type(a).__name__ for a in args
    ]
    return repr(tuple(shown))


def _install() -> None:
    global _installed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True


def _reporting(name: str, original: Any) -> Any:
    def method(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
        watcher = _watching.get(threading.get_ident())
        if watcher is not None and self.gettimeout() != 0.0:
            watcher.calls.append(f"socket.{name}")
        return original(self, *args, **kwargs)

    return method


def _watch_sockets() -> None:
    with _install_lock:
        if _originals:
            return
        for name in _SOCKET_IO:
            # None: inherited from the C base class, restored by deleting the override.
            _originals[name] = socket.socket.__dict__.get(name)
            setattr(socket.socket, name, _reporting(name, getattr(socket.socket, name)))


def _unwatch_sockets() -> None:
    with _install_lock:
        if _watching:
            return  # another thread's detector still listens
        for name, original in _originals.items():
            if original is None:
                delattr(socket.socket, name)
            else:
                setattr(socket.socket, name, original)
        _originals.clear()


class BlockingCalls:
    """Records blocking calls made on the current thread (the event loop's) while active.

    ``with BlockingCalls() as blocking: ...`` then ``assert blocking.calls == []``.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._thread = threading.get_ident()

    def __enter__(self) -> BlockingCalls:
        _install()
        if self._thread in _watching:
            raise RuntimeError("a BlockingCalls detector is already active on this thread")
        _watching[self._thread] = self
        _watch_sockets()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        _watching.pop(self._thread, None)
        _unwatch_sockets()
