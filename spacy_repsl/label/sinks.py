"""The output of `label`: JSONL, Parquet or `.spacy`, written as a stream, resumable.

- JSONL (`.jsonl`): one file, a record per line, flushed as it goes. An interrupted run leaves
  complete lines and at most one partial last line; `--resume` cuts that line and goes on.
- Parquet (`.parquet`) and DocBin (`.spacy`): a directory of parts (`part-000001.parquet`, ...)
  of `part_size` documents each, every part written to a temporary name and renamed when
  complete, so memory stays bounded and a part is either whole or absent. pandas, pyarrow,
  Ray Data and `spacy train` (a directory of `.spacy` files) read such a directory as one
  corpus; so does `label` itself.
An existing output is never overwritten silently: `--resume` continues it, `--overwrite`
starts again.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from spacy.tokens import Doc

from .records import ID_FIELDS
from .sources import Item, LabelInputError, Position, parquet

ENCODER = json.JSONEncoder(ensure_ascii=False)  # UTF-8 as is: smaller files, readable text
OUTPUT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".spacy": "spacy"}


def output_format(path: Path) -> str:
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise LabelInputError(
            f"{path}: unknown output format {path.suffix!r}; name the output *.jsonl, *.parquet or *.spacy."
        )
    return fmt


class Sink:
    """Where labelled records go; `position()` is the last item a previous run completed."""

    def __init__(self, path: Path, *, resume: bool, overwrite: bool):
        self.path = path
        self.written = 0
        exists = (path.is_file() and path.stat().st_size > 0) or (path.is_dir() and any(path.iterdir()))
        if exists and not (resume or overwrite):
            raise LabelInputError(
                f"{path} already exists: pass --resume to continue an interrupted run into it, or --overwrite to "
                "label everything again (its current content is then replaced)."
            )
        self._lock = self.lock()
        if exists and overwrite and not resume:
            self.clear()

    def lock(self) -> int:
        """One run writes an output at a time: a second `label` (another process, another user) on the
        same OUTPUT is refused instead of interleaving its records. The lock goes with the process."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LabelInputError(
                f"Another `label` run is writing {self.path} right now: wait for it to finish, "
                "or write to another OUTPUT."
            ) from None
        return fd

    def unlock(self) -> None:
        if self._lock >= 0:
            os.close(self._lock)  # closing the descriptor releases the lock
            self._lock = -1

    def clear(self) -> None:
        raise NotImplementedError

    def position(self) -> Optional[Position]:
        raise NotImplementedError

    def write(self, item: Item, doc: Doc, record: Dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class JsonlSink(Sink):
    def __init__(self, path: Path, *, resume: bool = False, overwrite: bool = False):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()  # the file exists from the start, so it can be locked
        super().__init__(path, resume=resume, overwrite=overwrite)
        self._last = self._cut_partial_line() if resume else None
        self._handle = path.open("a", encoding="utf-8")

    def clear(self) -> None:
        os.truncate(self.path, 0)

    def _cut_partial_line(self) -> Optional[Position]:
        """Drop an unfinished last line (a killed run); the position of the last complete one."""
        with self.path.open("rb+") as handle:
            size = handle.seek(0, os.SEEK_END)
            end, tail = size, b""
            while end > 0 and tail.count(b"\n") < 2:
                start = max(0, end - (1 << 16))
                handle.seek(start)
                tail = handle.read(end - start) + tail
                end = start
            complete = tail.rfind(b"\n") + 1  # within the tail
            if end + complete < size:
                handle.truncate(end + complete)
            lines = tail[:complete].splitlines()
        if not lines:
            return None
        try:
            last = json.loads(lines[-1])
            return (last["_source"], int(last["_line"]))
        except (ValueError, KeyError, TypeError):
            raise LabelInputError(
                f"{self.path} does not end with a record `label` wrote (no _source/_line): it "
                "cannot be resumed; write to a new output or pass --overwrite."
            ) from None

    def position(self) -> Optional[Position]:
        return self._last

    def write(self, item: Item, doc: Doc, record: Dict[str, Any]) -> None:
        self._handle.write(ENCODER.encode(record) + "\n")
        self.written += 1

    def close(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self.unlock()


class PartsSink(Sink):
    """A directory of complete parts; subclasses write one part from its buffered records."""

    suffix = ""

    def __init__(self, path: Path, *, resume: bool = False, overwrite: bool = False, part_size: int = 10000):
        if path.is_file():
            raise LabelInputError(
                f"{path} is a file; a {self.suffix} output is a directory of parts: remove it or choose another name."
            )
        path.mkdir(parents=True, exist_ok=True)
        super().__init__(path, resume=resume, overwrite=overwrite)
        for leftover in path.glob(f"*{self.suffix}.tmp"):  # a part a killed run did not finish
            leftover.unlink()
        self.part_size = part_size
        self._buffer: List[Any] = []
        self._parts = len(self.parts())

    def parts(self) -> List[Path]:
        return sorted(self.path.glob(f"part-*{self.suffix}"))

    def clear(self) -> None:
        for part in self.path.glob(f"part-*{self.suffix}"):
            part.unlink()

    def write(self, item: Item, doc: Doc, record: Dict[str, Any]) -> None:
        self._buffer.append(self.entry(item, doc, record))
        self.written += 1
        if len(self._buffer) >= self.part_size:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        self._parts += 1
        final = self.path / f"part-{self._parts:06d}{self.suffix}"
        tmp = final.with_name(final.name + ".tmp")
        self.write_part(tmp, self._buffer)
        os.replace(tmp, final)
        self._buffer = []

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self.unlock()

    def entry(self, item: Item, doc: Doc, record: Dict[str, Any]) -> Any:
        raise NotImplementedError

    def write_part(self, path: Path, entries: List[Any]) -> None:
        raise NotImplementedError


class ParquetSink(PartsSink):
    suffix = ".parquet"

    def __init__(self, path: Path, **kwargs: Any):
        self._schema = None
        super().__init__(path, **kwargs)

    def entry(self, item: Item, doc: Doc, record: Dict[str, Any]) -> Any:
        return record

    def write_part(self, path: Path, entries: List[Any]) -> None:
        pa = parquet()
        if self._schema is None:
            existing = self.parts()
            self._schema = pa.parquet.read_schema(existing[-1]) if existing else self._infer(pa, entries)
        try:
            table = pa.Table.from_pylist(entries, schema=self._schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise LabelInputError(
                f"Parquet needs one type per field, and records around {entries[0]['_source']}:{entries[0]['_line']} "
                f"do not fit the types of the first part ({err}). Write JSONL instead, or make the field's type "
                "the same in every record."
            ) from None
        pa.parquet.write_table(table, path)

    @staticmethod
    def _infer(pa: Any, entries: List[Any]) -> Any:
        span = pa.struct(
            [
                ("start", pa.int64()),
                ("end", pa.int64()),
                ("label", pa.string()),
                ("token_start", pa.int64()),
                ("token_end", pa.int64()),
                ("text", pa.string()),
                ("score", pa.float64()),
            ]
        )
        fixed = {"spans": pa.list_(span), "_source": pa.string(), "_line": pa.int64()}
        inferred = pa.Table.from_pylist([{k: v for k, v in e.items() if k not in fixed} for e in entries]).schema
        fields = [pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type) for f in inferred]
        return pa.schema(fields + [pa.field(name, kind) for name, kind in fixed.items()])

    def position(self) -> Optional[Position]:
        parts = self.parts()
        if not parts:
            return None
        pa = parquet()
        table = pa.parquet.read_table(parts[-1], columns=list(ID_FIELDS))
        return (table.column("_source")[-1].as_py(), int(table.column("_line")[-1].as_py()))


class DocBinSink(PartsSink):
    suffix = ".spacy"

    def entry(self, item: Item, doc: Doc, record: Dict[str, Any]) -> Any:
        doc.user_data["_source"] = item.source
        doc.user_data["_line"] = item.line
        fields = {k: v for k, v in (item.fields or {}).items() if k != "text"}
        if fields:
            doc.user_data["fields"] = fields
        return doc

    def write_part(self, path: Path, entries: List[Any]) -> None:
        from spacy.tokens import DocBin

        path.write_bytes(DocBin(docs=entries, store_user_data=True).to_bytes())

    def position(self) -> Optional[Position]:
        parts = self.parts()
        if not parts:
            return None
        from spacy.tokens import DocBin
        from spacy.vocab import Vocab

        docs = list(DocBin(store_user_data=True).from_bytes(parts[-1].read_bytes()).get_docs(Vocab()))
        return (docs[-1].user_data["_source"], int(docs[-1].user_data["_line"])) if docs else None


def open_sink(path: Path, *, resume: bool, overwrite: bool, part_size: int = 10000) -> Sink:
    fmt = output_format(path)
    if fmt == "jsonl":
        return JsonlSink(path, resume=resume, overwrite=overwrite)
    cls = ParquetSink if fmt == "parquet" else DocBinSink
    return cls(path, resume=resume, overwrite=overwrite, part_size=part_size)
