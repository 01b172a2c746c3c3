"""Names of stored files, made by the server; and the client's file name, kept as metadata.

A stored name never contains anything the client sent: it is the client's id, the kind of
file, the month and a random token, in ASCII. Thumbnail and model-input names follow from the
original's, so the worker and the ML core find them without another column.
"""

from __future__ import annotations

import html
import posixpath
import re
import secrets
import unicodedata
from datetime import datetime
from urllib.parse import quote, unquote

ORIGINALS = "originals"
THUMBNAILS = "thumbnails"
MODEL_INPUTS = "model-input"
MAX_ORIGINAL_NAME = 200

# Django's multipart parser cuts a file name to its last path part before anyone sees it. Our
# parser (labelling.api.uploads) keeps a name that tries to leave its folder behind this
# marker, percent-encoded, so that the upload service can refuse it with a reason.
UNSAFE_NAME_PREFIX = "\x00unsafe-name:"

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")


def original_name(*, client_id: int, extension: str, now: datetime | None = None) -> str:
    """``clients/7/originals/2026/05/3f2a….jpg`` — ``extension`` comes from the format
    Pillow found, never from the client's file name."""
    month = (now or datetime.now()).strftime("%Y/%m")
    token = secrets.token_hex(16)
    return f"clients/{int(client_id)}/{ORIGINALS}/{month}/{token}.{extension}"


def thumbnail_name(original: str) -> str:
    return _derived(original, THUMBNAILS)


def model_input_name(original: str) -> str:
    return _derived(original, MODEL_INPUTS)


def _derived(original: str, kind: str) -> str:
    folder, filename = posixpath.split(original)
    marker = f"/{ORIGINALS}/"
    if marker not in f"/{folder}/":
        raise ValueError(f"{original!r} is not the name of a stored original")
    folder = f"/{folder}/".replace(marker, f"/{kind}/", 1).strip("/")
    stem = filename.rsplit(".", 1)[0]
    return f"{folder}/{stem}.jpg"


def mark_unsafe(raw_name: str) -> str:
    return UNSAFE_NAME_PREFIX + quote(raw_name, safe="")


def unsafe_name(name: str) -> str | None:
    """The raw name when ``name`` tries to leave its folder (or was marked so by the
    parser), else None."""
    if name.startswith(UNSAFE_NAME_PREFIX):
        return unquote(name[len(UNSAFE_NAME_PREFIX) :])
    return name if is_path_traversal(name) else None


def is_path_traversal(raw_name: str) -> bool:
    """True for names that point outside the folder they are put in: ``..`` parts, absolute
    paths, drive letters, and NUL or other control characters that cut names short."""
    name = html.unescape(raw_name)
    if _CONTROL.search(name):
        return True
    if name.startswith(("/", "\\", "~")) or _DRIVE.match(name):
        return True
    parts = re.split(r"[\\/]", name)
    return any(part.strip() in {"..", "..."} for part in parts)


def sanitise_original_name(raw_name: str) -> str:
    """The client's file name as metadata: its last path part, NFC, printable, no
    leading dots, at most MAX_ORIGINAL_NAME characters with the extension kept."""
    name = unicodedata.normalize("NFC", html.unescape(raw_name or ""))
    name = re.split(r"[\\/]", name)[-1]
    name = _CONTROL.sub("", name)
    name = "".join(ch for ch in name if ch.isprintable())
    name = _SPACES.sub(" ", name).strip().lstrip(".").strip()
    if len(name) > MAX_ORIGINAL_NAME:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = stem[: MAX_ORIGINAL_NAME - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_ORIGINAL_NAME]
    return name or "unnamed"


def download_name(original: str, *, extension: str, fallback: str = "image") -> str:
    """The name a file is served under: the uploader's name without its extension, then the
    extension of the type the server verified. ``invoice.html`` holding a JPEG is served as
    ``invoice.jpg``, so no viewer opens it as a web page by its name."""
    stem = posixpath.basename(sanitise_original_name(original))
    stem = stem.rsplit(".", 1)[0] if "." in stem.lstrip(".") else stem.lstrip(".")
    stem = stem.strip(" .") or fallback
    return f"{stem}.{extension}"
