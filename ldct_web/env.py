"""Reads the process environment into settings values, failing loudly.

Every value that comes from the environment goes through here, so a malformed
value stops start-up with a message that names the variable and says what a
correct one looks like, instead of a stack trace from deep inside Django.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

_env = environ.Env()

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def _fail(name: str, value: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"Environment variable {name}={value!r} is invalid: {expected}.")


def text(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def origin(name: str) -> str:
    """An origin (scheme://host[:port], nothing after it), or "" when unset."""
    raw = os.environ.get(name, "").strip().rstrip("/")
    return _origin(name, raw) if raw else ""


def origin_list(name: str) -> list[str]:
    """Comma-separated origins, each checked as :func:`origin` does."""
    return [_origin(name, item) for item in word_list(name, [])]


def _origin(name: str, raw: str) -> str:
    expected = "an origin such as https://ldct.example.org or http://[::1]:8000"
    if not re.fullmatch(r"https?://[^/?#\s]+", raw):
        raise _fail(name, raw, expected)
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a bad port or unbracketed IPv6
    except ValueError as exc:
        raise _fail(name, raw, f"{expected} ({exc})") from exc
    if not parts.hostname:
        raise _fail(name, raw, expected)
    return raw


def flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _fail(name, raw, "expected one of true/false, 1/0, yes/no, on/off")


def integer(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _fail(name, raw, "expected a whole number") from None
    if value < minimum:
        raise _fail(name, raw, f"expected a number >= {minimum}")
    return value


def word_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# Web and worker processes write to the same SQLite file: wait for a lock instead of
# failing, and take the write lock at BEGIN so two writers never deadlock mid-transaction.
SQLITE_OPTIONS = {
    "timeout": 30,
    "transaction_mode": "IMMEDIATE",
    # Every commit flushed to disk (reader_study.durability relaxes it for a few).
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL",
}


def database(name: str, default_sqlite: Path) -> dict:
    raw = os.environ.get(name)
    if not raw:
        return _persistent(
            {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(default_sqlite),
                "OPTIONS": dict(SQLITE_OPTIONS),
                # A file, not memory, so worker processes started by tests see the test data.
                "TEST": {"NAME": str(default_sqlite.with_name("test_db.sqlite3"))},
            }
        )
    scheme = urlsplit(raw).scheme
    if scheme not in _env.DB_SCHEMES:
        known = "postgres://USER:PASSWORD@HOST:5432/NAME or sqlite:////absolute/path.sqlite3"
        raise _fail(name, raw, f"unknown scheme {scheme!r}; expected e.g. {known}")
    try:
        config = environ.Env.db_url_config(raw)
    except Exception as exc:  # django-environ raises a mix of types for bad URLs
        raise _fail(name, raw, f"could not parse it ({exc})") from None
    if config["ENGINE"].endswith("postgresql") and not config.get("NAME"):
        raise _fail(name, raw, "the database name is missing (postgres://user@host:5432/NAME)")
    if config["ENGINE"].endswith("sqlite3"):
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
    return _persistent(config)


def _persistent(config: dict) -> dict:
    """Connections outlive a request: opening one costs more than a small request (SQLite:
    about 1.5 ms with its PRAGMAs, a third of an upload chunk's database time)."""
    # 0: a connection per request. The web server's gevent workers run each request in a
    # greenlet of its own, and a kept connection per greenlet would pile up unused.
    config["CONN_MAX_AGE"] = integer("DATABASE_CONN_MAX_AGE", 0)
    config["CONN_HEALTH_CHECKS"] = True
    # A pool of at most this many Postgres connections per process (0: none), which the
    # web server's workers set (ldct_web/gunicorn_conf.py): a greenlet per request and a
    # connection per greenlet would otherwise open as many connections as there are
    # requests in flight, past Postgres's limit, and each request would pay for opening
    # one. A request waits for a free connection at most DATABASE_POOL_TIMEOUT seconds.
    pool = integer("DATABASE_POOL_SIZE", 0)
    if pool and config["ENGINE"].endswith("postgresql"):
        config["CONN_MAX_AGE"] = 0  # the pool keeps the connections
        config["OPTIONS"] = {
            **config.get("OPTIONS", {}),
            "pool": {
                "min_size": min(2, pool),
                "max_size": pool,
                "timeout": integer("DATABASE_POOL_TIMEOUT", 30, minimum=1),
            },
        }
    return config


def broker_url(name: str, default: str) -> str:
    raw = os.environ.get(name)
    if not raw:
        return default
    scheme = urlsplit(raw).scheme
    allowed = {"redis", "rediss", "amqp", "amqps", "pyamqp", "filesystem", "memory", "sqla+sqlite"}
    if scheme not in allowed:
        raise _fail(name, raw, f"unknown broker scheme {scheme!r}; expected redis://HOST:6379/0")
    return raw


def secret_key(name: str, key_file: Path) -> str:
    """The SECRET_KEY from the environment, or one generated once and kept in var/."""
    raw = os.environ.get(name)
    if raw is not None:
        if len(raw) < 50 or len(set(raw)) < 5:
            raise _fail(name, "***", "expected at least 50 characters of random text")
        return raw
    if key_file.exists():
        return key_file.read_text().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # Create with owner-only permissions: the key signs sessions and tokens.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
