"""Reading settings from the environment: typed, strict (a value that cannot be read is an
error at start, never a quiet default), and a secret may come from the file NAME_FILE names."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    """NAME, or the contents of the file NAME_FILE names (a secret mounted by the host)."""
    path = os.environ.get(f"{name}_FILE")
    if path and name not in os.environ:
        try:
            return Path(path).read_text().strip()
        except OSError as error:
            raise ImproperlyConfigured(f"{name}_FILE={path}: cannot read it ({error}).") from None
    return os.environ.get(name, default)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_bool(name: str, default: bool = False) -> bool:
    value = env_str(name).strip().lower()
    if value == "":
        return default
    if value in _TRUE | _FALSE:
        return value in _TRUE
    # A typo ("ture") must not quietly mean False: DEBUG, TLS and the like hang on these.
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a yes/no value: use one of {sorted(_TRUE | _FALSE)}."
    )


def _env_number(name: str, default, kind):
    value = env_str(name).strip()
    if value == "":
        return default
    try:
        return kind(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a {kind.__name__}.") from None


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int)


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]
