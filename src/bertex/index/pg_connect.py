"""Reaching the PostgreSQL server: the index URL (its `table`, its password never shown), a
connection with pgvector's types, and the guard that turns a lost connection into one
StoreUnavailableError line and connects again for the next call."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from ..errors import ExtraMissingError, OptionError, StoreRefusedError, StoreUnavailableError

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_TABLE = "bertex_index"
SECRETS = ("password", "sslpassword")  # never shown, as a user:password@ is not
MAX_TABLE = 55  # PostgreSQL cuts names at 63 bytes; the longest derived one is NAME_key_seq


def _psycopg() -> Any:
    try:
        import psycopg
        from pgvector.psycopg import register_vector
    except ImportError:
        raise ExtraMissingError("postgres", "psycopg/pgvector", "a PostgreSQL index") from None
    return psycopg, register_vector


def split_url(url: str) -> tuple[str, str, str]:
    """(connection URL without `table`, table name, the URL without its password). The table
    name is folded to lower case, as PostgreSQL folds an unquoted name.

    >>> split_url("postgresql://u:secret@h/db?table=Docs&sslmode=off&password=x")
    ('postgresql://u:secret@h/db?sslmode=off&password=x', 'docs', 'postgresql://u@h/db?table=Docs&sslmode=off')
    """
    parts = urlsplit(url)
    query = _query(parts.query)
    table = dict(query).get("table", DEFAULT_TABLE).lower()
    ok = table.replace("_", "").isascii() and table.replace("_", "").isalnum()
    if not ok or not table[0].isalpha() or len(table) > MAX_TABLE:
        raise OptionError(
            "table", table, [f"letters, digits and _, starting with a letter, <= {MAX_TABLE}"]
        )
    rest = urlencode([q for q in query if q[0] != "table"], quote_via=quote)  # %20, never +
    conn = urlunsplit(parts._replace(query=rest))
    netloc = parts.netloc.split("@")[-1]
    user = parts.username
    public = urlencode([q for q in query if q[0] not in SECRETS], quote_via=quote)
    shown = urlunsplit(parts._replace(netloc=f"{user}@{netloc}" if user else netloc, query=public))
    return conn, table, shown


def _query(query: str) -> list[tuple[str, str]]:
    """A URL's parameters as libpq reads them: + is a +, not a space."""
    return parse_qsl(query.replace("+", "%2B"))


@contextmanager
def refusals(shown: str, table: str) -> Iterator[None]:
    """What the server refuses (no permission, a read-only server, a full disk ...) as one
    StoreRefusedError line naming the permissions an index needs; a lost connection goes on
    to _reaches, which says so and connects again."""
    psycopg, _ = _psycopg()
    try:
        yield
    except psycopg.errors.InsufficientPrivilege as e:
        raise StoreRefusedError(
            f"PostgreSQL at {shown} refused: {_first(e)}. Reading an index needs SELECT on "
            f"{table} and {table}_meta; adding and removing also INSERT, UPDATE, DELETE and "
            f"USAGE on the sequence {table}_key_seq; a build needs CREATE on the schema"
        ) from None
    except psycopg.OperationalError:
        raise
    except psycopg.Error as e:
        raise StoreRefusedError(f"PostgreSQL at {shown} refused: {_first(e)}") from None


def connect(url: str) -> tuple[Any, str, str]:
    psycopg, register_vector = _psycopg()
    conn_url, table, shown = split_url(url)
    try:
        conn = psycopg.connect(conn_url, autocommit=True, connect_timeout=10)
    except psycopg.Error as e:
        said = _scrubbed(_first(e), url)  # libpq may quote the URL's text back
        raise StoreUnavailableError(f"cannot reach PostgreSQL at {shown}: {said}") from None
    sql = "SELECT 1 FROM pg_get_keywords() WHERE word = %s AND catcode IN ('R', 'T')"
    if conn.execute(sql, [table]).fetchone() is not None:
        conn.close()
        raise OptionError("table", table, ["a name that is not an SQL reserved word"])
    has = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
    if has is None:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.errors.UniqueViolation:
            pass  # another session created it at the same moment (IF NOT EXISTS races)
        except psycopg.Error:
            conn.close()
            raise StoreUnavailableError(
                f"PostgreSQL at {shown} has no `vector` extension and this user cannot create "
                "it: install pgvector >= 0.8 and run CREATE EXTENSION vector as a superuser"
            ) from None
    register_vector(conn)
    return conn, table, shown


def _scrubbed(text: str, url: str) -> str:
    """text without any password the URL holds (raw or decoded)."""
    parts = urlsplit(url)
    secrets = [parts.password or ""]
    secrets += [v for k, v in _query(parts.query) if k in SECRETS]
    raw = parts.netloc.rpartition("@")[0].partition(":")[2]
    for secret in sorted({*secrets, raw, unquote(raw)} - {""}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _jsonb(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value)


def _first(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _reaches(retry: bool) -> Callable[[F], F]:
    """Each call under the store's lock (its one connection is not shared by two statements at
    once: a server searches from several threads); a lost connection as one
    StoreUnavailableError line and a new connection for the next call, where a read (`retry`)
    is asked once more at once. A closed Index says so."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            with self.lock:  # one connection: one caller at a time (a server's threads)
                for attempt in (1, 2):
                    self._connected()
                    try:
                        with refusals(self.shown, self.table):
                            return method(self, *args, **kwargs)
                    except _psycopg()[0].OperationalError as e:
                        lost = self.conn.broken
                        if not lost or not retry or attempt == 2:
                            said = f"{'lost ' if lost else ''}PostgreSQL at {self.shown}"
                            what = "" if retry else " (the change: committed whole or not at all)"
                            raise StoreUnavailableError(f"{said}: {_first(e)}{what}") from None

        return call  # type: ignore[return-value]

    return wrap
