"""The trust key: which apps may share what one of them discovered.

Discovery documents (and a validator's signing keys) are remembered process-wide so that a
second app object makes no request. What one app learned is served to another only when
both send their requests the same way: through the same ``http_client`` object (compared by
identity, never equality) or both through identitylib's own transport, with the same
``verify`` and the same ``proxies``. An app built with ``verify=False``, a debugging proxy
or a fake ``http_client`` therefore never answers for an app built the default way, while
apps built the default way still share one discovery per process.

A :class:`TrustKey` is computed once, from what an app or validator was constructed with.
It holds no strong reference to the ``http_client`` (nor to a ``verify`` object such as an
``ssl.SSLContext``): each such object is represented by an :class:`ObjectIdentity` that
notices when the object is gone, so state kept for a dead client can be dropped and a new
object that happens to get the same ``id()`` never inherits it. Proxy URLs (which may carry
credentials) are kept only as a digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import weakref
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Optional, TypeVar, Union

V = TypeVar("V")


class ObjectIdentity:
    """Stands for one object in a key (equal only to itself) without keeping it alive."""

    __slots__ = ("_ref",)

    def __init__(self, ref: Optional[weakref.ref[Any]]) -> None:
        self._ref = ref

    @property
    def alive(self) -> bool:
        """False once the object is gone (unknown, so True, for objects without weakrefs)."""
        return self._ref is None or self._ref() is not None

    def refers_to(self, obj: object) -> bool:
        """Whether this identity stands for ``obj``."""
        return self._ref is not None and self._ref() is obj

    def __repr__(self) -> str:
        return f"<ObjectIdentity {'alive' if self.alive else 'gone'}>"


_identities: dict[int, ObjectIdentity] = {}
# Re-entrant: a finalizer may run (garbage collection) while this thread holds the lock.
_identities_lock = threading.RLock()


def _forget_identity(key: int, identity: ObjectIdentity) -> None:
    with _identities_lock:
        if _identities.get(key) is identity:
            del _identities[key]


def identity_of(obj: object) -> ObjectIdentity:
    """The identity of ``obj``: the same while ``obj`` lives, a new one for a new object.

    An object that cannot be weakly referenced gets a fresh identity on every call, so
    state is not shared through it at all (rather than shared by a reused ``id()``).
    """
    key = id(obj)
    with _identities_lock:
        found = _identities.get(key)
        if found is not None and found.refers_to(obj):
            return found
        try:
            ref = weakref.ref(obj)
        except TypeError:
            return ObjectIdentity(None)
        identity = _identities[key] = ObjectIdentity(ref)
    # Runs when obj is collected, before its id() can be reused (not needed at exit).
    weakref.finalize(obj, _forget_identity, key, identity).atexit = False
    return identity


def _verify_part(verify: Any) -> Union[bool, str, ObjectIdentity, None]:
    if verify is None or isinstance(verify, bool):
        return verify
    if isinstance(verify, (str, bytes, os.PathLike)):
        return os.fsdecode(verify)  # a CA bundle path
    return identity_of(verify)  # an ssl.SSLContext, or anything else: by identity


def _proxies_part(proxies: Any) -> Union[str, ObjectIdentity]:
    if not proxies:
        return ""
    if not isinstance(proxies, Mapping):
        return identity_of(proxies)
    pairs = sorted((str(scheme), str(url)) for scheme, url in proxies.items())
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()


@dataclass(frozen=True)
class TrustKey:
    """How an app's requests travel; apps with equal keys share discovered state.

    ``client`` is None for identitylib's own transport, else the identity of the
    ``http_client`` given; ``verify`` is a bool (or None), a CA bundle path or the identity
    of a ``verify`` object; ``proxies`` a digest of the proxy map ("" for none).
    """

    client: Optional[ObjectIdentity]
    verify: Union[bool, str, ObjectIdentity, None]
    proxies: Union[str, ObjectIdentity]

    @classmethod
    def of(cls, http_client: Any = None, verify: Any = True, proxies: Any = None) -> TrustKey:
        """The key of an app or validator constructed with these arguments."""
        return cls(
            client=None if http_client is None else identity_of(http_client),
            verify=_verify_part(verify),
            proxies=_proxies_part(proxies),
        )

    @property
    def alive(self) -> bool:
        """False once an object this key stands for is gone: its state is unreachable."""
        return all(
            part.alive
            for part in (self.client, self.verify, self.proxies)
            if isinstance(part, ObjectIdentity)
        )

    @cached_property
    def persistent_tag(self) -> Optional[str]:
        """A name for this key that means the same in another process, for ``http_cache``.

        None when the key names an object (an ``http_client``, an ``SSLContext``): such a
        transport cannot be recognised after a restart, so what it learned is not persisted.
        """
        if self.client is not None or not isinstance(self.proxies, str):
            return None
        if isinstance(self.verify, ObjectIdentity):
            return None
        described = json.dumps({"verify": self.verify, "proxies": self.proxies})
        return hashlib.sha256(described.encode()).hexdigest()[:32]


#: The key of an app built the default way (own transport, verify=True, no proxies).
DEFAULT_TRUST = TrustKey.of()


def make_room(entries: MutableMapping[tuple[TrustKey, str], V], limit: int) -> None:
    """Before adding a key to ``entries``: keep it below ``limit`` entries.

    Entries of trust keys whose objects are gone go first, then the oldest. The caller
    holds the lock that guards ``entries``.
    """
    if len(entries) < limit:
        return
    for key in [key for key in entries if not key[0].alive]:
        del entries[key]
    while len(entries) >= limit:
        del entries[next(iter(entries))]
