"""puregram.storage_redis: puregram storage on Redis and Redis Cluster.

``RedisStorage`` is a ``TtlStorage``, ``IterableStorage``, ``GetTouchStorage``,
``CounterStorage`` and ``LockStorage`` over a ``redis.asyncio`` client: values as JSON at
``prefix + key``, one command per call.
"""

from .__about__ import __version__
from ._storage import RedisStorage

__all__ = ["RedisStorage", "__version__"]

# Tracebacks and reprs name the public module, not the private one a name lives in.
for _value in list(globals().values()):
    if getattr(_value, "__module__", "").startswith(__name__ + "._"):
        _value.__module__ = __name__
del _value
