"""Deployment settings: secure once DEBUG is off, switchable from the environment, and no
silent fallback for an empty secret key. Each case starts a fresh interpreter, since
settings are read once per process."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_manage(tmp_path, *args, **env):
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "AWS_"))
    }
    base["TAXONOMY_DATA_DIR"] = str(tmp_path / "data")
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_env(**extra):
    return {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "tags.example.org",
        **extra,
    }


def test_check_deploy_passes_with_only_debug_off_a_key_and_hosts(tmp_path):
    result = run_manage(
        tmp_path, "check", "--deploy", "--fail-level", "WARNING", **production_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


PRINT_SECURITY = (
    "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS,"
    " s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, getattr(s, 'SECURE_PROXY_SSL_HEADER', None))"
)


def test_https_settings_are_on_by_default_when_debug_is_off(tmp_path):
    result = run_manage(tmp_path, "shell", "-c", PRINT_SECURITY, **production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split()[:4] == ["True", "31536000", "True", "True"]


def test_the_environment_turns_https_off_for_plain_http(tmp_path):
    result = run_manage(tmp_path, "shell", "-c", PRINT_SECURITY, **production_env(DJANGO_HTTPS="0"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split()[:4] == ["False", "0", "False", "False"]


def test_a_tls_proxy_header_is_named_in_the_environment(tmp_path):
    env = production_env(DJANGO_SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO")
    result = run_manage(tmp_path, "shell", "-c", PRINT_SECURITY, **env)
    assert result.returncode == 0, result.stderr
    assert "('HTTP_X_FORWARDED_PROTO', 'https')" in result.stdout


def test_an_empty_secret_key_is_an_error_at_start(tmp_path):
    result = run_manage(tmp_path, "check", DJANGO_SECRET_KEY="")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is set but empty" in result.stderr


def test_without_a_key_the_generated_per_install_key_is_used(tmp_path):
    result = run_manage(tmp_path, "check")
    assert result.returncode == 0, result.stderr
    key_file = tmp_path / "data" / "secret_key"
    assert len(key_file.read_text().strip()) >= 50
    assert key_file.stat().st_mode & 0o077 == 0


PRINT_THROTTLING = (
    "from django.conf import settings as s; print(s.CACHES['default']['BACKEND'],"
    " s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['login'])"
)


def test_throttle_counters_are_shared_through_redis_and_rates_come_from_the_environment(
    tmp_path,
):
    result = run_manage(
        tmp_path,
        "shell",
        "-c",
        PRINT_THROTTLING,
        REDIS_URL="redis://127.0.0.1:6379/7",
        THROTTLE_LOGIN="3/hour",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "django.core.cache.backends.redis.RedisCache 3/hour"
    result = run_manage(tmp_path, "shell", "-c", PRINT_THROTTLING)
    assert result.stdout.splitlines()[-1].startswith(
        "django.core.cache.backends.filebased.FileBasedCache"
    )


def test_the_data_dir_and_its_files_are_readable_by_their_owner_only(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)  # as an older install left it
    result = run_manage(tmp_path, "migrate", "--noinput", "--verbosity", "0")
    assert result.returncode == 0, result.stderr
    assert data.stat().st_mode & 0o777 == 0o700
    for name in ["db.sqlite3", "secret_key"]:
        assert (data / name).stat().st_mode & 0o077 == 0, name


def test_mail_goes_to_files_in_the_data_dir_unless_smtp_is_configured(tmp_path):
    show = "from django.conf import settings as s; print(s.EMAIL_BACKEND, s.EMAIL_FILE_PATH)"
    result = run_manage(tmp_path, "shell", "-c", show)
    backend, path = result.stdout.splitlines()[-1].split()
    assert backend == "django.core.mail.backends.filebased.EmailBackend"
    assert path == str(tmp_path / "data" / "mail")
    result = run_manage(tmp_path, "shell", "-c", show, EMAIL_HOST="smtp.example.org")
    assert result.stdout.splitlines()[-1].startswith("django.core.mail.backends.smtp.")
