"""Every Python block in the docs runs, or says why it cannot.

The convention, for every ```python block in ``docs/**/*.md`` and ``README.md``:

- A block is a whole program a reader can paste and run (top-level ``await`` allowed, as in
  ``python -m asyncio``). The test runs each one in a fresh interpreter, with a scratch
  directory as its working directory and ``HOME``, and fails when it raises, exits non-zero,
  or leaves a ``result`` dict that is an error answer (``"error"`` in it).
- Where a block names the reader's own identity provider, this test points it at the suite's
  emulator (the ``emulator`` fixture) by replacing exact strings, listed in ``PLACEHOLDERS``:
  ``https://login.microsoftonline.com/`` becomes the emulator's base URL, ``<tenant id>``
  and its spellings the demo tenant, ``"client-id"`` / ``"secret"`` and their spellings a
  demo app's id and secret (``identitylib.emulator.DEMO_*``). Write new blocks with these
  placeholders, or add a row to the table. Nothing else is changed or predefined.
- A block runs on loopback only: a host name other than ``localhost``, ``127.0.0.1`` or
  ``::1`` fails the block. A block that needs another host (Entra ID itself, Redis on a
  named host, an Azure VM), a browser, a web server, an optional package no extra installs,
  or names defined elsewhere (an excerpt of a larger program, a function body, a line of a
  ``conftest.py``) is a fragment: the line right before it is the HTML comment
  ``<!-- fragment: <reason> -->``. Fragments must still compile as the body of a function,
  unless they are pseudo-code (``<!-- fragment: pseudo-code ... -->``).
- A block that only includes a file (``--8<-- "examples/x.py"``) shows an example whose own
  test runs it: the file must exist and a test under ``tests/`` must name it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_URI,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_TENANT_ID,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
)

ROOT = Path(__file__).resolve().parents[1]
PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
FRAGMENT = re.compile(r"<!-- fragment: (?P<reason>\S.*?) -->")
INCLUDE = re.compile(r'--8<-- "(?P<path>[^"]+)"')
BLOCK_TIMEOUT_S = 60

# The docs' placeholders, in the order they are replaced, and what each becomes (given the
# emulator). Each row must be used by some block (test_every_placeholder_is_used).
PLACEHOLDERS: list[tuple[str, str]] = [
    ("https://sso.example.com/realms/acme", "{authority}/v2.0"),  # a generic OIDC issuer
    ("https://login.microsoftonline.com/", "{base_url}/"),
    ("<tenant-id>", DEMO_TENANT_ID),
    ("<your tenant id>", DEMO_TENANT_ID),
    ("<tenant>", DEMO_TENANT_ID),
    ('"client-id"', f'"{DEMO_DAEMON_ID}"'),
    ('"my-client-id"', f'"{DEMO_DAEMON_ID}"'),
    ('"my-web-app"', f'"{DEMO_DAEMON_ID}"'),
    ('"secret"', f'"{DEMO_DAEMON_SECRET}"'),
    ('"my-secret"', f'"{DEMO_DAEMON_SECRET}"'),
    ('"its secret"', f'"{DEMO_DAEMON_SECRET}"'),
    ("<web app's client id>", DEMO_WEB_ID),
    ("<its secret, or a certificate dict>", DEMO_WEB_SECRET),
    ("<the API's client id>", DEMO_API_ID),
    ("api://<the API's App ID URI>", DEMO_API_URI),
]

# Runs one block in its own interpreter: host names resolve on loopback only.
RUNNER = textwrap.dedent(
    """
    import ast, asyncio, inspect, socket, sys

    LOOPBACK = {"localhost", "127.0.0.1", "::1"}
    resolve = socket.getaddrinfo

    def resolve_loopback_only(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in LOOPBACK:
            raise OSError(f"a docs block reached beyond loopback: {name}")
        return resolve(host, *args, **kwargs)

    socket.getaddrinfo = resolve_loopback_only
    path = sys.argv[1]
    with open(path, encoding="utf-8") as source:
        code = compile(source.read(), path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace = {"__name__": "__main__"}
    outcome = eval(code, namespace)
    if inspect.iscoroutine(outcome):
        asyncio.run(outcome)
    result = namespace.get("result")
    if isinstance(result, dict) and "error" in result:
        sys.exit(f"the block's result is an error: {result['error']}")
    """
)


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository, e.g. docs/flows/silent.md
    line: int
    code: str
    fragment: str | None  # the reason, for a fragment

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def includes(self) -> list[str]:
        return INCLUDE.findall(self.code)


def _blocks() -> list[Block]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
            previous = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
            marker = FRAGMENT.fullmatch(previous)
            found.append(
                Block(
                    page=page.relative_to(ROOT).as_posix(),
                    line=text.count("\n", 0, match.start()) + 1,
                    code=match.group(1),
                    fragment=marker.group("reason") if marker else None,
                )
            )
    return found


BLOCKS = _blocks()
INCLUDES = [block for block in BLOCKS if block.includes]
WHOLE = [block for block in BLOCKS if block.fragment is None and not block.includes]
FRAGMENTS = [block for block in BLOCKS if block.fragment is not None]
PYTHON_FRAGMENTS = [
    block for block in FRAGMENTS if not (block.fragment or "").startswith("pseudo-code")
]


def _substitute(code: str, emulator_base_url: str, authority: str) -> str:
    for placeholder, value in PLACEHOLDERS:
        code = code.replace(
            placeholder, value.format(base_url=emulator_base_url, authority=authority)
        )
    return code


def test_the_blocks_of_every_page_are_found() -> None:
    pages = {block.page for block in BLOCKS}
    assert {"README.md", "docs/index.md", "docs/flows/silent.md", "docs/web/flask.md"} <= pages
    assert len(WHOLE) >= 10
    assert FRAGMENTS
    assert INCLUDES


def test_every_fragment_marker_gives_a_reason() -> None:
    bare = [
        f"{page.relative_to(ROOT)}:{number}"
        for page in PAGES
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        if "<!-- fragment" in line and not FRAGMENT.search(line)
    ]
    assert bare == []


def test_every_placeholder_is_used() -> None:
    unused = [p for p, _ in PLACEHOLDERS if not any(p in block.code for block in WHOLE)]
    assert unused == []


@pytest.mark.parametrize("block", WHOLE, ids=[block.name for block in WHOLE])
def test_every_whole_block_runs(block: Block, emulator: Emulator, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(
        _substitute(block.code, emulator.base_url, emulator.authority()), encoding="utf-8"
    )
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.lower().endswith("_proxy") and not name.startswith("IDENTITYLIB_")
    }
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(script)],
        cwd=tmp_path,
        env={**environment, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{block.name} failed:\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("block", PYTHON_FRAGMENTS, ids=[block.name for block in PYTHON_FRAGMENTS])
def test_every_fragment_compiles(block: Block) -> None:
    # as the body of a function, since some are one (a view's ``return``)
    body = "async def fragment():\n" + textwrap.indent(block.code, "    ") + "    pass\n"
    compile(body, block.name, "exec")


@pytest.mark.parametrize("block", INCLUDES, ids=[block.name for block in INCLUDES])
def test_an_included_example_exists_and_a_test_runs_it(block: Block) -> None:
    tests = [path.read_text(encoding="utf-8") for path in (ROOT / "tests").rglob("test_*.py")]
    for included in block.includes:
        assert (ROOT / included).is_file(), included
        # the file, or the directory of a multi-file example (examples/web/django_app/)
        names = {Path(included).name, Path(included).parent.name} - {"examples", "web"}
        assert any(name in text for name in names for text in tests), f"no test runs {included}"
