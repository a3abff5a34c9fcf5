"""Opening a catalog file: recognise it before changing anything, read a read-only one read-only, and turn
every SQLite failure into a message that says what is wrong and how to recover.

A file is a SynthSign catalog when its SQLite header carries `APPLICATION_ID`, or (catalogs written before the
id existed) when it has a `runs` table with a `config_json` column. Anything else (a text file, an image,
another program's database) is refused untouched: nothing is switched to WAL, created or upgraded in it. An
empty SQLite file, or a path that does not exist yet, becomes a new catalog.

The connection is made with sqlite3's URI form and a percent-encoded absolute path, so a name such as
`my?cat.db` is a file of that name (a plain SQLAlchemy URL would read `?cat.db` as options).
"""

from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool
from sqlmodel import create_engine

from synthsign_tui.errors import SynthSignError, shorten

APPLICATION_ID = 0x53594E43  # "SYNC": PRAGMA application_id of a SynthSign catalog (offset 68 of the header)
SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 30


class CatalogError(SynthSignError):
    """A catalog that cannot be opened or read; the message says what is wrong and how to recover."""


@dataclass
class Probe:
    """What a catalog file holds, read without changing it."""

    path: Path
    exists: bool
    read_only: bool
    application_id: int = 0
    user_version: int = 0
    columns: dict[str, set[str]] = field(default_factory=dict)  # table -> its columns
    indexes: set[str] = field(default_factory=set)


def recovery(path: Path) -> str:
    return (
        f"restore {path} from a backup, or recover what SQLite can still read with "
        f"`sqlite3 {shorten(str(path), 200)} .recover | sqlite3 recovered.db` and open that with --db recovered.db"
    )


def explain(exc: sqlite3.Error, path: Path) -> CatalogError:
    """A SQLite error as a CatalogError saying what it means for this catalog and what to do."""
    text = str(exc).strip() or type(exc).__name__
    low = text.lower()
    if "malformed" in low or "not a database" in low or "file is encrypted" in low:
        why = f"is damaged ({text}): {recovery(path)}"
    elif "readonly" in low or "read-only" in low:
        why = (
            f"is read-only ({text}): listing and showing runs work, but recording needs write access to the "
            "file and its folder (or copy it somewhere writable)"
        )
    elif "unable to open" in low or "cannot open" in low:
        why = f"cannot be opened ({text}): check that the file and its folder exist and are readable"
    elif "disk i/o" in low or "short read" in low:
        why = (
            f"could not be read or written ({text}): the disk may be full, or the file or its -wal/-shm files were "
            f"removed while in use; if it persists, {recovery(path)}"
        )
    elif "locked" in low or "busy" in low:
        why = (
            f"stayed locked by another process for {BUSY_TIMEOUT_S} s ({text}): wait for the other writer or "
            "stop it, then try again"
        )
    elif "no such table" in low or "no such column" in low:
        why = f"is missing part of its schema ({text}); this happens when its -wal file was deleted: {recovery(path)}"
    elif "too many" in low or "too large" in low or "too complex" in low or "too big" in low:
        why = f"could not run a query that is too large ({text}): use a shorter filter"
    else:
        why = f"gave an error ({text}); if it persists, {recovery(path)}"
    return CatalogError(f"catalog {shorten(str(path), 200)} {why}")


def _writable(path: Path) -> bool:
    folder = path.parent if str(path.parent) else Path(".")
    return os.access(path, os.W_OK) and os.access(folder, os.W_OK)


def probe(path: Path, read_only: bool | None = None) -> Probe:
    """Check that `path` is (or can become) a SynthSign catalog, changing nothing; raise CatalogError if not."""
    shown = shorten(str(path), 200)
    try:
        info = path.stat()
    except FileNotFoundError:
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise CatalogError(
                f"cannot create the catalog {shown}: folder {shorten(str(folder), 200)} does not exist"
            ) from None
        if read_only or not os.access(folder, os.W_OK):
            raise CatalogError(
                f"there is no catalog {shown}, and its folder is read-only, so none can be created"
            ) from None
        return Probe(path, exists=False, read_only=False)
    except OSError as exc:
        raise CatalogError(f"cannot open the catalog {shown}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise CatalogError(
            f"--db {shown} is a folder: name the catalog file, e.g. --db {shorten(str(path / 'runs.db'), 200)}"
        )
    if not stat.S_ISREG(info.st_mode):
        raise CatalogError(f"catalog {shown} is not a regular file (a pipe or a device?): name a .db file")
    read_only = bool(read_only) or not _writable(path)
    if info.st_size == 0:
        if read_only:
            raise CatalogError(f"catalog {shown} is an empty read-only file: there are no runs to read")
        return Probe(path, exists=False, read_only=False)
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as exc:
        raise CatalogError(f"cannot read the catalog {shown}: {exc.strerror or exc}") from None
    if not head.startswith(SQLITE_MAGIC):
        raise CatalogError(
            f"{shown} is not a SQLite database (it starts with {shorten(head[:16], 40)}), so it is no SynthSign "
            "catalog; it was left untouched. Name a catalog file or a new file with --db"
        )
    if len(head) < 100:
        raise CatalogError(f"catalog {shown} is cut short ({info.st_size} bytes): {recovery(path)}")
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    if head[18] == 2 and shm.exists() and not wal.exists():
        # SQLite removes both when the last connection closes and a crash leaves both: only the -wal is gone,
        # and with it the latest changes, which opening now would silently drop
        raise CatalogError(
            f"catalog {shown} has lost its -wal file ({shorten(str(wal), 200)} is missing but its -shm is there): "
            f"the latest changes lived in it. Put the -wal file back if you can (or {recovery(path)}); to open "
            f"the catalog as it is without them, delete {shorten(str(shm), 200)}"
        )
    header_id = int.from_bytes(head[68:72], "big")
    if header_id not in (0, APPLICATION_ID):
        raise _not_ours(shown, header_id, "")  # decided from the header alone: not even opened
    found = Probe(path, exists=True, read_only=read_only)
    try:
        conn = sqlite3.connect(uri(path, read_only=True), uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise explain(exc, path) from None
    try:
        found.application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        found.user_version = conn.execute("PRAGMA user_version").fetchone()[0]
        rows = conn.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index')"
        ).fetchall()
        for kind, name in rows:
            if kind == "index":
                found.indexes.add(name)
            elif not name.startswith("sqlite_"):
                found.columns[name] = {row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')}
    except sqlite3.Error as exc:
        raise explain(exc, path) from None
    finally:
        conn.close()
    legacy = "config_json" in found.columns.get("runs", set())
    if found.application_id != APPLICATION_ID and not (
        found.application_id == 0 and (legacy or not found.columns)
    ):
        tables = ", ".join(sorted(found.columns)[:8]) or "none"
        raise _not_ours(shown, found.application_id, f", tables: {tables}")
    return found


def _not_ours(shown: str, application_id: int, tables: str) -> CatalogError:
    return CatalogError(
        f"{shown} is a SQLite database but not a SynthSign catalog (application id {application_id:#x}{tables}); "
        "it was left untouched. Name a SynthSign catalog or a new file with --db"
    )


def uri(path: Path, *, read_only: bool) -> str:
    """sqlite3's URI for `path`: absolute, percent-encoded (`?`, `#` and `%` are part of the name).

    Read-only in a folder that cannot be written and with no -wal file: `immutable=1`, since SQLite cannot
    create the -shm file a WAL reader needs there, and with no -wal file there is nothing it would miss."""
    target = f"file:{quote(str(path.absolute()), safe='/')}?mode={'ro' if read_only else 'rwc'}"
    folder = path.parent if str(path.parent) else Path(".")
    if read_only and not os.access(folder, os.W_OK) and not Path(f"{path}-wal").exists():
        target += "&immutable=1"
    return target


def _writer_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _reader_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    cur.close()


def open_engine(path: Path, *, read_only: bool) -> Engine:
    """An engine on `path` (WAL, busy timeout, foreign keys; read-only: mode=ro and no pragma that writes)
    whose SQLite errors come out as CatalogError (constraint violations stay as they are: code handles them)."""
    target = uri(path, read_only=read_only)

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(target, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)

    engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool)
    event.listen(engine, "connect", _reader_pragmas if read_only else _writer_pragmas)

    @event.listens_for(engine, "handle_error")
    def _explain(context) -> None:
        original = context.original_exception
        if isinstance(original, sqlite3.OperationalError) or type(original) is sqlite3.DatabaseError:
            raise explain(original, path) from None

    return engine
