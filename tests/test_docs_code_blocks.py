"""The Python blocks in docs/ are Python.

The convention: a ```python block in docs/ is a whole program a reader can paste (top-level
``await`` allowed, as in ``python -m asyncio``), unless the line right before it is the HTML
comment ``<!-- fragment -->``: then it is an excerpt (pseudo-code, a function body, a line
of a conftest.py) and is exempt. Every other block must at least compile; the quickstart
also runs against the emulator (tests/test_docs_build.py).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
FRAGMENT = "<!-- fragment -->"


def _blocks() -> list[tuple[str, int, str, bool]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
            line = text.count("\n", 0, match.start()) + 1
            previous = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            found.append((page.name, line, match.group(1), previous.strip() == FRAGMENT))
    return found


BLOCKS = _blocks()


def test_the_docs_have_python_blocks_and_some_are_fragments() -> None:
    assert len(BLOCKS) > 20
    assert any(fragment for *_, fragment in BLOCKS)


@pytest.mark.parametrize(
    ("page", "line", "code"),
    [(page, line, code) for page, line, code, fragment in BLOCKS if not fragment],
    ids=[f"{page}:{line}" for page, line, _, fragment in BLOCKS if not fragment],
)
def test_every_whole_block_compiles(page: str, line: int, code: str) -> None:
    compile(code, f"docs/{page}:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
