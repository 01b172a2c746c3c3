"""Read a PyTorch checkpoint in the legacy (pre-1.6, not zip) format into numpy arrays.

No torch at run time: the state dict is unpickled by a restricted unpickler that knows only
the handful of globals a plain state dict refers to (OrderedDict, the tensor rebuild
functions, the typed storage classes) and refuses everything else, so a crafted file cannot
run code on load.

The legacy file is a run of pickles followed by raw bytes:
  1. the magic number, 2. the format's protocol version, 3. a dict of system info (byte
  order, type sizes), 4. the object itself, in which every tensor points at a storage by a
  persistent id, 5. the list of storage keys, in the order their bytes follow,
  6. for each storage, its element count (int64) and its raw bytes.
The storages' bytes come after the object that uses them, so tensors are placeholders until
every storage has been read.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# Typed storage classes as pickled by torch < 1.6 (and by later versions in legacy mode).
# bfloat16 has no numpy dtype; a state dict holding it is refused rather than misread.
_STORAGE_DTYPES = {
    "DoubleStorage": "f8",
    "FloatStorage": "f4",
    "HalfStorage": "f2",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class TorchPickleError(ValueError):
    """The file is not a legacy PyTorch checkpoint this reader accepts."""


@dataclass(frozen=True)
class _StorageType:
    name: str
    dtype: str


@dataclass
class _Storage:
    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _View:
    """A storage view (torch < 1.0 could serialise several views of one root storage)."""

    root: _Storage
    offset: int
    numel: int


@dataclass
class _PendingTensor:
    storage: _Storage | _View
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    extra: dict = field(default_factory=dict)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_unused):
    # requires_grad, backward hooks and (newer) metadata mean nothing for inference weights.
    return _PendingTensor(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _PendingTensor(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *_unused):
    return data


class _RestrictedUnpickler(pickle.Unpickler):
    _ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, file, byte_order: str):
        super().__init__(file)
        self.byte_order = byte_order
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        raise TorchPickleError(f"refusing to load {module}.{name} from a checkpoint")

    def persistent_load(self, saved_id):
        if not isinstance(saved_id, tuple) or not saved_id or saved_id[0] != "storage":
            raise TorchPickleError(f"unsupported persistent id {saved_id!r:.80}")
        _, storage_type, root_key, _location, numel, view_metadata = saved_id
        if not isinstance(storage_type, _StorageType):
            raise TorchPickleError(f"unsupported storage type {storage_type!r:.80}")
        root_key = str(root_key)
        root = self.storages.get(root_key)
        if root is None:
            dtype = np.dtype(storage_type.dtype).newbyteorder(self.byte_order)
            root = self.storages[root_key] = _Storage(root_key, dtype, int(numel))
        if view_metadata is None:
            return root
        _view_key, offset, view_numel = view_metadata
        return _View(root, int(offset), int(view_numel))


def _check_header(file: IO[bytes]) -> str:
    """Read the three header pickles; returns the byte order ('<' or '>') of the data."""
    try:
        magic = pickle.load(file)
        protocol = pickle.load(file)
        sys_info = pickle.load(file)
    except Exception as exc:
        raise TorchPickleError(f"not a legacy PyTorch checkpoint ({exc})") from None
    if magic != MAGIC_NUMBER:
        raise TorchPickleError("not a legacy PyTorch checkpoint (wrong magic number)")
    if protocol != PROTOCOL_VERSION:
        raise TorchPickleError(f"unsupported legacy checkpoint protocol {protocol!r}")
    if not isinstance(sys_info, dict):
        raise TorchPickleError("malformed checkpoint header")
    return "<" if sys_info.get("little_endian", True) else ">"


def _read_storages(file: IO[bytes], keys: list, storages: dict[str, _Storage], byte_order):
    remaining = _remaining_bytes(file)
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise TorchPickleError(f"checkpoint lists storage {key!r} that no tensor uses")
        header = file.read(8)
        if len(header) != 8:
            raise TorchPickleError("checkpoint is truncated (storage header missing)")
        numel = int(np.frombuffer(header, dtype=np.dtype("i8").newbyteorder(byte_order))[0])
        nbytes = numel * storage.dtype.itemsize
        if numel < 0 or numel != storage.numel or (remaining is not None and nbytes > remaining):
            raise TorchPickleError(f"storage {key!r} has a bad size ({numel} elements)")
        raw = file.read(nbytes)
        if len(raw) != nbytes:
            raise TorchPickleError("checkpoint is truncated (storage bytes missing)")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
        if remaining is not None:
            remaining -= 8 + nbytes


def _remaining_bytes(file: IO[bytes]) -> int | None:
    try:
        here = file.tell()
        end = file.seek(0, os.SEEK_END)
        file.seek(here)
        return end - here
    except (OSError, io.UnsupportedOperation):
        return None


def _materialize(tensor: _PendingTensor) -> np.ndarray:
    storage = tensor.storage
    offset = tensor.offset
    if isinstance(storage, _View):
        offset += storage.offset
        storage = storage.root
    if storage.data is None:
        raise TorchPickleError(f"storage {storage.key!r} has no data in the checkpoint")
    size, stride = tensor.size, tensor.stride
    if len(size) != len(stride) or any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise TorchPickleError("tensor with malformed size or stride")
    if 0 in size:
        return np.zeros(size, dtype=storage.dtype.newbyteorder("="))
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if offset < 0 or last >= storage.data.size:
        raise TorchPickleError("tensor reaches past the end of its storage")
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage.data[offset:], shape=size, strides=[s * itemsize for s in stride], writeable=False
    )
    # A native-order, contiguous copy that owns its memory (the storage buffer can go).
    return np.ascontiguousarray(view, dtype=storage.dtype.newbyteorder("="))


def _resolve(obj: Any) -> Any:
    if isinstance(obj, _PendingTensor):
        return _materialize(obj)
    if isinstance(obj, dict):
        resolved = type(obj)((key, _resolve(value)) for key, value in obj.items())
        if hasattr(obj, "__dict__"):
            resolved.__dict__.update(obj.__dict__)
        return resolved
    if isinstance(obj, list | tuple):
        return type(obj)(_resolve(item) for item in obj)
    return obj


def load_legacy_state_dict(source: str | os.PathLike | IO[bytes]) -> dict[str, np.ndarray]:
    """The object saved in a legacy PyTorch checkpoint (usually an ordered state dict), every
    tensor as a numpy array. Raises TorchPickleError for anything else, including the zip
    format of torch ≥ 1.6 and pickles that name globals outside the allow-list."""
    if isinstance(source, str | os.PathLike):
        with open(Path(source), "rb") as file:
            return load_legacy_state_dict(file)
    file = source
    start = file.read(4)
    if start == b"PK\x03\x04":
        raise TorchPickleError(
            "this is a zip-format checkpoint (torch >= 1.6); only the legacy format is read"
        )
    file.seek(-len(start), os.SEEK_CUR)
    byte_order = _check_header(file)
    unpickler = _RestrictedUnpickler(file, byte_order)
    try:
        result = unpickler.load()
        keys = pickle.load(file)
    except TorchPickleError:
        raise
    except Exception as exc:
        raise TorchPickleError(f"malformed legacy checkpoint ({exc})") from None
    if not isinstance(keys, list):
        raise TorchPickleError("malformed legacy checkpoint (storage key list missing)")
    _read_storages(file, keys, unpickler.storages, byte_order)
    return _resolve(result)
