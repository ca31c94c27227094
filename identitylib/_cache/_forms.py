"""Reading the entries other MSAL libraries write into the same cache schema.

msal Python writes one form, and identitylib writes it too. msal-node and MSAL.NET write
the same sections and field names with other values (read from their sources: msal-node's
``ClientCredentialClient``, ``ResponseHandler.generateCacheRecord``, ``CacheHelpers`` and
``Serializer``; MSAL.NET's ``TokenResponseHelper``, ``MsalAccessTokenCacheItem`` and
``InstanceDiscoveryManager``):

===========================  ======================  ===================  =================
field                        msal Python             msal-node            MSAL.NET
===========================  ======================  ===================  =================
app token home_account_id    ``null``                ``""``               left out
app token realm              token endpoint tenant   authority tenant     authority tenant
                             (GUID once discovered)  as written, lower    as written
environment                  authority host          preferred cache      preferred cache
                                                     host, ``host:port``  host, no port
===========================  ======================  ===================  =================

(The preferred cache host of the public cloud is ``login.windows.net``; an authority that
instance discovery does not know is its own.) The lookups here find an access token in
any of these forms through the indices (a few constant-time lookups, never a scan); every
write stays in msal Python's form, so msal Python reads what identitylib writes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from ._keys import CredentialType
from ._query import is_expired, matches, requested_scopes
from ._token_cache import Entry, TokenCache

#: The fields of msal Python's refresh token entries: a refresh token redeemed from
#: another library's entry is written back in this form.
REFRESH_TOKEN_FIELDS = (
    "credential_type",
    "secret",
    "home_account_id",
    "environment",
    "client_id",
    "target",
    "last_modification_time",
    "family_id",
    "user_assertion_hash",
)


def access_tokens_in_forms(
    cache: TokenCache,
    target: Iterable[str],
    query: Mapping[str, Any],
    environments: Sequence[str],
    realms: Sequence[str],
    now: Optional[float] = None,
) -> list[Entry]:
    """Unexpired access tokens matching ``query`` in any library's form, best first.

    ``query`` is msal Python's (``client_id``, ``home_account_id``, isolating fields);
    its ``environment`` and ``realm`` are replaced by each of ``environments`` and
    ``realms`` in turn. A ``home_account_id`` of None (an app-only token) also matches
    ``""`` and an entry without the field. Each (environment, realm) pair is one index
    lookup of one partition.
    """
    scopes = requested_scopes(target)
    app_only = query.get("home_account_id") is None
    rest = {name: value for name, value in query.items() if name != "home_account_id"}
    moment = int(time.time() if now is None else now)
    found: list[Entry] = []
    seen: set[str] = set()
    with cache._lock:
        store = cache._synced(CredentialType.ACCESS_TOKEN)
        section = store.section(CredentialType.ACCESS_TOKEN)
        for environment in environments:
            if not store.may_match_access_token({**query, "environment": environment}, scopes):
                continue  # (one check, not one per realm)
            for realm in realms:
                probe = {**query, "environment": environment, "realm": realm}
                wanted = {**rest, "environment": environment, "realm": realm}
                for key in store.candidates(CredentialType.ACCESS_TOKEN, probe, scopes) or ():
                    entry = section.get(key)
                    if key in seen or not isinstance(entry, dict) or is_expired(entry, moment):
                        continue
                    home = entry.get("home_account_id")
                    if bool(home) if app_only else home != query.get("home_account_id"):
                        continue
                    if matches(entry, wanted, scopes, isolate=True):
                        seen.add(key)
                        found.append(entry)
                        if store.bound is not None:
                            store.bound.used(CredentialType.ACCESS_TOKEN, key)
    return found


def canonical_refresh_token(entry: Mapping[str, Any], environment: str) -> dict[str, Any]:
    """``entry`` as msal Python writes it for an app whose cache environment is
    ``environment``: a refresh token read in another library's form is rotated into
    this form (the other library's entry is left to it). An entry in this form already
    is a copy made by the caller (a silent refresh's hidden candidate): a dict is
    returned as it is, not copied again."""
    if entry.get("environment") == environment:
        return entry if type(entry) is dict else dict(entry)
    canonical = {name: entry[name] for name in REFRESH_TOKEN_FIELDS if name in entry}
    canonical["environment"] = environment
    canonical.setdefault("target", "")
    return canonical
