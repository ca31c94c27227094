"""Where an access token is filed: its index components, read from its fields once.

The access-token section has two indices, the access-token index (``_index.py``: app,
owner, partition, scopes) and the exact-request index (``_exact.py``: request keys made
of the environment, client, realm, home account or assertion, and scopes). Both file a
token by the same fields, folded the same way (the environment and the scopes
lower-cased). :func:`filing_of` reads them once per write, and both indices file the
token from that one reading: no field read twice, no string lower-cased twice.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from ._query import FOREIGN_BINDING_FIELDS, component, scope_set

#: Fields that keep a token out of the exact-request index (see ``_exact.py``).
UNFILED_FIELDS = ("key_id", "ext_cache_key", *FOREIGN_BINDING_FIELDS)
#: Every field :func:`filing_of` reads.
FILED_FIELDS = (
    "environment", "client_id", "realm", "home_account_id", "user_assertion_hash", "target",
    *UNFILED_FIELDS,
)  # fmt: skip
_ABSENT = object()


class AccessTokenFiling:
    """An access token's index components (``component`` of each field; the environment
    and the scopes lower-cased), and the raw values the request keys are made of.

    ``app`` is (environment, client id); ``owner`` (home account, environment), what the
    per-account lookups name; ``partition`` (realm, key id, extended key, assertion hash).
    ``has_home`` says whether the entry has a ``home_account_id`` field at all, ``bound``
    whether it carries a binding that keeps it out of the exact-request index.
    """

    __slots__ = (
        "app", "assertion", "bound", "client_id", "environment", "has_home", "home",
        "home_account_id", "owner", "partition", "realm", "scopes", "user_assertion_hash",
    )  # fmt: skip

    app: tuple[Hashable, Hashable]
    owner: tuple[Hashable, Hashable]
    partition: tuple[Hashable, ...]
    home: Hashable
    assertion: Hashable
    scopes: frozenset[str]
    bound: bool
    has_home: bool
    environment: Any
    client_id: Any
    realm: Any
    home_account_id: Any
    user_assertion_hash: Any


def filing_of(entry: Mapping[str, Any]) -> AccessTokenFiling:
    """The filing of the access token ``entry``."""
    get = entry.get
    environment, client_id, realm = get("environment"), get("client_id"), get("realm")
    home_account_id, assertion_hash = get("home_account_id"), get("user_assertion_hash")
    key_id, ext_cache_key = get("key_id"), get("ext_cache_key")
    env = environment.lower() if type(environment) is str else component(environment, fold=True)
    # component() of each, the usual values (a string, None) without a call
    home = (
        home_account_id
        if type(home_account_id) is str
        else "" if home_account_id is None else component(home_account_id)
    )
    filing = AccessTokenFiling()
    filing.environment, filing.client_id, filing.realm = environment, client_id, realm
    filing.home_account_id, filing.user_assertion_hash = home_account_id, assertion_hash
    filing.has_home = home_account_id is not None or "home_account_id" in entry
    filing.app = (
        env,
        client_id if type(client_id) is str else "" if client_id is None else component(client_id),
    )
    filing.home = home
    filing.owner = (home, env)
    filing.assertion = assertion = (
        assertion_hash
        if type(assertion_hash) is str
        else "" if assertion_hash is None else component(assertion_hash)
    )
    filing.partition = (
        realm if type(realm) is str else "" if realm is None else component(realm),
        key_id if type(key_id) is str else "" if key_id is None else component(key_id),
        ext_cache_key
        if type(ext_cache_key) is str
        else "" if ext_cache_key is None else component(ext_cache_key),
        assertion,
    )
    filing.scopes = scope_set(get("target"))
    bound = bool(key_id or ext_cache_key)
    if not bound:
        for name in FOREIGN_BINDING_FIELDS:  # (a loop: a generator costs a frame)
            if get(name):
                bound = True
                break
    filing.bound = bound
    return filing


def files_alike(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether ``new`` has every field :func:`filing_of` reads as ``old`` has it (present
    or absent alike, values of the same type and equal): then it files alike."""
    return filing_change(old, new) is ALIKE


#: What :func:`filing_change` answers: the two entries file alike; only their (non-empty
#: string) assertion hashes differ; or they differ otherwise.
ALIKE, REASSERTED, REFILED = "alike", "reasserted", "refiled"
_ASSERTION_HASH = "user_assertion_hash"


def filing_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """How ``new`` files compared with ``old``, from one pass over the fields
    :func:`filing_of` reads: :data:`ALIKE` (every field present or absent alike, of the
    same type and equal), :data:`REASSERTED` (the same but for ``user_assertion_hash``,
    a non-empty string in both: an on-behalf-of token renewed under a new assertion), or
    :data:`REFILED`."""
    change = ALIKE
    for name in FILED_FIELDS:
        before, after = old.get(name, _ABSENT), new.get(name, _ABSENT)
        if type(before) is not type(after) or before != after:
            if name != _ASSERTION_HASH or type(before) is not str or not before or not after:
                return REFILED
            change = REASSERTED
    return change
