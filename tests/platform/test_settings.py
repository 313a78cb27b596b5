"""Settings come from the environment; a malformed value stops start-up clearly."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def django_start(env_overrides: dict[str, str], tmp_path: Path, *args: str):
    """Starts a fresh interpreter the way manage.py does and returns the finished process."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEBUG", "LDCT_INSECURE_HTTP"}
    }
    env.update({"LDCT_VAR_DIR": str(tmp_path / "var"), **env_overrides})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "postgress://user@localhost/db"),
        ("DATABASE_URL", "postgres://user@localhost:5432/"),
        ("DATABASE_URL", "not a url"),
        ("CELERY_BROKER_URL", "http://localhost:6379"),
        ("DEBUG", "maybe"),
        ("SECRET_KEY", "short"),
        ("CELERY_TASK_TIME_LIMIT", "two hours"),
        ("STORAGE_BACKEND", "ftp"),
    ],
)
def test_malformed_variable_stops_startup_naming_it(tmp_path, name, value):
    result = django_start({name: value}, tmp_path, "check")
    assert result.returncode != 0
    assert f"Environment variable {name}=" in result.stderr
    assert "Traceback" not in result.stderr.splitlines()[-1]


def test_embedded_default_needs_no_variables(tmp_path):
    result = django_start({}, tmp_path, "check")
    assert result.returncode == 0, result.stderr
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.exists() and len(key_file.read_text()) >= 50
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_generated_secret_key_is_kept_between_starts(tmp_path):
    django_start({}, tmp_path, "check")
    first = (tmp_path / "var" / "secret_key").read_text()
    django_start({}, tmp_path, "check")
    assert (tmp_path / "var" / "secret_key").read_text() == first


def test_embedded_defaults_parse_to_sqlite_and_filesystem_broker(tmp_path):
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE']);print(s.CELERY_BROKER_URL);"
        "print(s.CELERY_RESULT_BACKEND);print(s.MEDIA_ROOT)"
    )
    result = django_start({}, tmp_path, "shell", "--no-imports", "-c", code)
    engine, broker, backend, media = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert broker == "filesystem://"
    assert backend.startswith("file://")
    assert media == str(tmp_path / "var" / "media")


def test_scaled_variables_are_honoured(tmp_path):
    code = (
        "from django.conf import settings as s;d=s.DATABASES['default'];"
        "print(d['ENGINE'], d['NAME'], d['HOST'], d['PORT']);print(s.CELERY_BROKER_URL);"
        "print(s.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'] > s.CELERY_TASK_TIME_LIMIT);"
        "print(s.MEDIA_ROOT);print(s.STORAGES['default']['BACKEND'])"
    )
    env = {
        "DATABASE_URL": "postgres://ldct:pw@db.example:5433/ldct",
        "CELERY_BROKER_URL": "redis://cache.example:6379/0",
        "MEDIA_ROOT": str(tmp_path / "shared"),
        "STORAGE_BACKEND": "s3",
        "AWS_STORAGE_BUCKET_NAME": "ldct-media",
    }
    lines = django_start(env, tmp_path, "shell", "--no-imports", "-c", code).stdout.splitlines()
    assert lines[0] == "django.db.backends.postgresql ldct db.example 5433"
    assert lines[1] == "redis://cache.example:6379/0"
    assert lines[2] == "True"
    assert lines[3] == str(tmp_path / "shared")
    assert lines[4] == "storages.backends.s3.S3Storage"


def test_s3_without_bucket_is_refused(tmp_path):
    result = django_start({"STORAGE_BACKEND": "s3"}, tmp_path, "check")
    assert result.returncode != 0
    assert "AWS_STORAGE_BUCKET_NAME" in result.stderr


def test_deploy_check_is_clean_with_documented_production_variables(tmp_path):
    production = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "ldct.example.org",
        "DATABASE_URL": "postgres://ldct@127.0.0.1:5432/ldct",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    }
    result = django_start(production, tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_sqlite_url_gets_the_same_locking_options_as_the_embedded_default(tmp_path):
    code = "from django.conf import settings as s;print(s.DATABASES['default']['OPTIONS'])"
    url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    result = django_start({"DATABASE_URL": url}, tmp_path, "shell", "--no-imports", "-c", code)
    assert "'transaction_mode': 'IMMEDIATE'" in result.stdout, result.stderr
    assert "'timeout': 30" in result.stdout
