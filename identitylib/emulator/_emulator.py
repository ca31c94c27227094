"""``Emulator``: a local Microsoft Entra ID look-alike served over HTTP(S) on loopback."""

from __future__ import annotations

import ipaddress
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Optional, Union

from identitylib.emulator import _managed_identity
from identitylib.emulator._config import (
    DEMO_B2C_SIGN_UP_SIGN_IN,
    DEMO_DAEMON_ID,
    DEMO_TENANT_DOMAIN,
    DEMO_TENANT_ID,
    EmulatorConfig,
)
from identitylib.emulator._demo_api import DEMO_API_PATH
from identitylib.emulator._faults import Faults
from identitylib.emulator._managed_identity import APP_SERVICE_TOKEN_PATH, IMDS_TOKEN_PATH
from identitylib.emulator._provider import IdentityProvider
from identitylib.emulator._records import Logout
from identitylib.emulator._server import EmulatorHTTPServer, ServerContext
from identitylib.emulator._tls import (
    TlsFiles,
    make_client_certificate,
    write_private,
    write_tls_files,
)

#: Files the demo daemon's certificate is written to, in the state directory (if any).
DEMO_CERT_FILE = "demo-daemon-cert.pem"
DEMO_KEY_FILE = "demo-daemon-key.pem"

_STOP_JOIN_SECONDS = 5.0


def _loopback_host(host: str) -> str:
    """``host`` as an IP literal; ValueError unless it is a loopback address."""
    if host.strip().lower() == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        raise ValueError(f"the emulator binds loopback addresses only, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"the emulator binds loopback addresses only, not {host!r}")
    return str(address)


class Emulator:
    """An identity provider on ``127.0.0.1`` speaking Entra ID's v2.0 protocol.

    ``Emulator(config=None, *, host="127.0.0.1", port=0, tls=False, state_dir=None)``:
    ``config`` defaults to :meth:`EmulatorConfig.default` (the demo tenant, apps and
    users); ``host`` must be a loopback address (``ValueError`` otherwise); ``port=0``
    takes a free port; ``tls=True`` serves HTTPS with a freshly generated CA
    (:attr:`ca_path`); ``state_dir`` is where the TLS and demo-certificate PEM files go
    (a temporary directory, removed at :meth:`stop`, when not given).

    Use it as a context manager, or call :meth:`start` and :meth:`stop` (idempotent)::

        with Emulator() as emu:
            app = ConfidentialClientApplication(
                DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority())

    Attributes: :attr:`config` (the live configuration), :attr:`faults` (switches tests
    flip while the server runs), :attr:`provider` (the identity-provider model).
    """

    def __init__(
        self,
        config: Optional[EmulatorConfig] = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        state_dir: Union[str, Path, None] = None,
    ) -> None:
        self._host = _loopback_host(host)
        self._port = int(port)
        self.tls = bool(tls)
        self.config = config if config is not None else EmulatorConfig.default()
        self.faults = Faults()
        self._identity_header = secrets.token_urlsafe(24)
        self.provider = self._create_provider()
        self._state_dir_arg = Path(state_dir) if state_dir is not None else None
        self._state_dir: Optional[Path] = None
        self._made_state_dir = False
        self._tls_files: Optional[TlsFiles] = None
        self._server: Optional[EmulatorHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._base_url: Optional[str] = None
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()
        self._requests: list[tuple[str, str]] = []
        self._requests_lock = threading.Lock()
        self._demo_certificate: Optional[dict[str, str]] = None

    def _create_provider(self) -> IdentityProvider:
        """The model this emulator serves (a hook for tests that need a different one)."""
        return IdentityProvider(self.config, faults=self.faults)

    # --- lifecycle -----------------------------------------------------------------
    def start(self) -> Emulator:
        """Bind and serve on a daemon thread; return ``self``. A running emulator is kept."""
        with self._lifecycle:
            if self._server is not None:
                return self
            self._stopping.clear()
            if self._demo_certificate is None and self._find_app(DEMO_DAEMON_ID) is not None:
                self._demo_certificate = self.add_certificate(DEMO_DAEMON_ID)
            url_host = f"[{self._host}]" if ":" in self._host else self._host
            if self.tls and self._host in ("127.0.0.1", "::1"):
                url_host = "localhost"
            try:
                self._prepare_state_dir()
                ssl_context = self._tls_files.server_context() if self._tls_files else None
                context = ServerContext(
                    provider=self.provider,
                    faults=self.faults,
                    identity_header=self._identity_header,
                    record=self._record,
                    stopping=self._stopping,
                    scheme="https" if self.tls else "http",
                    fallback_host=url_host,
                )
                server = EmulatorHTTPServer((self._host, self._port), context, ssl_context)
            except BaseException:
                self._remove_state_dir()
                raise
            port = server.server_port
            self._base_url = f"{context.scheme}://{url_host}:{port}"
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"identitylib-emulator-{port}",
                daemon=True,
            )
            self._thread.start()
            return self

    def stop(self) -> None:
        """Stop serving, close open connections, remove a temporary state directory."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is None:
                return
            self._stopping.set()
            server.shutdown()
            server.close_connections()
            server.server_close()
            if thread is not None:
                thread.join(_STOP_JOIN_SECONDS)
            _managed_identity.disable_arc(self._identity_header)
            _managed_identity.forget_requests(self._identity_header)
            self._remove_state_dir()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Emulator({self._base_url if self.running else 'stopped'})"

    def _prepare_state_dir(self) -> None:
        if self._state_dir_arg is None and not self.tls:
            return
        if self._state_dir_arg is not None:
            self._state_dir_arg.mkdir(parents=True, exist_ok=True)
            self._state_dir = self._state_dir_arg
        else:
            self._state_dir = Path(tempfile.mkdtemp(prefix="identitylib-emulator-"))
            self._made_state_dir = True
        if self.tls:
            extra = None if self._host in ("127.0.0.1", "::1") else self._host
            self._tls_files = write_tls_files(self._state_dir, extra_ip=extra)
        if self._demo_certificate is not None:
            (self._state_dir / DEMO_CERT_FILE).write_text(
                self._demo_certificate["public_certificate"], encoding="ascii"
            )
            write_private(
                self._state_dir / DEMO_KEY_FILE,
                self._demo_certificate["private_key"].encode("ascii"),
            )

    def _remove_state_dir(self) -> None:
        if self._made_state_dir and self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._state_dir = None
            self._made_state_dir = False
            self._tls_files = None

    # --- where it is ---------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https://localhost:<port>`` with TLS)."""
        if self._base_url is None:
            raise RuntimeError("the emulator has not been started")
        return self._base_url

    def authority(self, tenant: Optional[str] = None) -> str:
        """The authority URL of ``tenant`` (default: the demo tenant's GUID)."""
        return f"{self.base_url}/{tenant or DEMO_TENANT_ID}"

    def b2c_authority(
        self, policy: str = DEMO_B2C_SIGN_UP_SIGN_IN, tenant: Optional[str] = None
    ) -> str:
        """The authority of a B2C user flow: ``{base_url}/{tenant}/{policy}`` (default: the
        demo tenant's domain and its sign-up/sign-in flow ``B2C_1_susi``)."""
        return f"{self.base_url}/{tenant or DEMO_TENANT_DOMAIN}/{policy}"

    @property
    def demo_api_url(self) -> str:
        """The emulator's protected demo API (``GET``, ``Authorization: Bearer ...``)."""
        return self.base_url + DEMO_API_PATH

    @property
    def ca_path(self) -> Optional[str]:
        """PEM file of the CA that issued the server certificate (TLS only), for ``verify=``."""
        return str(self._tls_files.ca_path) if self._tls_files is not None else None

    @property
    def state_dir(self) -> Optional[Path]:
        """The directory holding the PEM files of this run, if there is one."""
        return self._state_dir

    @property
    def imds_endpoint(self) -> str:
        """The Azure IMDS managed-identity token endpoint (send ``Metadata: true``)."""
        return self.base_url + IMDS_TOKEN_PATH

    @property
    def app_service_endpoint(self) -> str:
        """The App Service managed-identity endpoint (``IDENTITY_ENDPOINT``)."""
        return self.base_url + APP_SERVICE_TOKEN_PATH

    @property
    def identity_header(self) -> str:
        """The secret the App Service endpoint demands in ``X-IDENTITY-HEADER``."""
        return self._identity_header

    def managed_identity_environment(self, source: str) -> dict[str, str]:
        """Environment variables that make a ``ManagedIdentityClient`` on this machine use
        ``source`` ("imds", "app_service", "machine_learning", "cloud_shell", "azure_arc",
        "service_fabric") served by this emulator."""
        from identitylib.emulator import _mi_sources

        return _mi_sources.managed_identity_environment(self, source)

    # --- requests served -----------------------------------------------------------
    def _record(self, method: str, path: str) -> None:
        with self._requests_lock:
            self._requests.append((method, path))

    @property
    def requests(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every request served so far (a snapshot; no query strings)."""
        with self._requests_lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        """Forget the requests served so far."""
        with self._requests_lock:
            self._requests.clear()

    @property
    def logouts(self) -> list[Logout]:
        """The sign-outs served by the end-session endpoints so far, oldest first: tenant,
        ``client_id``, ``post_logout_redirect_uri``, ``logout_hint``, ``state``, whether an
        ``id_token_hint`` came, and where the browser was sent (None: the signed-out page)."""
        return self.provider.logouts()

    def reset_logouts(self) -> None:
        """Forget the sign-outs recorded so far."""
        self.provider.reset_logouts()

    # --- certificates --------------------------------------------------------------
    def _find_app(self, client_id: str) -> Optional[object]:
        for app in self.config.apps:
            if app.client_id.lower() == client_id.lower():
                return app
        return None

    def add_certificate(self, client_id: str) -> dict[str, str]:
        """Register a new certificate on app ``client_id``; return its credential.

        Makes an RSA key and a self-signed certificate, appends the certificate PEM to the
        app's ``certificates`` and returns ``{"private_key": PEM, "public_certificate":
        PEM, "thumbprint": SHA-1 hex}`` (an MSAL ``client_credential``). ValueError for an
        app not in the configuration.
        """
        for app in self.config.apps:
            if app.client_id.lower() == client_id.lower():
                credential = make_client_certificate(app.name or app.client_id)
                app.certificates.append(credential["public_certificate"])
                return credential
        raise ValueError(f"no app {client_id!r} in the emulator configuration")

    @property
    def demo_certificate(self) -> dict[str, str]:
        """The demo daemon's certificate credential (see :meth:`add_certificate`).

        Made by :meth:`start` when the configuration has the demo daemon app
        (``DEMO_DAEMON_ID``); RuntimeError before that or without that app.
        """
        if self._demo_certificate is None:
            raise RuntimeError("no demo certificate: start() the emulator with the demo daemon")
        return dict(self._demo_certificate)
