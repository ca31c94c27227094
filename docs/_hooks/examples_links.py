"""MkDocs hooks: links to ``examples/*.py`` (right on GitHub) lead to the examples page."""

from __future__ import annotations

import posixpath
import re
from typing import Any

_EXAMPLE_LINK = re.compile(r"\]\((?:\.\./)+examples/([A-Za-z0-9_]+)\.py\)")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Rewrite ``](../examples/NAME.py)`` to the section of NAME on ``examples.md``."""
    here = posixpath.dirname(page.file.src_uri)
    target = posixpath.relpath("examples.md", here or ".")
    return _EXAMPLE_LINK.sub(lambda m: f"]({target}#{m.group(1)})", markdown)
