"""``RedisTokenCache``: a token cache shared by many processes and machines through Redis."""

from __future__ import annotations

import math
import sys
import time
from collections import OrderedDict
from typing import Any, Callable, Optional

from identitylib._cache._access import CacheAccess
from identitylib._cache._serialization import load_state
from identitylib._cache._store import IndexedSections
from identitylib._cache._token_cache import TokenCache
from identitylib._log import get_logger
from identitylib.exceptions import TokenCacheError

from ._partition import Changes, Partition, RecordingSections
from ._plan import Get, Merge, Plan, RedisCall, run_plan
from ._script import MERGE_SCRIPT

logger = get_logger(__name__)

#: Lifetime of a key that holds refresh tokens or accounts, renewed by every write.
DEFAULT_IDLE_TTL = 90 * 24 * 3600
DEFAULT_FIRST_LEVEL_TTL = 5.0
DEFAULT_FIRST_LEVEL_PARTITIONS = 10_000
DEFAULT_SOCKET_TIMEOUT = 1.0
DEFAULT_RETRY_INTERVAL = 1.0
EXTRA_HINT = "pip install 'identitylib[redis]'"

_Current = tuple[str, Partition, RecordingSections]  # Redis key, partition, its store in use
_Frame = tuple[IndexedSections, dict[str, Any], Optional[_Current]]


def _import_redis() -> Any:
    try:
        import redis  # An optional dependency: imported only when used.
    except ImportError as error:
        raise ImportError(
            f"RedisTokenCache needs the 'redis' package (the 'redis' extra): {EXTRA_HINT}"
        ) from error
    return redis


class RedisTokenCache(TokenCache):
    """A token cache kept in Redis, one key per partition, with an in-process first level.

    ``redis`` is a ready client (``redis.Redis``, ``redis.RedisCluster``, a Sentinel's
    ``master_for(...)``, or anything with their ``get`` and ``register_script``), else one
    is made from ``url`` (default ``redis://localhost:6379/0``) with ``socket_timeout``
    for connecting and for each command, and no retry beyond one immediate reconnection:
    a ``redis.Redis``, or with ``cluster=True`` a ``redis.RedisCluster`` that discovers
    the cluster from the node ``url`` names.

    Each access the library makes (see ``TokenCache.access``) works on one partition:
    app-only tokens of a client and tenant, one user's tokens, or the tokens obtained on
    behalf of one incoming assertion. Before the access the partition is loaded (from the
    first level when it is younger than ``first_level_ttl`` seconds, else from Redis);
    after an access that changed it, the changes are merged into the stored value by a
    Lua script (see ``_script.py``) so concurrent writers never lose each other's tokens.
    Accesses without a partition key use the shared key ``{prefix}shared``; partitions
    are stored under ``{prefix}partition:{partition_key}``. Every Redis call names one
    key (one partition is one key), so the cache works unchanged on Redis Cluster.

    When Redis cannot be reached (or answers with an error), the cache keeps working from
    process memory: the partition as last seen (the first level) or an empty one, so the
    library asks the identity provider. The failure is logged once per outage (at
    WARNING, without any token), no exception reaches the app, Redis is tried again after
    ``retry_interval`` seconds, and changes made meanwhile are written when it is back.

    The cache is thread-safe; accesses of one instance run one at a time (the access
    lock covers the Redis round trip). Operations outside an access (a direct
    ``search()`` or ``add()``) see only an empty scratch partition that is never saved.

    The hooks' work is written as sans-I/O plans (see ``_plan.py``) that yield their
    Redis calls; this class performs them with a blocking client, and
    ``identitylib.aio.RedisTokenCache`` awaits them with a ``redis.asyncio`` one.
    """

    def __init__(
        self,
        redis: Optional[Any] = None,
        *,
        url: Optional[str] = None,
        cluster: bool = False,
        prefix: str = "identitylib:",
        first_level: bool = True,
        first_level_ttl: float = DEFAULT_FIRST_LEVEL_TTL,
        first_level_max_partitions: int = DEFAULT_FIRST_LEVEL_PARTITIONS,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        idle_ttl: int = DEFAULT_IDLE_TTL,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
    ) -> None:
        module = _import_redis()
        if redis is not None and url is not None:
            raise ValueError("Pass either a redis client or a url, not both")
        if cluster and redis is not None:
            raise ValueError("cluster=True applies to a url; pass a cluster client as it is")
        if not isinstance(prefix, str):
            raise TypeError("prefix must be a string")
        _check_number("first_level_ttl", first_level_ttl, minimum=0)
        _check_number("socket_timeout", socket_timeout, minimum=0, exclusive=True)
        _check_number("retry_interval", retry_interval, minimum=0)
        _check_number("idle_ttl", idle_ttl, minimum=1, integer=True)
        _check_number(
            "first_level_max_partitions", first_level_max_partitions, minimum=1, integer=True
        )
        if redis is not None:
            self._check_client(module, redis)
        super().__init__()
        self._owns_client = redis is None
        if redis is None:
            url = url or "redis://localhost:6379/0"
            redis = self._new_client(module, url, socket_timeout, bool(cluster))
        #: The Redis client in use.
        self.redis: Any = redis
        self.prefix = prefix
        self.first_level = bool(first_level)
        self.first_level_ttl = float(first_level_ttl) if first_level else 0.0
        self.first_level_max_partitions = int(first_level_max_partitions)
        self.idle_ttl = int(idle_ttl)
        self.retry_interval = float(retry_interval)
        self._errors = self._error_types(module)
        self._merge = redis.register_script(MERGE_SCRIPT)
        self._partitions: OrderedDict[str, Partition] = OrderedDict()
        self._stack: list[_Frame] = []
        self._current: Optional[_Current] = None
        self._scratch()
        self._outage = False
        self._retry_at = -math.inf
        #: Clocks (replaceable in tests): monotonic for the first level, epoch for expiry.
        self._monotonic: Callable[[], float] = time.monotonic
        self._wallclock: Callable[[], float] = time.time

    # ------------------------------------------------------------------ client

    def _check_client(self, module: Any, client: Any) -> None:
        """Refuse a client this class cannot use (here: an asyncio one)."""
        asyncio_module = sys.modules.get("redis.asyncio")  # imported if such a client exists
        kinds = tuple(
            kind
            for kind in (
                getattr(asyncio_module, "Redis", None),
                getattr(asyncio_module, "RedisCluster", None),
            )
            if isinstance(kind, type)
        )
        if kinds and isinstance(client, kinds):
            raise TypeError(
                "This is a redis.asyncio client: use identitylib.aio.RedisTokenCache with it"
            )

    def _new_client(self, module: Any, url: str, socket_timeout: float, cluster: bool) -> Any:
        """A client for ``url`` with ``socket_timeout`` and no retry but one reconnection."""
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        kind = module.RedisCluster if cluster else module.Redis
        return kind.from_url(url, **client_options(socket_timeout, Retry(NoBackoff(), 1)))

    def _error_types(self, module: Any) -> tuple[type[BaseException], ...]:
        """The errors of a Redis call that mean an outage (served from memory).

        A cluster client's "no node serves this slot" and "no node reachable" errors
        derive from ``RedisClusterException``, which is not a ``RedisError``.
        """
        errors: tuple[type[BaseException], ...] = (module.exceptions.RedisError, OSError)
        cluster_error = getattr(module.exceptions, "RedisClusterException", None)
        if isinstance(cluster_error, type) and issubclass(cluster_error, BaseException):
            errors += (cluster_error,)
        return errors

    def _perform(self, call: RedisCall) -> Any:
        """Send one Redis call (an asyncio client returns an awaitable of the result)."""
        if isinstance(call, Get):
            return self.redis.get(call.key)
        return self._merge(keys=[call.key], args=[call.changes, call.now, call.idle_ttl])

    # ------------------------------------------------------------------ keys

    def redis_key(self, partition_key: Optional[str]) -> str:
        """The Redis key of a partition (the shared key for None)."""
        if partition_key is None:
            return f"{self.prefix}shared"
        return f"{self.prefix}partition:{partition_key}"

    # ----------------------------------------------------------- access hooks

    def on_before_access(self, access: CacheAccess) -> None:
        """Make the access's partition the cache content (loading it if needed)."""
        run_plan(self._before(access), self._perform)

    def on_after_access(self, access: CacheAccess) -> None:
        """Write the partition's changes to Redis, then restore the previous content."""
        run_plan(self._after(access), self._perform)

    def _before(self, access: CacheAccess) -> Plan[None]:
        """The before hook's work: load the partition, push the previous content."""
        key = self.redis_key(access.partition_key)
        try:
            partition = yield from self._load(key)
        except Exception:  # Never let the cache break token acquisition.
            logger.warning(
                "Could not load a token cache partition; using an empty one", exc_info=True
            )
            partition = Partition(RecordingSections({}))
        self._stack.append((self._store, self._cache, self._current))
        self._store = partition.store
        self._cache = partition.sections
        self._current = (key, partition, partition.store)

    def _after(self, access: CacheAccess) -> Plan[None]:
        """The after hook's work: save the changes, pop the previous content."""
        try:
            if self._current is not None:
                key, partition, store = self._current
                store.sync(self._cache)  # Records a replace if _cache was swapped or edited.
                if store.changes:
                    partition.pending.absorb(store.take_changes())
                if partition.pending:
                    self._remember(key, partition)  # Kept if the write is interrupted.
                    yield from self._save(key, partition)
                self._remember(key, partition)
        except Exception:
            logger.warning("Could not save a token cache partition", exc_info=True)
        finally:
            if self._stack:
                self._store, self._cache, self._current = self._stack.pop()
            else:  # Unbalanced hooks (an app calling them by hand): back to scratch.
                self._scratch()

    def _scratch(self) -> None:
        """Content outside any access: an empty partition that is never saved."""
        self._store = RecordingSections({})
        self._cache = self._store.sections
        self._current = None

    # -------------------------------------------------------------- loading

    def _load(self, key: str) -> Plan[Partition]:
        now = self._monotonic()
        partition = self._partitions.get(key)
        fresh = partition is not None and now - partition.synced_at < self.first_level_ttl
        if partition is not None and fresh and not partition.pending:
            return partition  # First level hit: no round trip.
        if self._cooling_down(now):
            return partition if partition is not None else Partition(RecordingSections({}))
        try:
            if partition is not None and partition.pending:
                raw = yield self._write(key, partition.pending)
                partition.pending = Changes()
            else:
                raw = yield Get(key)
        except self._errors as error:
            self._failed(error)
            return partition if partition is not None else Partition(RecordingSections({}))
        self._recovered()
        if partition is None:
            partition = Partition(RecordingSections({}))
        if partition.raw is None or raw != partition.raw:
            self._refill(partition, raw)
        partition.synced_at = now
        return partition

    def _refill(self, partition: Partition, raw: Any) -> None:
        """Replace the partition's content with ``raw`` (a stored value, or None)."""
        try:
            sections = load_state(raw)
        except TokenCacheError as error:
            logger.warning("Ignoring a token cache partition that is not valid: %s", error)
            sections = {}
        partition.store = RecordingSections(sections)
        partition.raw = raw

    # --------------------------------------------------------------- saving

    def _save(self, key: str, partition: Partition) -> Plan[None]:
        now = self._monotonic()
        if self._cooling_down(now):
            return  # Kept pending: written when Redis is back.
        try:
            raw = yield self._write(key, partition.pending)
        except self._errors as error:
            self._failed(error)
            return
        self._recovered()
        partition.pending = Changes()
        self._refill(partition, raw)
        partition.synced_at = now

    def _write(self, key: str, changes: Changes) -> Merge:
        """The call merging ``changes`` into the stored partition (answers the new value)."""
        return Merge(key, changes.payload(), int(self._wallclock()), self.idle_ttl)

    def _remember(self, key: str, partition: Partition) -> None:
        """Keep the partition in the first level (or only while it has pending changes)."""
        if not (self.first_level or partition.pending):
            self._partitions.pop(key, None)
            return
        self._partitions[key] = partition
        self._partitions.move_to_end(key)
        while len(self._partitions) > self.first_level_max_partitions:
            # The least recently used partition without unsaved changes (else the least
            # recently used one: during a long outage its changes are dropped, not kept).
            saved = (k for k, p in self._partitions.items() if not p.pending)
            del self._partitions[next(saved, next(iter(self._partitions)))]

    # --------------------------------------------------------------- outage

    def _cooling_down(self, now: float) -> bool:
        return self._outage and now < self._retry_at

    def _failed(self, error: BaseException) -> None:
        self._retry_at = self._monotonic() + self.retry_interval
        if self._outage:
            logger.debug("Redis still unreachable: %s", type(error).__name__)
            return
        self._outage = True
        logger.warning(
            "Redis is unreachable (%s: %s); serving tokens from process memory and the "
            "identity provider until it is back",
            type(error).__name__,
            error,
        )

    def _recovered(self) -> None:
        if self._outage:
            self._outage = False
            logger.info("Redis is reachable again; the token cache uses it again")

    # --------------------------------------------------------------- extras

    @property
    def unavailable(self) -> bool:
        """True while the last Redis call failed (the cache serves from memory)."""
        return self._outage

    def clear_first_level(self) -> None:
        """Forget the in-process copies (partitions with unsaved changes stay)."""
        with self._lock:
            for key in [k for k, p in self._partitions.items() if not p.pending]:
                del self._partitions[key]

    def close(self) -> None:
        """Close the Redis client if this cache created it."""
        if self._owns_client:
            close = getattr(self.redis, "close", None)
            if close is not None:
                close()


def client_options(socket_timeout: float, retry: Any) -> dict[str, Any]:
    """The options of a client the cache makes (blocking or asyncio, cluster or not)."""
    return {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        "retry": retry,
    }


def _check_number(
    name: str,
    value: Any,
    *,
    minimum: float,
    exclusive: bool = False,
    integer: bool = False,
) -> None:
    wrong = not isinstance(value, int) if integer else not isinstance(value, (int, float))
    if isinstance(value, bool) or wrong:
        wanted = "an int" if integer else "a number"
        raise TypeError(f"{name} must be {wanted}, not {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or number < minimum or (exclusive and number == minimum):
        relation = "greater than" if exclusive else "at least"
        raise ValueError(f"{name} must be {relation} {minimum}, got {value}")
