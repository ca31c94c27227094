"""Emulator start/stop, addresses, TLS and certificates (against a fake model)."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import threading
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from identitylib.emulator import DEMO_DAEMON_ID, DEMO_TENANT_ID, DEMO_WEB_ID
from tests._ports import free_port

from .server_fakes import TIMEOUT, FakeEmulator, small_config

KEYS = f"/{DEMO_TENANT_ID}/discovery/v2.0/keys"


def stops_without_waiting_for_clients(emu: FakeEmulator) -> bool:
    """Whether ``stop()`` returns while a client stays silent.

    A silent client would hold a connection thread for the server's 60-second idle timeout;
    TIMEOUT (10 s) only bounds the wait for a hang, it measures nothing.
    """
    stopping = threading.Thread(target=emu.stop, daemon=True)
    stopping.start()
    stopping.join(TIMEOUT)
    return not stopping.is_alive() and not emu.running


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com", "::", ""])
def test_only_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeEmulator(small_config(), host=host)


def test_start_stop_and_addresses() -> None:
    emu = FakeEmulator(small_config())
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    assert emu.start() is emu
    assert emu.running
    base = emu.base_url
    assert base.startswith("http://127.0.0.1:")
    assert emu.start() is emu
    assert emu.base_url == base
    assert emu.authority() == f"{base}/{DEMO_TENANT_ID}"
    assert emu.authority("organizations") == f"{base}/organizations"
    assert emu.ca_path is None
    assert emu.state_dir is None
    assert requests.get(base + KEYS, timeout=TIMEOUT).status_code == 200
    emu.stop()
    emu.stop()
    assert not emu.running
    with pytest.raises(requests.ConnectionError):
        requests.get(base + KEYS, timeout=TIMEOUT)


def test_restart_after_stop() -> None:
    emu = FakeEmulator(small_config())
    with emu:
        pass
    with emu:
        assert requests.get(emu.base_url + KEYS, timeout=TIMEOUT).status_code == 200


def test_fixed_port_and_localhost() -> None:
    port = free_port()
    with FakeEmulator(small_config(), host="localhost", port=port) as emu:
        assert emu.base_url == f"http://127.0.0.1:{port}"
        assert requests.get(f"http://localhost:{port}{KEYS}", timeout=TIMEOUT).ok


def test_port_in_use_raises_oserror() -> None:
    with FakeEmulator(small_config()) as first:
        port = int(first.base_url.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            FakeEmulator(small_config(), port=port).start()


def test_ipv6_loopback() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with FakeEmulator(small_config(), host="::1") as emu:
        assert emu.base_url.startswith("http://[::1]:")
        assert requests.get(emu.base_url + KEYS, timeout=TIMEOUT).ok


def test_stop_is_quick_with_idle_keep_alive_connections() -> None:
    emu = FakeEmulator(small_config()).start()
    session = requests.Session()
    session.get(emu.base_url + KEYS, timeout=TIMEOUT)
    idle = socket.create_connection(("127.0.0.1", int(emu.base_url.rsplit(":", 1)[1])))
    try:
        assert stops_without_waiting_for_clients(emu)
        idle.settimeout(TIMEOUT)
        try:
            received = idle.recv(1)
        except ConnectionResetError:  # closed with a reset rather than a FIN: closed too
            received = b""
        assert received == b""  # the server closed it rather than waiting it out
    finally:
        idle.close()
        session.close()


def test_tls_with_the_generated_ca() -> None:
    with FakeEmulator(small_config(), tls=True) as emu:
        assert emu.base_url.startswith("https://localhost:")
        ca_path = emu.ca_path
        assert ca_path is not None
        state_dir = emu.state_dir
        assert state_dir is not None
        assert {p.name for p in state_dir.iterdir()} >= {"ca.pem", "server.pem", "server-key.pem"}
        response = requests.get(emu.base_url + KEYS, verify=ca_path, timeout=TIMEOUT)
        assert response.json()["called"] == "jwks"
        by_ip = emu.base_url.replace("localhost", "127.0.0.1")
        assert requests.get(by_ip + KEYS, verify=ca_path, timeout=TIMEOUT).ok
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(emu.base_url + KEYS, timeout=TIMEOUT)
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(emu.base_url + KEYS, verify=True, timeout=TIMEOUT)
        discovery = requests.post(
            emu.authority() + "/oauth2/v2.0/token", data={"a": "b"}, verify=ca_path,
            timeout=TIMEOUT,
        )  # fmt: skip
        assert discovery.json()["base_url"] == emu.base_url
    assert not state_dir.exists()
    assert emu.ca_path is None


def test_tls_server_certificate() -> None:
    with FakeEmulator(small_config(), tls=True) as emu:
        assert emu.ca_path is not None
        pem = Path(emu.ca_path).read_bytes()
        ca = x509.load_pem_x509_certificate(pem)
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        context = ssl.create_default_context(cafile=emu.ca_path)
        port = int(emu.base_url.rsplit(":", 1)[1])
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        leaf = x509.load_der_x509_certificate(der)
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == ["localhost"]
        assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {
            "127.0.0.1",
            "::1",
        }


def test_tls_survives_bad_clients() -> None:
    with FakeEmulator(small_config(), tls=True) as emu:
        port = int(emu.base_url.rsplit(":", 1)[1])
        silent = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            with contextlib.suppress(OSError):
                plain.recv(1024)
        try:
            ok = requests.get(emu.base_url + KEYS, verify=emu.ca_path, timeout=TIMEOUT)
            assert ok.status_code == 200
            assert stops_without_waiting_for_clients(emu)  # the handshake never completes
        finally:
            silent.close()


def test_given_state_dir_is_kept(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with FakeEmulator(tls=True, state_dir=state) as emu:
        assert emu.ca_path == str(state / "ca.pem")
        assert (state / "demo-daemon-cert.pem").exists()
        key_file = state / "demo-daemon-key.pem"
        assert key_file.read_text() == emu.demo_certificate["private_key"]
        assert key_file.stat().st_mode & 0o077 == 0
    assert (state / "ca.pem").exists()


def test_add_certificate_registers_it_on_the_app() -> None:
    emu = FakeEmulator(small_config())
    credential = emu.add_certificate(DEMO_WEB_ID)
    assert set(credential) == {"private_key", "public_certificate", "thumbprint"}
    cert = x509.load_pem_x509_certificate(credential["public_certificate"].encode())
    der = cert.public_bytes(serialization.Encoding.DER)
    assert credential["thumbprint"] == hashlib.sha1(der).hexdigest().upper()
    key = serialization.load_pem_private_key(credential["private_key"].encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    app = next(a for a in emu.config.apps if a.client_id == DEMO_WEB_ID)
    assert app.certificates[-1] == credential["public_certificate"]
    with pytest.raises(ValueError, match="no app"):
        emu.add_certificate("00000000-0000-0000-0000-000000000000")


def test_demo_certificate() -> None:
    without = FakeEmulator(small_config())
    with without, pytest.raises(RuntimeError):
        _ = without.demo_certificate
    emu = FakeEmulator()
    with pytest.raises(RuntimeError):
        _ = emu.demo_certificate
    with emu:
        cert = emu.demo_certificate
        daemon = next(a for a in emu.config.apps if a.client_id == DEMO_DAEMON_ID)
        assert daemon.certificates == [cert["public_certificate"]]
    with emu:  # a restart keeps the same certificate
        assert emu.demo_certificate == cert
        assert len(daemon.certificates) == 1
