"""The settings helpers refuse values they do not understand, and read secrets from files."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from taxonomy_site.env import env_bool, env_float, env_int, env_str

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("value", ["1", "true", "Yes", " on "])
def test_env_bool_reads_yes(monkeypatch, value):
    monkeypatch.setenv("FLAG", value)
    assert env_bool("FLAG") is True


@pytest.mark.parametrize("value", ["0", "false", "NO", "off"])
def test_env_bool_reads_no(monkeypatch, value):
    monkeypatch.setenv("FLAG", value)
    assert env_bool("FLAG", True) is False


def test_env_bool_keeps_the_default_when_unset_or_empty(monkeypatch):
    monkeypatch.delenv("FLAG", raising=False)
    assert env_bool("FLAG", True) is True
    monkeypatch.setenv("FLAG", "")
    assert env_bool("FLAG", True) is True


def test_env_bool_refuses_a_typo(monkeypatch):
    monkeypatch.setenv("FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="FLAG='ture' is not a yes/no value"):
        env_bool("FLAG")


def test_numbers_refuse_what_is_not_a_number(monkeypatch):
    monkeypatch.setenv("COUNT", "ten")
    with pytest.raises(ImproperlyConfigured, match="COUNT='ten' is not a int"):
        env_int("COUNT", 1)
    monkeypatch.setenv("COUNT", "1.5")
    assert env_float("COUNT", 0.0) == 1.5
    with pytest.raises(ImproperlyConfigured):
        env_int("COUNT", 1)


def test_a_secret_can_come_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.delenv("TOKEN", raising=False)
    monkeypatch.setenv("TOKEN_FILE", str(secret))
    assert env_str("TOKEN") == "s3cret"
    monkeypatch.setenv("TOKEN", "from-env")  # the variable itself wins
    assert env_str("TOKEN") == "from-env"


def test_an_unreadable_secret_file_is_an_error(monkeypatch, tmp_path):
    monkeypatch.delenv("TOKEN", raising=False)
    monkeypatch.setenv("TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="TOKEN_FILE=.*cannot read it"):
        env_str("TOKEN")


def test_manage_py_check_fails_at_start_on_a_bad_debug_value(tmp_path):
    env = {**os.environ, "DJANGO_DEBUG": "ture", "TAXONOMY_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "DJANGO_DEBUG='ture' is not a yes/no value" in result.stderr
