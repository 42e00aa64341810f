"""puregram.storage_postgres: the puregram storage contract on a PostgreSQL table.

- ``PostgresStorage``: a ``TtlStorage``, ``IterableStorage``, ``GetTouchStorage``,
  ``CounterStorage`` and ``LockStorage`` over an asyncpg pool (``PostgresStorage.open(dsn)``
  makes one);
- ``SchemaError``: the table exists with another schema.
"""

from .__about__ import __version__
from ._errors import SchemaError
from ._storage import PostgresStorage

__all__ = ["PostgresStorage", "SchemaError", "__version__"]

# Tracebacks and reprs name the public module, not the private one a name lives in.
for _value in list(globals().values()):
    if getattr(_value, "__module__", "").startswith(__name__ + "._"):
        _value.__module__ = __name__
del _value
