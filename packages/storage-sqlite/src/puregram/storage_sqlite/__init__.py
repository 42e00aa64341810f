"""puregram.storage_sqlite: the puregram storage contract on a SQLite file.

- ``SqliteStorage``: a ``TtlStorage`` and ``IterableStorage`` with ``get_and_touch`` and
  ``count_hit``, over a connection from ``sqlite3`` or ``pysqlite3``;
- ``connect``: open a file with the settings a bot wants (WAL, ``synchronous=NORMAL``,
  ``busy_timeout``, autocommit);
- errors beside the core's: ``SchemaError`` (a table of another schema) and
  ``DatabaseMovedError`` (the file was deleted or replaced under the store).
"""

from .__about__ import __version__
from ._connect import connect
from ._errors import DatabaseMovedError, SchemaError
from ._storage import SqliteStorage

__all__ = ["DatabaseMovedError", "SchemaError", "SqliteStorage", "__version__", "connect"]

# Tracebacks and reprs name the public module, not the private one a name lives in.
for _value in list(globals().values()):
    if getattr(_value, "__module__", "").startswith(__name__ + "._"):
        _value.__module__ = __name__
del _value
