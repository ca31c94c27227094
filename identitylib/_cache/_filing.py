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
from typing import Any, Optional, overload

from ._query import FOREIGN_BINDING_FIELDS, component, scope_set

#: Fields that keep a token out of the exact-request index (see ``_exact.py``).
UNFILED_FIELDS = ("key_id", "ext_cache_key", *FOREIGN_BINDING_FIELDS)
#: Every field :func:`filing_of` reads.
FILED_FIELDS = (
    "environment", "client_id", "realm", "home_account_id", "user_assertion_hash", "target",
    *UNFILED_FIELDS,
)  # fmt: skip
#: The fields :func:`refiling` compares with the replaced entry's, in its order (all of
#: :data:`FILED_FIELDS` but the assertion hash, compared on its own).
_COMPARED = (
    "environment", "client_id", "realm", "home_account_id", "target", *UNFILED_FIELDS,
)  # fmt: skip
# (filing_of reads these by name, in line)
assert FOREIGN_BINDING_FIELDS == ("kid", "ext", "requestedClaimsHash"), FOREIGN_BINDING_FIELDS

#: How an entry files compared with the one it replaces (:func:`refiling`): alike; only their
#: (non-empty string) assertion hashes differ; or they differ otherwise.
ALIKE, REASSERTED, REFILED = "alike", "reasserted", "refiled"
_ASSERTION_HASH = "user_assertion_hash"


class AccessTokenFiling:
    """An access token's index components (``component`` of each field; the environment
    and the scopes lower-cased), and the raw values the request keys are made of.

    ``app`` is (environment, client id); ``owner`` (home account, environment), what the
    per-account lookups name; ``partition`` (realm, key id, extended key, assertion hash).
    ``has_home`` says whether the entry has a ``home_account_id`` field at all, ``bound``
    whether it carries a binding that keeps it out of the exact-request index.
    ``reasserted``: compared with the entry it replaces (``filing_of(entry, old)``), only
    its assertion hash (a non-empty string in both) differs. ``target``, ``key_id`` and
    ``ext_cache_key`` are the raw fields too (what its cache key is made of, with the
    others).
    """

    __slots__ = (
        "app", "assertion", "bound", "client_id", "environment", "ext_cache_key", "has_home",
        "home", "home_account_id", "key_id", "owner", "partition", "realm", "reasserted",
        "scopes", "target", "user_assertion_hash",
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
    target: Any
    key_id: Any
    ext_cache_key: Any
    reasserted: bool


@overload
def filing_of(entry: Mapping[str, Any]) -> AccessTokenFiling: ...
@overload
def filing_of(entry: Mapping[str, Any], old: Mapping[str, Any]) -> AccessTokenFiling | None: ...
def filing_of(
    entry: Mapping[str, Any], old: Mapping[str, Any] | None = None
) -> AccessTokenFiling | None:
    """The filing of the access token ``entry``; with ``old``, the entry it replaces under
    its key, compared in the same reading of ``entry``'s fields: None when ``entry`` files
    as ``old`` did (:data:`ALIKE`), else its filing, ``reasserted`` when only the
    assertion hash differs (:data:`REASSERTED`)."""
    get = entry.get
    environment, client_id, realm = get("environment"), get("client_id"), get("realm")
    home_account_id, assertion_hash = get("home_account_id"), get("user_assertion_hash")
    target, key_id, ext_cache_key = get("target"), get("key_id"), get("ext_cache_key")
    kid, ext, claims_hash = get("kid"), get("ext"), get("requestedClaimsHash")
    has_home = home_account_id is not None or "home_account_id" in entry
    filing = made_filing(
        environment, client_id, realm, home_account_id, assertion_hash, target, key_id,
        ext_cache_key, has_home, bool(key_id or ext_cache_key or kid or ext or claims_hash),
    )  # fmt: skip
    if old is None:
        return filing
    return refiling(filing, old, (kid, ext, claims_hash))


def refiling(
    filing: AccessTokenFiling,
    old: Mapping[str, Any],
    foreign: tuple[Any, Any, Any] = (None, None, None),
) -> AccessTokenFiling | None:
    """How the entry of ``filing`` files compared with ``old``, the entry it replaces
    under its key: None when alike (:data:`ALIKE`: every field of :data:`FILED_FIELDS`
    equal and of the same type, None and absent alike but for ``home_account_id``), else
    ``filing``, marked ``reasserted`` when only the assertion hash differs, a non-empty
    string in both (:data:`REASSERTED`: an on-behalf-of token renewed under a new
    assertion). ``foreign``: the entry's other libraries' bindings (by
    :data:`FOREIGN_BINDING_FIELDS`; a writer sets none). One frame for a writer's
    filing, compared in line."""
    # (in _COMPARED's order)
    values = (
        filing.environment, filing.client_id, filing.realm, filing.home_account_id,
        filing.target, filing.key_id, filing.ext_cache_key, *foreign,
    )  # fmt: skip
    get = old.get
    before = (
        get("environment"), get("client_id"), get("realm"), get("home_account_id"),
        get("target"), get("key_id"), get("ext_cache_key"), get("kid"), get("ext"),
        get("requestedClaimsHash"),
    )  # fmt: skip
    if before != values:  # (compared in C)
        return filing
    for value in values:  # equal strings or None file alike; other equal values (1 and
        if value is not None and type(value) is not str:  # True) may not: compared by type
            for was, now in zip(before, values):
                if type(was) is not type(now):
                    return filing
            break
    if values[3] is None and ("home_account_id" in old) is not filing.has_home:
        return filing  # (an entry without one is not filed by the exact-request index)
    was = get(_ASSERTION_HASH)
    assertion_hash = filing.user_assertion_hash
    if type(was) is type(assertion_hash) and was == assertion_hash:
        return None
    filing.reasserted = bool(type(was) is str and was and assertion_hash)
    return filing


def made_filing(
    environment: Any,
    client_id: Any,
    realm: Any,
    home_account_id: Any,
    assertion_hash: Any,
    target: Any,
    key_id: Any,
    ext_cache_key: Any,
    has_home: bool = True,
    bound: Optional[bool] = None,
) -> AccessTokenFiling:
    """The filing of an access token with these fields (``None``: the field is absent):
    what :func:`filing_of` reads from an entry, made by its writer from the values it
    made the entry of, none read back. ``has_home``: whether it has a
    ``home_account_id`` field (a writer always sets one); ``bound``: whether it carries a
    binding (default: a key id or an extended key; a writer sets no other library's)."""
    env = environment.lower() if type(environment) is str else component(environment, fold=True)
    # component() of each, the usual values (a string, None) without a call
    home = (
        home_account_id
        if type(home_account_id) is str
        else ""
        if home_account_id is None
        else component(home_account_id)
    )
    filing = AccessTokenFiling()
    filing.environment, filing.client_id, filing.realm = environment, client_id, realm
    filing.home_account_id, filing.user_assertion_hash = home_account_id, assertion_hash
    filing.target, filing.key_id, filing.ext_cache_key = target, key_id, ext_cache_key
    filing.has_home = has_home
    filing.app = (
        env,
        client_id if type(client_id) is str else "" if client_id is None else component(client_id),
    )
    filing.home = home
    filing.owner = (home, env)
    filing.assertion = assertion = (
        assertion_hash
        if type(assertion_hash) is str
        else ""
        if assertion_hash is None
        else component(assertion_hash)
    )
    filing.partition = (
        realm if type(realm) is str else "" if realm is None else component(realm),
        key_id if type(key_id) is str else "" if key_id is None else component(key_id),
        ext_cache_key
        if type(ext_cache_key) is str
        else ""
        if ext_cache_key is None
        else component(ext_cache_key),
        assertion,
    )
    # (scope_set, in line for a string)
    filing.scopes = frozenset(target.lower().split()) if type(target) is str else scope_set(target)
    filing.bound = bool(key_id or ext_cache_key) if bound is None else bound
    filing.reasserted = False
    return filing
