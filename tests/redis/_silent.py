"""A hung Redis: a TCP listener on 127.0.0.1 that accepts connections and never answers."""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class SilentServer:
    """Accepts connections (and counts them), reads nothing, answers nothing."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="silent-redis", daemon=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"

    @property
    def connections(self) -> int:
        """How many connections clients have opened so far."""
        with self._lock:
            return len(self._accepted)

    def _accept(self) -> None:
        while not self._stop.is_set():  # bounded by close()
            try:
                connection, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                self._accepted.append(connection)  # kept open, never answered

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            for connection in self._accepted:
                connection.close()
