"""The SQL stores' shared part: one schema, one copy of each query, one base class.

``SQLStore`` holds every query and the mapping between records and rows; the SQLite and
Postgres providers only supply connections, transactions and the dialect's types.
"""

from ruvon.implementations.persistence.sql.store import SQLStore

__all__ = ["SQLStore"]
