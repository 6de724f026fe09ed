"""Arrays of a safetensors file, read lazily: each one memory-mapped when asked for, never all at once.

A Run of SE-ResNet-50 over ImageNet val keeps 3.0 GB of float32 gates (16 blocks, 15,104 channels,
50,000 images). Reading the whole file (``safetensors.numpy.load_file``) puts all of it in memory
when the app opens the Run; a page that shows one block needs only that block, one image's row
needs one page of it. :class:`StoredArrays` parses the file's header once and hands out a
read-only :class:`numpy.memmap` per array on demand, so only the bytes a page touches are read
(and the operating system may drop them again when memory is short: they are the file's pages,
not the process's). A memmap is made anew on every access and unmapped when its last reference
goes, so nothing stays mapped between pages.

The safetensors layout (https://github.com/huggingface/safetensors): 8 bytes little-endian header
length ``n``, ``n`` bytes of JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}``, then
the data, each array C-contiguous at ``8 + n + begin``.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

__all__ = ["StoredArrays", "PrefixedArrays"]

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "I16": np.int16, "I8": np.int8, "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64,
           "BOOL": np.bool_}
_MAX_HEADER = 100 * 2**20  # safetensors' own limit on a header's size


class StoredArrays(Mapping[str, np.ndarray]):
    """The arrays of one safetensors file by name, each a read-only memmap made when it is looked up.

    Args:
        path: the ``.safetensors`` file.

    Raises:
        ValueError: the file is not a safetensors file, or holds a dtype numpy cannot map.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # Held open for the mapping's life: memmaps read this file even when the folder is written again
        # (a Run saved over the one being read swaps in a new file; this one's offsets stay right for it).
        self._file = open(self.path, "rb")  # noqa: SIM115 - closed by the garbage collector with this object
        self.size = size = os.fstat(self._file.fileno()).st_size  # of the file opened, whatever the folder holds later
        head = self._file.read(8)
        if len(head) < 8:
            raise ValueError(f"{self.path.name} is not a safetensors file (shorter than its header)")
        (n,) = struct.unpack("<Q", head)
        if n > min(_MAX_HEADER, size - 8):
            raise ValueError(f"{self.path.name} is not a safetensors file (its header length {n} does not fit "
                             f"the file's {size} bytes)")
        try:
            header = json.loads(self._file.read(n))
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"{self.path.name} is not a safetensors file (its header is not JSON)") from e
        if not isinstance(header, dict):
            raise ValueError(f"{self.path.name} is not a safetensors file (its header is not a JSON object)")
        self._start = 8 + n
        self._entries = {k: v for k, v in header.items() if k != "__metadata__"}
        for name, entry in self._entries.items():
            try:
                dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"{self.path.name}: array {name!r} has no dtype, shape or offsets") from e
            if dtype not in _DTYPES:
                raise ValueError(f"{self.path.name}: array {name!r} has dtype {dtype}, which numpy cannot map")
            if self._start + end > size or end - begin != np.dtype(_DTYPES[dtype]).itemsize * int(np.prod(shape)):
                raise ValueError(f"{self.path.name} is cut short or damaged: array {name!r} does not fit the "
                                 f"file's {size} bytes (copied only in part?)")

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> np.ndarray:
        entry = self._entries[name]
        shape = tuple(entry["shape"])
        begin, end = entry["data_offsets"]
        dtype = np.dtype(_DTYPES[entry["dtype"]]).newbyteorder("<")
        if end == begin:  # np.memmap cannot map zero bytes
            return np.zeros(shape, dtype)
        return np.memmap(self._file, dtype=dtype, mode="r", offset=self._start + begin, shape=shape)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def shape(self, name: str) -> tuple[int, ...]:
        """An array's shape, from the header (nothing read)."""
        return tuple(self._entries[name]["shape"])

    def nbytes(self, name: str) -> int:
        """An array's size in bytes, from the header."""
        begin, end = self._entries[name]["data_offsets"]
        return int(end - begin)


class PrefixedArrays(Mapping[str, np.ndarray]):
    """The arrays of ``stored`` whose names start with ``prefix``, by the rest of their name
    (``gate/SE_4_2`` as ``SE_4_2``), in the order of ``names``; each read when it is looked up."""

    def __init__(self, stored: StoredArrays, prefix: str, names: list[str]) -> None:
        self.stored, self.prefix = stored, prefix
        self.names = [n for n in names if prefix + n in stored]

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise KeyError(name)
        return self.stored[self.prefix + name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def shape(self, name: str) -> tuple[int, ...]:
        """An array's shape without reading it."""
        return self.stored.shape(self.prefix + name)

    def nbytes(self) -> int:
        """The bytes of all these arrays on disk."""
        return sum(self.stored.nbytes(self.prefix + n) for n in self.names)
