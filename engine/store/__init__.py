"""The state store: SQLAlchemy 2.0 over SQLite in WAL mode (:mod:`.database`), its models
and Alembic migrations, the group-commit writer every write goes through, MID/ICID/DCID
allocation, the queue's rows (:mod:`.queue_store`), big bodies in spool files (:mod:`.spool`),
user accounts and the instance lock.

Imports ``engine.config`` only (committed versions are XML documents of it).
"""
