"""Azure Arc: the challenge, the key-file rules and the user-assigned echo check."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

from identitylib._managed_identity import (
    ArcPlatformNotSupportedError,
    ManagedIdentityError,
    SystemAssignedManagedIdentity,
    UserAssignedManagedIdentity,
    _arc,
)
from identitylib._managed_identity._context import FlowContext
from identitylib._managed_identity._identities import describe_identity
from identitylib._managed_identity._response import Outcome
from identitylib._managed_identity._sources import ArcConfig
from identitylib._protocol._messages import HttpRequest, HttpResponse

ENDPOINT = "http://localhost:40342/metadata/identity/oauth2/token"
TOKEN = {"access_token": "arc-at", "expires_in": "3600", "resource": "r", "token_type": "Bearer"}


@pytest.fixture
def tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The agent's token directory, for this platform, in a temporary directory."""
    directory = tmp_path / "tokens"
    directory.mkdir()
    monkeypatch.setitem(_arc.ARC_TOKEN_DIRECTORIES, sys.platform, str(directory))
    return directory


def ctx(identity: Any = None, **kwargs: Any) -> FlowContext:
    spec = describe_identity(identity or SystemAssignedManagedIdentity())
    return FlowContext(identity=spec, resource="r", **kwargs)


def challenge(realm: Optional[str] = None, header: Optional[str] = None) -> HttpResponse:
    headers = {}
    if header is not None:
        headers["www-authenticate"] = header
    elif realm is not None:
        headers["www-authenticate"] = f"Basic realm={realm}"
    return HttpResponse(401, "", headers)


def run(
    first: HttpResponse,
    second: Optional[HttpResponse] = None,
    context: Optional[FlowContext] = None,
) -> tuple[Outcome, list[HttpRequest]]:
    flow = _arc.arc_flow(ArcConfig(ENDPOINT), context or ctx())
    sent = [next(flow)]
    try:
        sent.append(flow.send(first))
        assert second is not None, "the flow made a second request"
        flow.send(second)
    except StopIteration as stop:
        return stop.value, sent  # type: ignore[no-any-return]
    raise AssertionError("the flow did not end")


def ok(**extra: Any) -> HttpResponse:
    return HttpResponse(200, json.dumps({**TOKEN, **extra}))


def test_challenge_then_token(tokens: Path) -> None:
    key = tokens / "abc.key"
    key.write_text("secret-from-file")
    outcome, sent = run(challenge(str(key)), ok())
    assert outcome.result["access_token"] == "arc-at"
    assert [r.headers.get("Authorization") for r in sent] == [None, "Basic secret-from-file"]
    assert all(r.params == {"api-version": "2020-06-01", "resource": "r"} for r in sent)


@pytest.mark.parametrize(
    "header",
    [
        'Basic realm="{key}"',
        "basic  REALM = {key}",
        "Basic realm={key}  ",
    ],
)
def test_challenge_header_spellings(tokens: Path, header: str) -> None:
    key = tokens / "k.key"
    key.write_text("s")
    outcome, _ = run(challenge(header=header.format(key=key)), ok())
    assert "access_token" in outcome.result


@pytest.mark.parametrize(
    "header", [None, "", "Bearer realm=/x.key", "Basic", "Basic realm=", "Digest realm=/x.key"]
)
def test_unrecognisable_challenge(tokens: Path, header: Optional[str]) -> None:
    with pytest.raises(ManagedIdentityError, match="WWW-Authenticate"):
        run(challenge(header=header))


def test_no_challenge_is_an_error_dict(tokens: Path) -> None:
    outcome, sent = run(HttpResponse(500, "agent broken"))
    assert outcome.result == {"error": "invalid_request", "error_description": "agent broken"}
    assert len(sent) == 1


@pytest.mark.parametrize(
    "realm",
    [
        "{outside}/x.key",  # another directory
        "{tokens}/../x.key",  # traversal out of the directory
        "{tokens}/sub/x.key",  # a subdirectory
        "{tokens}/x.txt",  # not a .key file
        "{tokens}/.key",  # no name
        "x.key",  # relative
        "{tokens}",  # the directory itself
    ],
)
def test_realm_must_name_a_key_file_in_the_token_directory(
    tokens: Path, tmp_path: Path, realm: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.key").write_text("stolen")
    (tokens / "x.txt").write_text("nope")
    (tokens / "sub").mkdir()
    (tokens / "sub" / "x.key").write_text("nope")
    with pytest.raises(ManagedIdentityError):
        run(challenge(realm.format(tokens=tokens, outside=outside)))


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="symlinks")
def test_symlink_out_of_the_directory_is_refused(tokens: Path, tmp_path: Path) -> None:
    target = tmp_path / "secret.txt"
    target.write_text("do not send me")
    (tokens / "link.key").symlink_to(target)
    with pytest.raises(ManagedIdentityError, match="outside"):
        run(challenge(str(tokens / "link.key")))


def test_missing_key_file(tokens: Path) -> None:
    with pytest.raises(ManagedIdentityError, match="Cannot read"):
        run(challenge(str(tokens / "absent.key")))


def test_key_file_size_limit(tokens: Path) -> None:
    exact = tokens / "exact.key"
    exact.write_text("k" * 4096)
    outcome, sent = run(challenge(str(exact)), ok())
    assert "access_token" in outcome.result
    assert sent[1].headers["Authorization"] == "Basic " + "k" * 4096
    big = tokens / "big.key"
    big.write_text("k" * 4097)
    with pytest.raises(ManagedIdentityError, match="4KB"):
        run(challenge(str(big)))


@pytest.mark.parametrize("content", [b"", b"   \n", b"a\nb", b"\xff\xfe"])
def test_unusable_key_content(tokens: Path, content: bytes) -> None:
    key = tokens / "bad.key"
    key.write_bytes(content)
    with pytest.raises(ManagedIdentityError):
        run(challenge(str(key)))


def test_unsupported_platform() -> None:
    with pytest.raises(ArcPlatformNotSupportedError):
        run(challenge("/var/opt/azcmagent/tokens/x.key"), context=ctx(platform="darwin"))


def test_windows_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGRAMDATA", r"C:\ProgramData")
    read: list[tuple[str, str]] = []

    def reader(path: str, directory: str) -> bytes:
        read.append((path, directory))
        return b"win-key"

    context = ctx(platform="win32", read_key_file=reader)
    realm = r"c:\programdata\AzureConnectedMachineAgent\Tokens\abc.key"
    outcome, sent = run(challenge(realm), ok(), context)
    assert "access_token" in outcome.result
    assert read == [(realm, r"C:\ProgramData\AzureConnectedMachineAgent\Tokens")]
    assert sent[1].headers["Authorization"] == "Basic win-key"
    with pytest.raises(ManagedIdentityError):
        run(challenge(r"C:\Windows\System32\abc.key"), context=context)


@pytest.mark.parametrize(
    ("identity", "param", "echo"),
    [
        (UserAssignedManagedIdentity(client_id="CID"), "client_id", {"client_id": "cid"}),
        (UserAssignedManagedIdentity(object_id="oid"), "object_id", {"object_id": "OID"}),
        (UserAssignedManagedIdentity(resource_id="/r/ID"), "msi_res_id", {"msi_res_id": "/r/id"}),
        (UserAssignedManagedIdentity(resource_id="/r/ID"), "msi_res_id", {"mi_res_id": "/r/ID"}),
    ],
)
def test_user_assigned_echo(tokens: Path, identity: Any, param: str, echo: dict[str, str]) -> None:
    key = tokens / "k.key"
    key.write_text("s")
    outcome, sent = run(challenge(str(key)), ok(**echo), ctx(identity))
    assert "access_token" in outcome.result
    assert sent[0].params[param] == identity["Id"]
    key.write_text("s")
    with pytest.raises(ManagedIdentityError, match="did not confirm"):
        run(challenge(str(key)), ok(client_id="system-assigned-id"), ctx(identity))


def test_token_request_refused(tokens: Path) -> None:
    key = tokens / "k.key"
    key.write_text("s")
    outcome, _ = run(challenge(str(key)), HttpResponse(401, "bad key"))
    assert outcome.result == {"error": "invalid_request", "error_description": "bad key"}
    outcome, _ = run(challenge(str(key)), HttpResponse(200, "not json"))
    assert outcome.result["error"] == "invalid_response"
