"""The exact-request index: access tokens keyed by what a cache-hit lookup knows.

An app-token, silent or on-behalf-of lookup knows the environment, client, realm, the
home account (silent) or the assertion hash (on-behalf-of), and the requested scopes. An
access token in msal Python's form is filed under that request key for its own target and
for its target without the OIDC scopes the server adds to user tokens (``openid profile
email offline_access``), so the usual request for it is one dict lookup, whatever the
cache size. A request key shared by two tokens is ambiguous: the lookup then answers
nothing and the caller goes the full (indexed) way, which decides between them.

Only tokens a plain lookup may serve are filed: no ``key_id``, ``ext_cache_key`` or other
library's binding, and ``home_account_id`` present (None for app tokens). A token cached
without a client id (msal's, and identitylib's, system-assigned managed identity tokens:
``client_id`` None) is filed under the client part :data:`NO_CLIENT`, which no other token
uses. Like the other indices this one holds key strings only.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Optional, Union

from ._filing import AccessTokenFiling, filing_of
from ._raw import RawBacked

#: Scopes Entra adds to the target of user tokens beyond those requested.
SERVER_ADDED_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})

#: The scopes a user flow refuses in a request (``_protocol._scopes.RESERVED_SCOPES``).
_USER_FLOW_REFUSED = frozenset({"openid", "profile", "offline_access"})

#: One string (hashed once, compared in one go): cheaper than a tuple of its parts.
RequestKey = str
_SEPARATOR = "\x1f"

#: The client part of the request keys of tokens cached with ``client_id`` None (as their
#: keys name it: msal writes an empty client). A token whose ``client_id`` is the empty
#: string is not filed, so this part names the former alone.
NO_CLIENT = ""


def client_part(client_id: Optional[str]) -> str:
    """The client part of a request key for tokens cached with ``client_id``."""
    return NO_CLIENT if client_id is None else client_id


def _partition(entry: Mapping[str, Any]) -> tuple[Any, Any]:
    """The (client part, realm) a token is grouped under, as a request key names them."""
    client_id = entry.get("client_id")
    return (NO_CLIENT if client_id is None else client_id), entry.get("realm")


def request_prefix(environment: str, client_id: str, realm: str) -> str:
    """The part of a request key an application knows once and for all (lower-cased
    environment, client, realm): what the home account or assertion and the scopes
    follow (see :func:`request_key`)."""
    return _SEPARATOR.join((environment.lower(), client_id, realm, ""))


def request_key(
    environment: str,
    client_id: str,
    realm: str,
    home_account_id: Optional[str],
    user_assertion_hash: Optional[str],
    scopes: Iterable[str],
) -> RequestKey:
    """The key of a lookup: lower-cased environment, sorted lower-cased scopes;
    on-behalf-of lookups name the assertion hash and no home account."""
    home = "" if user_assertion_hash else (home_account_id or "")
    return _SEPARATOR.join(
        (
            request_prefix(environment, client_id, realm) + home,
            user_assertion_hash or "",
            " ".join(sorted(scopes)),
        )
    )


def app_request(prefix: str, scopes: str) -> RequestKey:
    """:func:`request_key` of an app-token lookup, from its prefix and :func:`scope_text`."""
    return f"{prefix}{_SEPARATOR}{_SEPARATOR}{scopes}"


def app_shelf_parts(request: RequestKey) -> Optional[tuple[str, str]]:
    """(``app_request(prefix, "")``, the scopes part) of an app-token request key, else
    None (a user's or an on-behalf-of request, or a key whose parts hold the separator)."""
    head, _, scopes = request.rpartition(_SEPARATOR)
    if head.count(_SEPARATOR) != 4 or not head.endswith(_APP_TAIL):
        return None
    return head + _SEPARATOR, scopes


_APP_TAIL = _SEPARATOR * 2


def account_request(prefix: str, home_account_id: str, scopes: str) -> RequestKey:
    """:func:`request_key` of a silent lookup for ``home_account_id``."""
    return f"{prefix}{home_account_id}{_SEPARATOR}{_SEPARATOR}{scopes}"


def assertion_request(prefix: str, user_assertion_hash: str, scopes: str) -> RequestKey:
    """:func:`request_key` of an on-behalf-of lookup."""
    return f"{prefix}{_SEPARATOR}{user_assertion_hash}{_SEPARATOR}{scopes}"


#: ``tuple(scopes)`` -> (the scopes part of a request key, whether a user flow refuses
#: them), or None for scopes a lookup may not take as they are. Shared by every app of the
#: process (few distinct scope lists, asked again and again); the value depends on the
#: key alone, so nothing here can go stale. Emptied when it reaches ``_SCOPE_TEXT_LIMIT``.
_SCOPE_TEXTS: dict[tuple[Any, ...], Optional[tuple[str, bool]]] = {}
_SCOPE_TEXT_LIMIT = 1024


def _scope_text(scopes: tuple[Any, ...]) -> Optional[tuple[str, bool]]:
    if not all(type(scope) is str for scope in scopes):
        return None
    parts = " ".join(scopes).lower().split()
    if not parts or len(parts) != len(scopes):
        return None
    found = frozenset(parts)
    text = sys.intern(" ".join(sorted(found)))  # (the object an app shelf files it under)
    return text, not _USER_FLOW_REFUSED.isdisjoint(found)


def scope_text(scopes: list[Any], *, user_flow: bool) -> Optional[str]:
    """The lower-cased, sorted scopes of a request as a request key names them, when a
    lookup may take them as they are: non-empty strings without whitespace (what
    validation keeps unchanged), and for a user flow (``user_flow``) none of the OIDC
    scopes it refuses; else None."""
    if len(scopes) == 1:  # (the usual request: one scope, remembered by the string itself)
        scope = scopes[0]
        if type(scope) is str:
            one = _ONE_SCOPE_TEXTS.get(scope)
            if one is None:
                one = _one_scope_text(scope)
            return one[0] if one[0] and not (user_flow and one[1]) else None
    try:
        known = _SCOPE_TEXTS[tuple(scopes)]
    except KeyError:
        key = tuple(scopes)
        known = _scope_text(key)
        if len(_SCOPE_TEXTS) >= _SCOPE_TEXT_LIMIT:
            _SCOPE_TEXTS.clear()
        _SCOPE_TEXTS[key] = known
    except TypeError:  # an unhashable scope: the full path reports it
        return None
    if known is None or (user_flow and known[1]):
        return None
    return known[0]


#: A single scope -> what :func:`_scope_text` makes of it, "" for the text of a scope a
#: lookup may not take as it is (as ``_SCOPE_TEXTS``, emptied at ``_SCOPE_TEXT_LIMIT``).
_ONE_SCOPE_TEXTS: dict[str, tuple[str, bool]] = {}


def _one_scope_text(scope: str) -> tuple[str, bool]:
    """:func:`_scope_text` of one scope (a string): its lower-cased text, without the
    set, sort and join of several."""
    parts = scope.lower().split()
    if len(parts) == 1:
        text = sys.intern(parts[0])  # (the object an app shelf files it under)
        one = text, text in _USER_FLOW_REFUSED
    else:
        one = "", False
    if len(_ONE_SCOPE_TEXTS) >= _SCOPE_TEXT_LIMIT:
        _ONE_SCOPE_TEXTS.clear()
    _ONE_SCOPE_TEXTS[scope] = one
    return one


def request_keys_of(entry: Mapping[str, Any]) -> list[RequestKey]:
    """The request keys ``entry`` is filed under (none for a token it must not answer)."""
    return requests_of(filing_of(entry))


def requests_of(filing: AccessTokenFiling) -> list[RequestKey]:
    """:func:`request_keys_of` of a token, from its filing."""
    parts = request_parts(filing)
    if parts is None:
        return []
    head, texts = parts
    return [head + text for text in texts]


def request_parts(filing: AccessTokenFiling) -> Optional[tuple[str, list[str]]]:
    """The head of the request keys of a token (all but the scopes part) and their scopes
    parts, from its filing (:func:`requests_of` joins them); None for a token filed under
    none."""
    environment, client_id, realm = filing.environment, filing.client_id, filing.realm
    if client_id is None:
        client_id = NO_CLIENT
    elif client_id == NO_CLIENT:
        return None  # (that part names the tokens without a client id)
    if (
        not (type(environment) is str and type(client_id) is str and type(realm) is str)
        or not filing.has_home
        or filing.bound
    ):
        return None
    home, assertion = filing.home_account_id, filing.user_assertion_hash
    if (home is not None and type(home) is not str) or (
        assertion is not None and type(assertion) is not str
    ):
        return None
    scopes = filing.scopes
    if not scopes:
        return None
    # request_key's parts, the environment lower-cased by the filing already
    env, sep = filing.app[0], _SEPARATOR
    if assertion:
        head = f"{env}{sep}{client_id}{sep}{realm}{sep}{sep}{assertion}{sep}"
    else:
        head = f"{env}{sep}{client_id}{sep}{realm}{sep}{home or ''}{sep}{sep}"
    if len(scopes) == 1:  # (one scope, an app token's usual target: nothing to sort)
        (text,) = scopes
        return head, [text]
    ordered = sorted(scopes)
    texts = [" ".join(ordered)]
    if not scopes.isdisjoint(SERVER_ADDED_SCOPES):  # (else no list made)
        requested = []
        for scope in ordered:  # (in order already: no second sort; a loop, no frame)
            if scope not in SERVER_ADDED_SCOPES:
                requested.append(scope)
        if requested:
            texts.append(" ".join(requested))
    return head, texts


#: The separators of the head of an app-token request whose parts hold none.
_APP_HEAD_SEPARATORS = 5


_BEARER = "Bearer"


class FiledToken:
    """What the index files a token under each of its request keys: its key and entry, and
    what a cache hit returns of the entry, read once when filed: ``expires_on`` as an int
    (None if it is not a number, or if the token has a ``refresh_on``: such a token is
    judged from its entry), the ``token_type`` a result names (``Bearer`` for none, this
    module's own string for ``Bearer``: a hit touches no string of the entry but its
    secret), and the objects the entry held when filed under ``expires_on``
    (``expires_raw``) and ``token_type`` (``token_type_raw``; None for absent fields).

    A hit reads this object and compares the entry's current values with the ones filed
    by identity (``is``, no string is read): a field assigned in place since is seen, and
    the hit then reads the entry as it is (``_flows._shaping.filed_hit_result``). Never
    changed once made (a renewed token is filed anew), so a read without the cache lock
    sees it whole. Six slots: what a hit reads of it fits in one or two cache lines.
    """

    __slots__ = ("entry", "expires_on", "expires_raw", "key", "token_type", "token_type_raw")

    key: str
    entry: Mapping[str, Any]
    expires_on: Optional[int]
    expires_raw: Any
    token_type: Any
    token_type_raw: Any

    def __init__(self, key: str, entry: Mapping[str, Any]) -> None:
        self.key = key
        self.entry = entry
        expires_raw: Any = entry.get("expires_on")
        self.expires_raw = expires_raw
        self.token_type_raw = entry.get("token_type")
        token_type = self.token_type_raw or _BEARER
        self.token_type = _BEARER if token_type == _BEARER else token_type
        try:
            expires_on: Optional[int] = int(expires_raw)
        except (TypeError, ValueError):
            expires_on = None
        self.expires_on = None if entry.get("refresh_on") is not None else expires_on


#: What a request key is filed with: its only token, or the key and entry of every token
#: filed under it (several: ambiguous).
_Filed = Union[FiledToken, dict[str, Mapping[str, Any]]]


class ExactRequestIndex:
    """Request key -> the only access token filed under it, a :class:`FiledToken` (a dict of
    the keys and entries of all of them when several are: ambiguous).

    The entry is kept beside its key so that a hit reads no more than this dict, the filed
    value and the entry: the store keeps the index in step with every write (an
    overwrite, a removal, an eviction) and rebuilds it when the section was edited or
    replaced outside the cache API, as for the key alone.

    Filed per partition (client id and realm) on demand: building the index only groups
    the section's keys by partition, and the first lookup of a partition files its tokens.
    A process that loads a big cache and serves one hit files one partition, not the
    whole section. ``filed`` counts the tokens filed so far.

    The tokens of a section loaded lazily (``_raw.py``) are not even decoded to be
    grouped: their keys name the client and realm (``...-accesstoken-<client>-<realm>-
    <target>``, lower-cased, as every MSAL library writes them), so the first lookup of a
    partition finds its keys by that text and decodes those tokens alone. The keys are
    trusted for this as msal trusts them for its exact-key lookup (a token under a key
    that does not name its client and realm, or holds a line break, is found by the full
    search, which this index only spares). After a few partitions found this way, the
    remaining tokens are decoded and grouped by their fields.
    """

    __slots__ = (
        "_filed_keys",
        "_key_text",
        "_keys",
        "_pending",
        "_popped",
        "_scanned",
        "_scanned_heads",
        "_section",
        "_shelves",
    )

    def __init__(self, section: Optional[Mapping[str, Any]] = None) -> None:
        self._keys: dict[RequestKey, _Filed] = {}
        #: The app shelves: ``app_request(prefix, "")`` -> scopes part -> the only token
        #: filed under that app-token request (see :meth:`shelf`).
        self._shelves: dict[str, dict[str, FiledToken]] = {}
        #: Partition -> keys of its tokens, for the partitions not filed yet.
        self._pending: dict[tuple[Any, Any], set[str]] = {}
        #: Partitions filed since the index was built (while its key text is searched: see
        #: _group_rest), and the keys filed.
        self._popped: set[tuple[Any, Any]] = set()
        #: Key -> the requests its token is filed under (what an unfiling or a renewal
        #: reads, rather than making them again).
        self._filed_keys: dict[str, list[RequestKey]] = {}
        self._section: Mapping[str, Any] = section if section is not None else {}
        #: The keys of a lazily loaded section, one per line, while not all grouped: the
        #: ones neither filed nor pending are not grouped yet.
        self._key_text = ""
        #: (client id, realm), lower-cased, of the partitions searched for in _key_text.
        self._scanned: set[tuple[str, str]] = set()
        #: The heads (environment, client id and realm parts) of the requests whose
        #: partition was searched for in _key_text: what :meth:`settled_hit` tells by.
        self._scanned_heads: tuple[str, ...] = ()
        if isinstance(self._section, RawBacked) and self._section:
            self._key_text = "\n".join(self._section)
            return
        for key, entry in self._section.items():
            if type(entry) is dict:
                self._group(key, entry)

    @property
    def filed(self) -> int:
        """How many tokens are filed."""
        return len(self._filed_keys)

    def _group(self, key: str, entry: Mapping[str, Any]) -> None:
        partition = _partition(entry)
        keys = self._pending.get(partition)
        if keys is None:
            self._pending[partition] = {key}
        else:
            keys.add(key)

    def _ungrouped(self, key: str) -> Optional[Mapping[str, Any]]:
        """The token under ``key`` (decoded) if it is neither filed nor pending."""
        if key in self._filed_keys:
            return None
        entry = self._section.get(key)
        if type(entry) is not dict:
            return None
        pending = self._pending.get(_partition(entry))
        return None if pending is not None and key in pending else entry

    def _search_key_text(self, client_id: str, realm: str) -> None:
        """Group the tokens whose keys name this client and realm (once per pair; after a
        few pairs, every token not grouped yet is grouped instead)."""
        pair = (client_id.lower(), realm.lower())
        if pair in self._scanned:
            return
        if len(self._scanned) >= _MAX_KEY_TEXT_SEARCHES:
            self._scanned.add(pair)
            self._group_rest()
            return
        text, found = self._key_text, []
        needle = f"-{pair[0]}-{pair[1]}-"
        at = text.find(needle)
        while at >= 0:
            end = text.find("\n", at)
            end = len(text) if end < 0 else end
            found.append(text[text.rfind("\n", 0, at) + 1 : end])
            at = text.find(needle, end)
        for key in found:
            entry = self._ungrouped(key)
            if entry is not None:
                self.add(key, entry)
        self._scanned.add(pair)  # (once its tokens are filed: see settled_hit)

    def _group_rest(self) -> None:
        text = self._key_text
        for key in text.split("\n"):
            entry = self._ungrouped(key)
            if entry is None:
                continue
            if _partition(entry) in self._popped:
                self.add(key, entry, None, True)
            else:
                self._group(key, entry)
        self._key_text = ""  # (once every token is grouped: see settled_hit)

    def add(
        self,
        key: str,
        entry: Mapping[str, Any],
        filing: Optional[AccessTokenFiling] = None,
        grouped: bool = False,
    ) -> None:
        """File the token ``entry`` stored under ``key`` under its request keys
        (``filing``: its filing, when the writer made it already; ``grouped``: its
        partition is being filed, no pending one holds it): its requests made from their
        parts, and an app token's app shelf known from them (no request parsed back). One
        frame for a write (no filing helper of its own)."""
        if not grouped and (self._pending or self._key_text):  # (else every partition is
            if filing is None:  # filed: no tuple)
                partition = _partition(entry)
            else:
                client_id = filing.client_id
                partition = (NO_CLIENT if client_id is None else client_id), filing.realm
            pending = self._pending.get(partition)
            if pending is not None:
                pending.add(key)  # Filed with its partition.
                return
            self._popped.add(partition)
        if filing is None:
            filing = filing_of(entry)
        parts = request_parts(filing)
        if parts is None:
            self._filed_keys[key] = []
            return
        head, texts = parts
        requests = []
        for text in texts:  # (a loop: a comprehension costs a frame)
            requests.append(head + text)
        self._filed_keys[key] = requests
        token = FiledToken(key, entry)
        keys = self._keys
        if filing.home_account_id or filing.user_assertion_hash:
            for request in requests:  # (a user's or an on-behalf-of token's: no app shelf)
                if keys.get(request) is None:
                    keys[request] = token  # (_set_filed's usual case, in line)
                else:
                    self._set_filed(key, entry, request, token, False, None)
            return
        plain = head.count(_SEPARATOR) == _APP_HEAD_SEPARATORS  # (as app_shelf_parts finds)
        for request, text in zip(requests, texts):
            known = plain and _SEPARATOR not in text
            if keys.get(request) is not None or not known:
                self._set_filed(key, entry, request, token, known, (head, text) if known else None)
                continue
            keys[request] = token  # (_set_filed's usual case: a request of this token alone,
            shelf = self._shelves.get(head)  # on its app shelf; in line)
            if shelf is None:
                shelf = self._shelves[head] = {}
            shelf[sys.intern(text)] = token

    def _set_filed(
        self,
        key: str,
        entry: Mapping[str, Any],
        request: RequestKey,
        token: FiledToken,
        shelved: bool,
        parts: Optional[tuple[str, str]],
    ) -> None:
        """File ``token`` (the token under ``key``) under ``request``, beside any other
        token filed there (ambiguous then); ``parts``: its app shelf's, see :meth:`_set`."""
        filed = self._keys.get(request)
        if filed is None or (isinstance(filed, FiledToken) and filed.key == key):
            self._set(request, token, shelved, parts)
        elif isinstance(filed, FiledToken):
            self._set(request, {filed.key: filed.entry, key: entry}, shelved, parts)
        else:
            filed[key] = entry

    def _set(
        self,
        request: RequestKey,
        filed: _Filed,
        shelved: bool = True,
        parts: Optional[tuple[str, str]] = None,
    ) -> None:
        """File ``filed`` under ``request``, and on its app shelf if it is the only token
        of an app-token request (``shelved`` False: the caller knows it is none, e.g. an
        on-behalf-of request, which names an assertion; ``parts``: the request's
        ``app_shelf_parts``, known to the caller)."""
        self._keys[request] = filed
        if not shelved:
            return
        if parts is None:
            parts = app_shelf_parts(request)
            if parts is None:
                return
        head, scopes = parts
        shelf = self._shelves.get(head)
        if type(filed) is FiledToken:
            if shelf is None:
                shelf = self._shelves[head] = {}
            shelf[sys.intern(scopes)] = filed
        elif shelf is not None:
            self._unshelve(shelf, head, scopes)

    def _drop(self, request: RequestKey, shelved: bool = True) -> None:
        del self._keys[request]
        if not shelved:
            return
        parts = app_shelf_parts(request)
        if parts is not None:
            shelf = self._shelves.get(parts[0])
            if shelf is not None:
                self._unshelve(shelf, *parts)

    def _unshelve(self, shelf: dict[str, FiledToken], head: str, scopes: str) -> None:
        shelf.pop(scopes, None)
        if not shelf:  # (detached: emptied for good, so whoever holds it finds nothing)
            del self._shelves[head]

    def shelf(self, head: str) -> Optional[dict[str, FiledToken]]:
        """The app shelf of ``head`` (an app's ``app_request(prefix, "")``): scopes part
        -> the only token filed under ``head + scopes``, kept in step with the index; None
        while it has none. A shelf once emptied is never filled again (a new one is made).
        """
        return self._shelves.get(head)

    def replace(
        self,
        key: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        filing: Optional[AccessTokenFiling] = None,
    ) -> None:
        """``remove(key, old)`` then ``add(key, new)``: only :meth:`renew` when every field
        the request keys are made of is the same (a token renewed under its key).
        ``filing``: the new entry's, given by a caller that found it files differently."""
        if filing is None:
            filing = filing_of(new, old)
            if filing is None:  # (files alike)
                self.renew(key, new)
                return
        self.remove(key, old)
        self.add(key, new, filing)

    def reassert(
        self, key: str, old: Mapping[str, Any], new: Mapping[str, Any], filing: AccessTokenFiling
    ) -> None:
        """``replace`` of a token whose fields its request keys are made of are the same but
        its assertion hash, a non-empty string in both (``filing``: the new entry's): its
        request keys are the ones filed, the assertion part swapped (none made anew)."""
        requests = self._filed_keys.get(key)
        client_id = filing.client_id
        sep = _SEPARATOR
        head = f"{filing.app[0]}{sep}{NO_CLIENT if client_id is None else client_id}{sep}"
        was = f"{head}{filing.realm}{sep}{sep}{old['user_assertion_hash']}{sep}"
        keys = self._keys
        if requests and requests[0].startswith(was):  # (all made from one filing: one head)
            for request in requests:  # (a loop: a generator costs a frame)
                filed = keys.get(request)
                if type(filed) is not FiledToken or filed.key != key:
                    requests = None  # (beside another token: ambiguous)
                    break
        else:
            requests = None  # (not filed yet, or filed otherwise)
        if not requests:
            self.replace(key, old, new, filing)
            return
        # remove() and add() of the usual case, in line: each request this token's alone,
        # none an app-token one (each names an assertion), the swapped ones filed alone
        now = f"{head}{filing.realm}{sep}{sep}{filing.user_assertion_hash}{sep}"
        cut = len(was)
        swapped = []
        token = FiledToken(key, new)
        for request in requests:  # (each old request unfiled, its new one filed)
            del keys[request]
            request = now + request[cut:]
            swapped.append(request)
            if keys.get(request) is None:
                keys[request] = token
            else:
                self._set_filed(key, new, request, token, False, None)
        self._filed_keys[key] = swapped

    def renew(self, key: str, new: Mapping[str, Any]) -> None:
        """The token under ``key`` was replaced by ``new``, which files as it did (the same
        request keys): its requests answer the new entry."""
        token: Optional[FiledToken] = None
        for request in self._filed_keys.get(key, ()):  # filed as before: the new entry
            filed = self._keys.get(request)
            if isinstance(filed, FiledToken):
                if filed.key == key:
                    token = token or FiledToken(key, new)
                    self._set(request, token)
            elif filed is not None and key in filed:
                filed[key] = new

    def remove(self, key: str, entry: Mapping[str, Any], shelved: bool = True) -> None:
        """Unfile the token under ``key`` (``shelved`` False: none of its request keys is
        an app-token request)."""
        requests = self._filed_keys.pop(key, None)
        if requests is None:
            pending = self._pending.get(_partition(entry))
            if pending is not None:
                pending.discard(key)
            return  # (or never grouped)
        for request in requests:
            filed = self._keys.get(request)
            if isinstance(filed, FiledToken):
                if filed.key == key:
                    self._drop(request, shelved)
            elif filed is not None:
                filed.pop(key, None)
                if len(filed) == 1:
                    self._set(request, FiledToken(*next(iter(filed.items()))), shelved)
                elif not filed:
                    self._drop(request, shelved)

    def filed_hit(self, request: RequestKey) -> Optional[FiledToken]:
        """The only token filed under ``request`` so far, else None: one dict read, no
        filing (safe without the cache lock: see
        ``IndexedSections.settled_access_token``)."""
        filed = self._keys.get(request)
        return filed if type(filed) is FiledToken else None

    def settled_hit(self, request: RequestKey) -> Union[FiledToken, Literal[False], None]:
        """:meth:`filed_hit`, and False when nothing is filed under ``request`` and nothing
        can be until the next write: its partition is filed already (:meth:`hit_for`
        would file nothing more); None for neither. Reads only, as :meth:`filed_hit`."""
        filed = self._keys.get(request)
        if type(filed) is FiledToken:
            return filed
        if filed is not None:
            return None
        if self._key_text:  # (a lazily loaded section: settled once searched for the partition)
            return False if request.startswith(self._scanned_heads) and not self._pending else None
        if not self._pending:
            return False
        _, client_id, realm, _ = request.split(_SEPARATOR, 3)
        return False if (client_id, realm) not in self._pending else None

    def hit_for(self, request: RequestKey) -> Optional[FiledToken]:
        """The only token filed under ``request``, else None (files the request's
        partition first if it is not filed yet)."""
        if self._key_text:
            environment, client_id, realm, _ = request.split(_SEPARATOR, 3)
            self._search_key_text(client_id, realm)
            head = _SEPARATOR.join((environment, client_id, realm, ""))
            heads = self._scanned_heads  # (settled from now on)
            if self._key_text and head not in heads and len(heads) < _MAX_SCANNED_HEADS:
                self._scanned_heads = (*heads, head)
        filed = self._keys.get(request)
        if filed is None and self._pending:
            _, client_id, realm, _ = request.split(_SEPARATOR, 3)
            pending = self._pending.pop((client_id, realm), None)
            if pending is not None:
                self._popped.add((client_id, realm))
                for key in pending:
                    entry = self._section.get(key)
                    if type(entry) is dict:
                        self.add(key, entry, None, True)
                filed = self._keys.get(request)
        return filed if type(filed) is FiledToken else None

    def key_for(self, request: RequestKey) -> Optional[str]:
        """The key of the only token filed under ``request`` (see :meth:`hit_for`)."""
        hit = self.hit_for(request)
        return None if hit is None else hit.key

    def __len__(self) -> int:
        return len(self._keys)


#: Partitions searched for in the key text before the remaining tokens are grouped.
_MAX_KEY_TEXT_SEARCHES = 4
#: Request heads :meth:`ExactRequestIndex.settled_hit` tells a searched partition by (the
#: others' requests are answered under the lock, by ``hit_for``).
_MAX_SCANNED_HEADS = 16


def build_exact_index(section: Mapping[str, Any]) -> ExactRequestIndex:
    """The index of an access-token section (its partitions filed on first lookup)."""
    return ExactRequestIndex(section)
