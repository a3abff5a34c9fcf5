"""Catalog schema upgrades: what an older catalog lacks (columns, tables, indexes, the application id) is
added in place, and the numbered steps of `store.MIGRATIONS` run; a catalog that lacks nothing is not written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from synthsign_tui.catalog.opening import APPLICATION_ID, CatalogError, Probe
from synthsign_tui.errors import SynthSignError


def upgrade(
    engine: Engine, found: Probe, schema_version: int, migrations: dict[int, list[str]], *, read_only: bool
) -> None:
    """Upgrade the schema only when something is missing: an up-to-date catalog is opened without a write."""
    version = found.user_version
    if version > schema_version:
        raise SynthSignError(
            f"{found.path} was written by a newer SynthSign (catalog schema v{version}; this one reads up to "
            f"v{schema_version}): upgrade synthsign_tui, or open another catalog with --db PATH"
        )
    has_runs = "runs" in found.columns
    if has_runs and version == 0:
        version = 1  # a v1 file written before user_version was set
    missing_columns = any(
        table.name in found.columns and column.name not in found.columns[table.name]
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
    )
    missing_tables = any(t.name not in found.columns for t in SQLModel.metadata.sorted_tables)
    missing_indexes = any(
        ix.name not in found.indexes for t in SQLModel.metadata.sorted_tables for ix in t.indexes
    )
    outdated = version < schema_version or missing_columns or missing_tables
    if not (outdated or missing_indexes or found.application_id != APPLICATION_ID):
        return
    if read_only:
        if outdated:
            raise CatalogError(
                f"catalog {found.path} needs an upgrade to schema v{schema_version} (it is v{version}), but it is "
                "read-only: copy it somewhere writable, or open it once with write access"
            )
        return  # only indexes or the id missing: reading works without them
    if has_runs:
        _add_missing_columns(engine)
    with engine.begin() as conn:
        for v in range(version, schema_version):
            for statement in migrations.get(v, []):
                conn.execute(text(statement))
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:
        for table in SQLModel.metadata.sorted_tables:  # create_all adds no index to an existing table
            for index in table.indexes:
                index.create(conn, checkfirst=True)
        conn.execute(text(f"PRAGMA application_id = {APPLICATION_ID}"))
        conn.execute(text(f"PRAGMA user_version = {schema_version}"))


def _add_missing_columns(engine: Engine) -> None:
    """Add each model column that an older catalog's existing tables lack, with its default."""
    with engine.begin() as conn:
        for table in SQLModel.metadata.sorted_tables:
            present = {row[1] for row in conn.execute(text(f"PRAGMA table_info({table.name})"))}
            if not present:
                continue  # a new table: create_all makes it
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                default = (
                    column.default.arg if column.default is not None and column.default.is_scalar else None
                )
                clause = "" if default is None else f" NOT NULL DEFAULT {_sql_literal(default)}"
                conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}{clause}"))


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"
