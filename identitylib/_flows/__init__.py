"""Application-level flows: cache first, then discovery and a grant, as I/O-free generators.

Each flow takes an :class:`~identitylib._flows._state.AppState` and returns a
``Flow[dict]`` that any transport driver (sync or async) can run.
"""
