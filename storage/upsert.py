"""Inserting, as the repositories do it on either backend: INSERT … ON CONFLICT in the
connection's own dialect (PostgreSQL and SQLite spell it the same way in SQLAlchemy, but each
through its own dialect's `insert`), and the id an INSERT gave its row."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection


def insert(conn: AsyncConnection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` that can take `on_conflict_do_nothing/do_update`."""
    return insert_into(conn.dialect.name, table)


def insert_into(dialect: str, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """The same, for the dialect named (a statement built once per dialect)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def new_id(result: CursorResult) -> int:
    """The primary key of the row a single-row INSERT just wrote."""
    key = result.inserted_primary_key
    assert key is not None, "not a single-row INSERT"
    return int(key[0])
