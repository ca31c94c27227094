"""Filing an access token in both indices of its section: the field index (``_index.py``)
and the exact-request index (``_exact.py``), from one reading of its fields."""

from __future__ import annotations

from typing import Any, Optional

from ._exact import ExactRequestIndex
from ._filing import AccessTokenFiling, filing_of, refiling
from ._index import SectionIndex

__all__ = ["file_access_token"]


def file_access_token(
    index: Optional[SectionIndex],
    exact: Optional[ExactRequestIndex],
    key: str,
    old: Any,
    entry: dict[str, Any],
    made: Optional[AccessTokenFiling] = None,
) -> None:
    """File the access token ``entry`` stored under ``key`` over ``old`` in both indices
    of its section (``index``, the field index, and ``exact``, the exact-request index;
    None: not built), from one reading of its fields; a renewal (an ``old`` entry that
    files alike: a new secret and times) only has its exact-request filing renewed, a
    token renewed under a new assertion (all else filed alike) is moved to it in both
    (see ``reassert``): the fields compared once, for both. ``made``: the filing its
    writer made (then none is read from ``entry``)."""
    if index is None and exact is None:
        return
    if not isinstance(old, dict):
        filing = filing_of(entry) if made is None else made
        if index is not None:
            tokens = index.access_tokens
            if tokens is not None and not index.fields:  # (SectionIndex.add's, in line)
                tokens.add(key, entry, filing)
            else:
                index.add(key, entry, filing)
        if exact is not None:
            exact.add(key, entry, filing)
        return
    # (compared with old in the same reading)
    refiled = filing_of(entry, old) if made is None else refiling(made, old)
    if refiled is None:  # files alike: a renewal
        if exact is not None:
            exact.renew(key, entry)
    elif refiled.reasserted:  # an on-behalf-of token, a new assertion
        if index is not None:
            tokens = index.access_tokens
            if tokens is not None and not index.fields:  # (SectionIndex's, in line)
                tokens.reassert(key, old, entry, refiled)
            else:
                index.reassert(key, old, entry, refiled)
        if exact is not None:
            exact.reassert(key, old, entry, refiled)
    else:
        if index is not None:
            index.replace(key, old, entry, refiled)
        if exact is not None:
            exact.replace(key, old, entry, refiled)
