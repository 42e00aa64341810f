"""``RedisStorage``: the storage contract over one Redis server or a Redis Cluster."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from puregram.storage import (
    CorruptValueError,
    ForeignValueError,
    LocalLeases,
    check_count,
    check_key,
    check_ms,
    check_seconds,
    check_text,
    decode_value,
    describe_key,
    encode_value,
)

from ._counter import CORRUPT_MARKER, COUNT_HIT_LUA, COUNT_HIT_SHA, NOT_COUNTER_MARKER
from ._lease import LEASE_NAMESPACE, RedisLockContext, Script, lease_name
from ._scan import Once, escape_glob, fetch_values, scan_batches

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

__all__ = ["RedisStorage"]

V = TypeVar("V")

DEFAULT_MAX_CONNECTIONS = 50
"""``from_url``'s ``max_connections``: redis-py's own ``BlockingConnectionPool`` default."""

DEFAULT_POOL_TIMEOUT = 20.0
"""``from_url``'s ``timeout``: seconds a command waits for a free connection."""


class RedisStorage(Generic[V]):
    """A ``TtlStorage``, ``IterableStorage``, ``CounterStorage`` and ``LockStorage``
    keeping JSON text at ``prefix + key``.

    ``client`` is a ``redis.asyncio.Redis`` or ``redis.asyncio.RedisCluster`` (or any
    client with the same async methods), made with ``decode_responses`` true or false;
    the store never closes it (``RedisStorage.from_url`` makes a store that owns and
    closes its client, with a pool that waits under load). ``ttl_ms`` makes every ``set``
    expire that many milliseconds later and lets ``touch`` roll it forward; without it
    keys never expire.

    Every method sends the commands its docstring names and nothing else. Backend
    failures surface as redis-py's own exceptions (``redis.exceptions.ConnectionError``,
    ...). Options go through ``puregram.storage.check_ms``/``check_text``: ``TypeError``
    for a ``prefix`` that is not a ``str``, a ``ttl_ms`` that is not whole milliseconds
    (``bool`` and ``1.5`` included), or a client without async commands; ``ValueError``
    for a ``ttl_ms`` outside 1..``MAX_MS`` or a ``prefix`` with a lone surrogate.
    """

    __slots__ = (
        "_check",
        "_client",
        "_cluster",
        "_gate",
        "_lease_locks",
        "_owns_client",
        "_pattern",
        "_prefix",
        "_reserved",
        "_run",
        "_ttl_ms",
    )

    def __init__(
        self,
        *,
        client: Redis | RedisCluster,
        prefix: str = "puregram:",
        ttl_ms: int | None = None,
    ) -> None:
        # Exact str from here on: a subclass's __add__/__radd__ never builds a name.
        prefix = check_text("prefix", prefix, owner="RedisStorage")
        if prefix.startswith(LEASE_NAMESPACE):
            raise ValueError(
                f"RedisStorage option 'prefix' must not start with {LEASE_NAMESPACE!r}, "
                f"where the stores keep their leases; got {prefix!r:.80}"
            )
        if ttl_ms is not None:
            ttl_ms = check_ms("ttl_ms", ttl_ms, owner="RedisStorage")
        run = getattr(client, "execute_command", None)
        if not inspect.iscoroutinefunction(run):
            raise TypeError(
                "client must be an asyncio Redis client (redis.asyncio.Redis or "
                f"redis.asyncio.RedisCluster), got {type(client).__name__}"
            )
        self._client: Any = client
        # The bound method, looked up once: the hot path is one call per command.
        self._run = cast(Callable[..., Awaitable[Any]], run)
        self._cluster = callable(getattr(client, "get_primaries", None))
        if self._cluster and callable(getattr(client, "initialize", None)):
            self._run = _initialized_first(client, self._run)
        self._prefix = prefix
        self._ttl_ms = ttl_ms
        self._pattern = escape_glob(prefix) + "*"
        # A prefix that is the start of the lease namespace ("", "puregram-") would see
        # lease names among its keys: such a store refuses keys that reach into the
        # namespace and skips them when iterating. Other stores check nothing more.
        self._reserved: str | None = None
        self._check: Callable[[object], str] = check_key
        if LEASE_NAMESPACE.startswith(prefix):
            self._reserved = LEASE_NAMESPACE[len(prefix) :]
            self._check = _reserving(prefix, self._reserved)
        self._lease_locks = LocalLeases()
        self._owns_client = False
        self._gate: _Gate | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "puregram:",
        ttl_ms: int | None = None,
        cluster: bool = False,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        timeout: float | None = DEFAULT_POOL_TIMEOUT,
        **client_options: Any,
    ) -> RedisStorage[V]:
        """A store over a client it makes for ``url``, and closes on ``aclose()`` or at the
        end of ``async with``.

        One server (``cluster=False``): a ``redis.asyncio.Redis`` over a
        ``redis.asyncio.BlockingConnectionPool`` of at most ``max_connections``
        connections; a command that finds them all busy waits up to ``timeout`` seconds
        (``None``: forever) for one, then raises ``redis.exceptions.ConnectionError``,
        instead of failing at once with ``MaxConnectionsError`` as redis-py's default
        pool does past its limit. ``cluster=True``: a ``redis.asyncio.RedisCluster``
        (``RedisCluster.from_url``) with at most ``max_connections`` connections per
        node; redis-py's cluster client has no waiting pool, so the store lets at most
        ``max_connections`` of its commands run at once and the others wait, up to
        ``timeout`` seconds, likewise. ``prefix`` and ``ttl_ms`` are the constructor's;
        ``client_options`` go to redis-py's ``from_url`` (``decode_responses``,
        ``password``, ``socket_timeout``, ...; options in the URL's query win, as in
        redis-py). Bad options raise ``TypeError``/``ValueError`` naming them, before a
        client is made.
        """
        url = check_text("url", url, owner="RedisStorage.from_url")
        if not isinstance(cluster, bool):
            raise TypeError(
                f"RedisStorage.from_url option 'cluster' must be a bool, got "
                f"{type(cluster).__name__} {cluster!r:.60}"
            )
        max_connections = check_count(
            "max_connections", max_connections, owner="RedisStorage.from_url"
        )
        if timeout is not None:
            timeout = check_seconds("timeout", timeout, owner="RedisStorage.from_url") / 1000
        # The constructor's checks, before a client exists.
        prefix = check_text("prefix", prefix, owner="RedisStorage")
        if ttl_ms is not None:
            ttl_ms = check_ms("ttl_ms", ttl_ms, owner="RedisStorage")
        client: Any
        if cluster:
            from redis.asyncio import RedisCluster

            client = RedisCluster.from_url(url, max_connections=max_connections, **client_options)
        else:
            from redis.asyncio import BlockingConnectionPool, Redis

            pool = BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=timeout, **client_options
            )
            client = Redis.from_pool(pool)  # the client closes the pool with itself
        # Nothing is connected before the first command: a refused prefix leaves nothing open.
        store: RedisStorage[V] = cls(client=client, prefix=prefix, ttl_ms=ttl_ms)
        store._owns_client = True
        if cluster:
            store._gate = _Gate(max_connections, timeout)
            store._run = store._gate.wrap(store._run)
        return store

    @property
    def client(self) -> Redis | RedisCluster:
        """The redis-py client the store sends its commands through."""
        return cast("Redis | RedisCluster", self._client)

    async def aclose(self) -> None:
        """Close the client if the store made it (``from_url``); a client passed to the
        constructor is left open: its owner closes it. Safe to call twice."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> RedisStorage[V]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def key_prefix(self) -> str:
        """The text put before every key in Redis."""
        return self._prefix

    @property
    def ttl_ms(self) -> int | None:
        """Milliseconds a ``set`` or ``touch`` gives a key to live, or ``None``."""
        return self._ttl_ms

    def __repr__(self) -> str:
        return f"RedisStorage(prefix={self._prefix!r}, ttl_ms={self._ttl_ms!r})"

    async def get(self, key: str) -> V | None:
        """The value at ``key``, or ``None``. One ``GET``.

        Raises ``CorruptValueError`` naming the key when the stored text is not JSON (or,
        with ``decode_responses=True``, not UTF-8).
        """
        key = self._check(key)
        return await self._read(key, "GET", self._prefix + key)

    async def set(self, key: str, value: V) -> None:
        """Store ``value`` as JSON. One ``SET``, with ``PX ttl_ms`` when the store has a ttl.

        A value JSON cannot hold raises ``TypeError``/``ValueError`` naming the key
        before anything is sent.
        """
        key = self._check(key)
        text = encode_value(key, value)
        name = self._prefix + key
        if self._ttl_ms is None:
            await self._run("SET", name, text)
        else:
            await self._run("SET", name, text, "PX", self._ttl_ms)

    async def delete(self, key: str) -> None:
        """Remove ``key`` (a missing key is fine). One ``DEL``."""
        await self._run("DEL", self._prefix + self._check(key))

    async def has(self, key: str) -> bool:
        """Whether ``key`` holds a value (``None`` included). One ``EXISTS``."""
        return bool(await self._run("EXISTS", self._prefix + self._check(key)))

    async def touch(self, key: str) -> None:
        """Restart ``key``'s ttl. One ``PEXPIRE`` with a ttl; without one, sends nothing.

        A missing key stays missing.
        """
        name = self._prefix + self._check(key)
        if self._ttl_ms is not None:
            await self._run("PEXPIRE", name, self._ttl_ms)

    async def get_and_touch(self, key: str) -> V | None:
        """``get`` and ``touch`` in one command: ``GETEX key PX ttl_ms``, or a plain ``GET``
        without a ttl. A missing key stays missing. Raises like ``get``."""
        key = self._check(key)
        name = self._prefix + key
        if self._ttl_ms is None:
            return await self._read(key, "GET", name)
        return await self._read(key, "GETEX", name, "PX", self._ttl_ms)

    async def _read(self, key: str, *command: Any) -> V | None:
        """Send one reading ``command`` and decode its reply for ``key``."""
        try:
            raw = await self._run(*command)
        except UnicodeDecodeError as exc:  # decode_responses=True and bytes that are not UTF-8
            raise CorruptValueError(key, str(exc)) from exc
        if raw is None:
            return None
        return cast(V, decode_value(key, raw))

    async def count_hit(self, key: str, window_ms: int) -> tuple[int, int]:
        """Add a hit to the fixed window at ``key``; return ``(hits, reset_at_ms)``.

        One ``EVALSHA`` of a Lua script (plus one ``EVAL`` the first time a server sees
        it) that stores ``{"hits": n, "resetAt": unix_ms}`` with ``PX`` until the
        window ends. Time is the Redis server's clock. A value at ``key`` that is not
        such a counter (another plugin's record, or ``hits``/``resetAt`` outside
        0..2**53-1) raises ``ForeignValueError`` (a ``ValueError``) naming the key, one
        that is not JSON ``CorruptValueError``; either is left as it was. ``window_ms``
        goes through ``check_ms`` (whole ms, 1..``MAX_MS``), checked before anything is
        sent.
        """
        key = self._check(key)
        name = self._prefix + key
        window_ms = check_ms("window_ms", window_ms, owner="RedisStorage.count_hit")
        try:
            try:
                hits, reset_at = await self._run("EVALSHA", COUNT_HIT_SHA, 1, name, window_ms)
            except NoScriptError:
                # First use on this server (or it restarted): EVAL runs the script and
                # caches it there, on the node that owns the key.
                hits, reset_at = await self._run("EVAL", COUNT_HIT_LUA, 1, name, window_ms)
        except ResponseError as exc:
            message = str(exc)
            if CORRUPT_MARKER in message:
                reason = message.split(CORRUPT_MARKER, 1)[1].strip()
                raise CorruptValueError(key, reason) from None
            if NOT_COUNTER_MARKER in message:
                why = message.split(NOT_COUNTER_MARKER, 1)[1].strip()
                raise ForeignValueError(
                    key,
                    'is not a rate-limit counter {"hits": int, "resetAt": unix_ms} '
                    f"(it {why}), so count_hit refused it",
                ) from None
            raise
        return int(hits), int(reset_at)

    def lock(self, key: str, *, lease_ms: int = 30_000) -> RedisLockContext[V]:
        """``async with storage.lock(key) as lease:``: exclusion on ``key`` across every
        process and store on this server or cluster, for at most ``lease_ms``.

        Entering waits until ``key`` is free, then takes the lease and reads the value in
        one ``EVALSHA`` (``SET lease NX PX lease_ms`` and ``GET``); ``lease.save``,
        ``remove`` and ``release`` are one ``EVALSHA`` each, refused with
        ``LeaseLostError`` (nothing written) once the lease was lost. Leaving the block
        releases without writing. Waiting tasks of this store queue in the process; the
        first polls the server with backoff (1 to 50 ms). The lease lives at a name of its
        own in the key's hash slot (see the README). ``lease_ms`` goes through
        ``check_ms``; on a cluster, a key whose name has no ``{tag}`` and holds a ``}``
        is a ``ValueError``. Both are raised here, before anything is sent.
        """
        key = self._check(key)
        lease_ms = check_ms("lease_ms", lease_ms, owner="RedisStorage.lock")
        name = self._prefix + key
        return RedisLockContext(
            self, key, name, lease_name(name, cluster=self._cluster, key=key), lease_ms
        )

    async def _eval(self, script: Script, *args: Any) -> Any:
        """``EVALSHA`` of ``script``; ``EVAL`` when the server (or node) lacks it."""
        try:
            return await self._run("EVALSHA", script.sha, *args)
        except NoScriptError:
            return await self._run("EVAL", script.lua, *args)

    @staticmethod
    def _encode(key: str, value: object) -> str:
        return encode_value(key, value)

    def _name(self, raw: str | bytes) -> str:
        text = raw.decode() if isinstance(raw, bytes) else raw
        return text[len(self._prefix) :]

    def _match(self, prefix: object, method: str) -> str:
        """The ``SCAN MATCH`` pattern of the keys starting with ``prefix``."""
        if prefix.__class__ is str and prefix == "":
            return self._pattern
        prefix = check_text("prefix", prefix, owner=f"RedisStorage.{method}")
        return escape_glob(self._prefix + prefix) + "*"

    def keys(self, *, prefix: str = "") -> AsyncGenerator[str, None]:
        """Yield every key under the store's prefix (which is removed), in no particular
        order; with ``prefix``, only the keys that start with it.

        ``SCAN MATCH`` in batches (on a cluster, on every primary), the pattern being the
        store's prefix plus ``prefix`` with their glob characters escaped: ``prefix`` is
        literal text. A key that exists for the whole iteration is yielded; none of the
        first 10,000 keys is yielded twice (see the README for SCAN's caveats beyond
        that). A ``prefix`` that is not a ``str`` is a ``TypeError``, raised here.
        """
        return self._keys(self._match(prefix, "keys"))

    async def _keys(self, pattern: str) -> AsyncGenerator[str, None]:
        once = Once()
        reserved = self._reserved
        async for batch in scan_batches(self._client, self._run, pattern):
            once.new_batch()
            for raw in batch:
                name = self._name(raw)
                if reserved is not None and name.startswith(reserved):
                    continue  # a lease, not a key of this store
                if once.first(raw):
                    yield name

    def values(self, *, prefix: str = "") -> AsyncGenerator[V, None]:
        """Yield the value of every key under the prefix (starting with ``prefix``, when
        given), like ``entries``."""
        return self._values(self._match(prefix, "values"))

    async def _values(self, pattern: str) -> AsyncGenerator[V, None]:
        async for _, value in self._entries(pattern):
            yield value

    def entries(self, *, prefix: str = "") -> AsyncGenerator[tuple[str, V], None]:
        """Yield ``(key, value)`` for every key under the prefix; with ``prefix``, for the
        keys that start with it (as in ``keys``).

        Per batch: one ``SCAN`` and one ``MGET`` (on a cluster, ``MGET``s grouped by hash
        slot and pipelined). A key deleted between the two is skipped; a value that is
        not JSON raises ``CorruptValueError`` naming its key.
        """
        return self._entries(self._match(prefix, "entries"))

    async def _entries(self, pattern: str) -> AsyncGenerator[tuple[str, V], None]:
        once = Once()
        reserved = self._reserved
        async for batch in scan_batches(self._client, self._run, pattern):
            once.new_batch()
            # The batch's own objects, not decoded copies: a name is decoded again when it
            # is yielded, so long names are not held twice.
            raws: list[Any] = []
            for raw in batch:
                if reserved is not None and self._name(raw).startswith(reserved):
                    continue
                if once.first(raw):
                    raws.append(raw)
            if not raws:
                continue
            try:
                found = await fetch_values(self._client, self._run, raws, self._gate)
            except UnicodeDecodeError:
                # decode_responses=True met bytes that are not UTF-8 somewhere in the batch:
                # read the batch key by key so that the error names the culprit.
                for raw in raws:
                    await self.get(self._name(raw))
                raise
            for raw, text in zip(raws, found, strict=True):
                if text is not None:
                    name = self._name(raw)
                    yield name, cast(V, decode_value(name, text))


class _Gate:
    """At most ``limit`` commands of one store at a time; the others wait their turn, up
    to ``timeout`` seconds, then raise ``redis.exceptions.ConnectionError``.

    What ``BlockingConnectionPool`` does for one server, for a ``RedisCluster`` made by
    ``from_url``: each command holds at most one connection to each node, so a store
    within ``limit`` never meets the cluster client's ``MaxConnectionsError``.
    """

    __slots__ = ("_limit", "_slots", "_timeout")

    def __init__(self, limit: int, timeout: float | None) -> None:
        self._limit = limit
        self._timeout = timeout
        self._slots = asyncio.Semaphore(limit)

    async def __aenter__(self) -> None:
        if self._timeout is None or not self._slots.locked():
            await self._slots.acquire()
            return
        try:
            await asyncio.wait_for(self._slots.acquire(), self._timeout)
        except asyncio.TimeoutError:
            raise RedisConnectionError(
                f"No connection available: all {self._limit} of the store's connections "
                f"(max_connections) were busy for {self._timeout} s (timeout)"
            ) from None

    async def __aexit__(self, *exc_info: object) -> None:
        self._slots.release()

    def wrap(self, run: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def gated_run(*args: Any, **options: Any) -> Any:
            async with self:
                return await run(*args, **options)

        return gated_run


def _reserving(prefix: str, reserved: str) -> Callable[[object], str]:
    """``check_key`` that also refuses keys whose name would be in the lease namespace."""

    def check(key: object) -> str:
        text = check_key(key)
        if text.startswith(reserved):
            raise ValueError(
                f"storage key {describe_key(text)} is refused: with prefix {prefix!r} its "
                f"name would start with {LEASE_NAMESPACE!r}, where the stores keep their leases"
            )
        return text

    return check


def _initialized_first(
    client: Any, run: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    """``run`` on a cluster client that is made to learn the slot table first.

    redis-py's async ``RedisCluster`` picks a command's node before it has initialized;
    a burst of first calls then lands on one default node, and in the storm of ``MOVED``
    replies and reconnects that follows it can send a command twice (a ``count_hit``
    counted twice). ``initialize()`` returns at once when the client is ready.
    """

    async def initialized_run(*args: Any, **options: Any) -> Any:
        await client.initialize()
        return await run(*args, **options)

    return initialized_run
