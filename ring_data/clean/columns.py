"""The ingested rows on disk, one raw little-endian file per column, so a run's memory does not grow with
its token arrays (``ring-data clean`` on 10M rows): ingest appends each batch to the files, the
stages read the per-row columns whole (a few bytes a row) and the token columns by row range.

- per row: the token count and the hashes of :class:`~.normalize.Encoded`, ``has_ref``,
  ``reference_hash``, the id's length (the ids end to end in ``ids.bin``) and a domain code
  (the names in the stage's metadata);
- per token: ``flat`` (uint64 hashes) and ``is_number``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

ROW_COLUMNS = {
    "n_tokens": np.int64,
    "exact_hash": np.uint64,
    "digitless_hash": np.uint64,
    "digitless_len": np.int64,
    "numbers_hash": np.uint64,
    "has_ref": np.bool_,
    "reference_hash": np.uint64,
    "id_len": np.int32,
    "domain": np.uint16,
}
TOKEN_COLUMNS = {"flat": np.uint64, "is_number": np.bool_}
IDS = "ids.bin"


def column_path(folder: Path, name: str) -> Path:
    return folder / f"{name}.bin"


class ColumnWriter:
    """Appends arrays to the column files of ``folder`` (kept open until :meth:`close`)."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._files: dict[str, object] = {}

    def append(self, name: str, values: np.ndarray | bytes) -> None:
        fh = self._files.get(name)
        if fh is None:
            fh = self._files[name] = open(self.folder / (name if name == IDS else f"{name}.bin"), "ab")  # noqa: SIM115
        if isinstance(values, bytes):
            fh.write(values)
        else:
            dtype = ROW_COLUMNS.get(name) or TOKEN_COLUMNS[name]
            fh.write(np.ascontiguousarray(values, dtype=dtype).data)

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()
        for name in [*ROW_COLUMNS, *TOKEN_COLUMNS]:  # a part without rows still has every file
            column_path(self.folder, name).touch()
        (self.folder / IDS).touch()


def read_column(folder: Path, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Rows (or tokens) ``start:stop`` of a column, read into memory (not mapped: pages of a mapping
    would count in the process's RSS until it is closed)."""
    dtype = np.dtype(ROW_COLUMNS.get(name) or TOKEN_COLUMNS[name])
    path = column_path(folder, name)
    count = -1 if stop is None else max(0, stop - start)
    return np.fromfile(path, dtype=dtype, count=count, offset=start * dtype.itemsize)


def map_column(folder: Path, name: str) -> np.ndarray:
    """A whole column as a read-only memory map (an empty array for an empty file)."""
    dtype = np.dtype(ROW_COLUMNS.get(name) or TOKEN_COLUMNS[name])
    path = column_path(folder, name)
    if path.stat().st_size == 0:
        return np.zeros(0, dtype)
    return np.memmap(path, dtype=dtype, mode="r")


def append_columns(src: Path, dst: Path, domain_codes: np.ndarray | None = None) -> None:
    """Append the column files of ``src`` to those of ``dst`` (rows after dst's), then delete ``src``;
    ``domain_codes`` maps src's domain codes to dst's."""
    for name in [*ROW_COLUMNS, *TOKEN_COLUMNS, IDS]:
        source = src / name if name == IDS else column_path(src, name)
        target = dst / name if name == IDS else column_path(dst, name)
        with target.open("ab") as out:
            if name == "domain" and domain_codes is not None:
                out.write(domain_codes[read_column(src, "domain")].astype(np.uint16).data)
                continue
            with source.open("rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 24)
    shutil.rmtree(src)


class IdColumn(Sequence[str]):
    """Row ids, stored as their UTF-8 bytes end to end (about 10 bytes an id instead of a Python
    string's 60); ``ids[i]`` decodes one."""

    def __init__(self, blob: bytes, lengths: np.ndarray):
        self.blob = blob
        self.starts = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])

    @classmethod
    def of(cls, ids: Sequence[str]) -> IdColumn:
        encoded = [i.encode() for i in ids]
        return cls(b"".join(encoded), np.fromiter(map(len, encoded), np.int64, len(encoded)))

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return self.blob[self.starts[i] : self.starts[i + 1]].decode()

    def __iter__(self) -> Iterator[str]:
        blob, starts = self.blob, self.starts.tolist()
        for a, b in zip(starts[:-1], starts[1:]):
            yield blob[a:b].decode()

    def take(self, rows: np.ndarray) -> list[str]:
        """The ids of many rows at once (~5x faster than one lookup each)."""
        blob = self.blob
        return [
            blob[a:b].decode() for a, b in zip(self.starts[rows].tolist(), self.starts[rows + 1].tolist())
        ]

    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)


class DomainColumn(Sequence[str]):
    """Row domains as a code per row and the distinct names (two bytes a row)."""

    def __init__(self, codes: np.ndarray, names: list[str]):
        self.codes, self.names = codes, names

    @classmethod
    def of(cls, domains: Sequence[str]) -> DomainColumn:
        names: dict[str, int] = {}
        codes = np.fromiter((names.setdefault(d, len(names)) for d in domains), np.uint16, len(domains))
        return cls(codes, list(names))

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self.names[c] for c in self.codes[i].tolist()]
        return self.names[self.codes[i]]

    def __iter__(self) -> Iterator[str]:
        names = self.names
        for c in self.codes.tolist():
            yield names[c]

    def distinct(self) -> set[str]:
        return {self.names[c] for c in np.unique(self.codes).tolist()}


class TokenReader:
    """The token hashes of chosen rows: read from the ``flat`` column file a range of rows at a time,
    or taken from an array in memory (an ingest that kept its arrays)."""

    def __init__(
        self,
        offsets: np.ndarray,
        folder: Path | None = None,
        flat: np.ndarray | None = None,
        is_number: np.ndarray | None = None,
    ):
        self.offsets, self.folder, self.flat, self.is_number = offsets, folder, flat, is_number

    @classmethod
    def of(cls, ing) -> TokenReader:  # ing: ingest.Ingested (not imported: ingest imports this module)
        if ing.columns is not None:
            return cls(ing.enc.offsets, folder=ing.columns)
        return cls(ing.enc.offsets, flat=ing.enc.flat, is_number=ing.enc.is_number)

    def _read(self, start: int, stop: int) -> np.ndarray:
        return self.read("flat", start, stop)

    def read(self, name: str, start: int, stop: int) -> np.ndarray:
        """Tokens ``start:stop`` of the token column ``name`` (``flat`` or ``is_number``)."""
        if self.folder is None:
            return np.asarray(self.flat if name == "flat" else self.is_number)[start:stop]
        return read_column(self.folder, name, start, stop)

    def chunks(self, rows: np.ndarray, max_tokens: int) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """For increasing ``rows``: ``(i, j, flat, offsets)`` for consecutive runs ``rows[i:j]`` whose
        tokens lie in a stretch of at most ``max_tokens`` of the file (at least one row), with those
        rows' tokens end to end and their offsets."""
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        i = 0
        while i < len(rows):
            j = max(i + 1, int(np.searchsorted(ends, starts[i] + max_tokens, side="right")))
            lo, hi = int(starts[i]), int(ends[j - 1])
            block = self._read(lo, hi)
            lengths = ends[i:j] - starts[i:j]
            local = np.repeat(starts[i:j] - lo, lengths) + _positions_in_runs(lengths)
            offsets = np.zeros(j - i + 1, np.int64)
            np.cumsum(lengths, out=offsets[1:])
            yield i, j, block[local], offsets
            i = j

    def gather(self, rows: np.ndarray, max_tokens: int = 1 << 24) -> tuple[np.ndarray, np.ndarray]:
        """The tokens of ``rows`` (increasing) end to end, and their offsets."""
        parts = [flat for _, _, flat, _ in self.chunks(rows, max_tokens)]
        lengths = self.offsets[rows + 1] - self.offsets[rows]
        offsets = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return np.concatenate([np.zeros(0, np.uint64)] + parts), offsets


def _positions_in_runs(lengths: np.ndarray) -> np.ndarray:
    """0, 1, ..., n-1 for each run of length n, end to end: ``[2, 3] -> [0, 1, 0, 1, 2]``."""
    return np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
