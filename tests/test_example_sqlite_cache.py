"""examples/sqlite_cache.py: its main() against the emulator, and its partition rows."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

import identitylib
from tests.cache._builders import NOW, at_query, client_credentials_event, user_event

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sqlite_cache.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sqlite_cache_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_main_serves_the_second_app_from_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "tokens.sqlite3"
    assert load_example().main([str(database)]) == 0
    out = capsys.readouterr().out
    assert "app object 1: token from identity_provider" in out
    assert "app object 2: token from cache" in out
    assert "token requests made by app object 2: 0" in out
    with sqlite3.connect(database) as db:
        (key,) = [row[0] for row in db.execute("SELECT partition_key FROM token_cache")]
    assert key.endswith("_AppTokenCache")


def test_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "served from SQLite" in done.stdout


def test_one_row_per_partition(tmp_path: Path) -> None:
    example = load_example()
    partitions = example.SqlitePartitions(str(tmp_path / "p.sqlite3"))
    cache = example.sqlite_token_cache(partitions)
    now = int(time.time())
    with cache.access("cid_tid_AppTokenCache", "cid", True):
        cache.add(client_credentials_event(access_token="app"), now=now)
    with cache.access("oid1.tid", "cid", False):
        cache.add(user_event(), now=now)
    with cache.access(None, "cid", False):
        list(cache.search("Account", query={}))  # no change: no row written
    assert partitions.partitions() == ["cid_tid_AppTokenCache", "oid1.tid"]

    other = example.sqlite_token_cache(partitions)  # another app object, same database
    with other.access("oid1.tid", "cid", False):
        users = list(other.search("AccessToken", target=["User.Read"], query=at_query(), now=now))
        apps = list(other.search("AccessToken", query=at_query(None), now=now))
    assert [e["secret"] for e in users] == ["user-at"]
    assert apps == []  # the app partition was not loaded for this access
    partitions.close()


def test_a_damaged_row_starts_the_partition_afresh(tmp_path: Path) -> None:
    example = load_example()
    partitions = example.SqlitePartitions(str(tmp_path / "p.sqlite3"))
    with sqlite3.connect(partitions.path) as db:
        db.execute(
            "INSERT INTO token_cache VALUES ('p', '{not json', 0)",
        )
    cache: identitylib.SerializableTokenCache = example.sqlite_token_cache(partitions)
    with cache.access("p", "cid", False):
        assert cache._cache == {}
        cache.add(user_event(), now=NOW)
    with sqlite3.connect(partitions.path) as db:
        (state,) = db.execute("SELECT state FROM token_cache WHERE partition_key = 'p'").fetchone()
    assert '"RefreshToken"' in state
    partitions.close()
