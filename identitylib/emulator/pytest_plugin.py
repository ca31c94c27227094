"""pytest fixtures serving the identity emulator: an opt-in pytest plugin.

Installing identitylib does not load it. A project opts in with
``pytest_plugins = ["identitylib.emulator.pytest_plugin"]`` in its top-level conftest.py,
or with ``pytest -p identitylib.emulator.pytest_plugin``. The fixtures' names say whose
they are:

* ``identitylib_emulator`` (session): one plain-HTTP :class:`Emulator` with the demo
  configuration, started at first use and stopped when the session ends.
* ``identitylib_emulator_tls`` (session): the same over HTTPS; pass ``emu.ca_path`` as
  ``verify=`` (or ``REQUESTS_CA_BUNDLE``).
* ``identitylib_fresh_emulator`` (function): the session's ``identitylib_emulator``, with
  its faults reset and its request and sign-out logs cleared before the test, and its
  faults reset again after it.

The session emulators ask device-code clients to poll every
:data:`DEVICE_CODE_INTERVAL` second (a standalone emulator asks for 5), so a test
does not wait out 5-second intervals.

The session emulators keep their state between tests (issued codes and refresh tokens,
users' consents, certificates added with ``add_certificate``); tests that change the
configuration itself should start an ``Emulator`` of their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from identitylib.emulator._config import EmulatorConfig
from identitylib.emulator._emulator import Emulator

#: Seconds between device-code polls that the fixtures' emulators ask for.
DEVICE_CODE_INTERVAL = 1


def fixture_config() -> EmulatorConfig:
    """The demo configuration, with the fixtures' short device-code interval."""
    config = EmulatorConfig.default()
    config.device_code_interval = DEVICE_CODE_INTERVAL
    return config


@pytest.fixture(scope="session")
def identitylib_emulator() -> Iterator[Emulator]:
    """A plain-HTTP emulator on 127.0.0.1, shared by the whole test session."""
    with Emulator(fixture_config()) as emu:
        yield emu


@pytest.fixture(scope="session")
def identitylib_emulator_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An HTTPS emulator (``https://localhost:<port>``) shared by the whole test session."""
    state_dir = tmp_path_factory.mktemp("identitylib-emulator-tls")
    with Emulator(fixture_config(), tls=True, state_dir=state_dir) as emu:
        yield emu


@pytest.fixture
def identitylib_fresh_emulator(identitylib_emulator: Emulator) -> Iterator[Emulator]:
    """The session emulator with no faults and empty request and sign-out logs."""
    identitylib_emulator.faults.reset()
    identitylib_emulator.reset_requests()
    identitylib_emulator.reset_logouts()
    yield identitylib_emulator
    identitylib_emulator.faults.reset()
