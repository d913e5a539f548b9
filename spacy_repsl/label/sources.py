"""The input of `label`: JSONL, plain text, `.spacy` DocBins and Parquet, read as a stream.

Every document becomes an `Item` that knows its file and its line (JSONL, text) or row
(Parquet, DocBin; 1-based), so a bad record is reported where it is, the output can carry an
id, and a resumed run knows where to start. A record that cannot be labelled (a malformed
line, no text) is an `Item` with an `error`: the caller decides whether it skips or stops.
Memory stays bounded: lines are read one at a time, Parquet in row batches; a DocBin is one
msgpack blob, so it is read whole (one file at a time).
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ..storage.paths import why_unusable

FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".txt": "txt",
    ".text": "txt",
    ".spacy": "spacy",
    ".parquet": "parquet",
}
BOM = "\ufeff"
MAX_LENGTH = 10_000_000  # characters of one record labelled by default (spaCy's own limit is 1,000,000)
Position = Tuple[str, int]  # (file, line): the last item an earlier run wrote


class LabelInputError(ValueError):
    """Input that cannot be read as asked, with the fix in the message."""


@dataclass
class Item:
    source: str
    line: int
    text: Optional[str] = None
    fields: Dict[str, Any] = field(default_factory=dict)  # the input record (JSONL object, Parquet row)
    doc: Optional[bytes] = None  # a DocBin's doc, labelled as it is (its tokens and annotations kept)
    error: Optional[str] = None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise LabelInputError(
            f"{path}: unknown format {path.suffix!r}. Inputs are JSONL (.jsonl), plain text, one document per "
            "line (.txt), spaCy DocBins (.spacy) or Parquet (.parquet)."
        )
    return fmt


def input_files(spec: str) -> List[Path]:
    """A file, a directory (every file of a known format in it, recursively) or a glob; sorted,
    so the order (and a resumed run's position) is the same every time."""
    path = Path(spec)
    if path.is_file():
        format_of(path)
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS)
        where = f"directory {path}"
    else:
        found = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        for p in found:
            format_of(p)
        where = f"{spec!r}"
        if not any(c in spec for c in "*?["):
            raise LabelInputError(
                f"Input {why_unusable(path)}: give a file, a directory or a glob such as 'data/*.jsonl'."
            )
    if not found:
        raise LabelInputError(f"No input files in {where} (looked for {', '.join(sorted(FORMATS))}).")
    return found


def _names(path: Path) -> List[Path]:
    """A path as written (made absolute) and with every symlink and ".." resolved."""
    return list(dict.fromkeys([Path(os.path.abspath(path)), path.resolve()]))


def _within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_output_apart(output: Path, spec: str, files: Sequence[Path]) -> None:
    """Refuse an OUTPUT that is an input under any name, lies inside an input directory or glob,
    or contains an input, before anything is cleared or written: `--overwrite` would delete an
    input, and `--resume` (or the next run) would read the output's own records as input.

    Raises LabelInputError naming both paths and the fix.
    """
    outputs = _names(output)
    fix = "write the output outside the input (another directory, or another name)."
    for path in files:
        same = output.exists() and path.exists() and os.path.samefile(output, path)  # also a hard link
        for name in _names(path):
            for out in outputs:
                if same or name == out:
                    raise LabelInputError(f"OUTPUT {output} is also an input ({path}): {fix}")
                if _within(name, out):
                    raise LabelInputError(
                        f"OUTPUT {output} contains the input {path}: writing it would replace or "
                        f"delete that input; {fix}"
                    )
    root = Path(spec)
    if root.is_dir():
        for name in _names(root):
            for out in outputs:
                if _within(out, name):
                    raise LabelInputError(
                        f"OUTPUT {output} lies inside the input directory {spec}: its own records "
                        f"would be read as input (by --resume, or the next run); {fix}"
                    )
    elif any(c in spec for c in "*?["):
        pattern = os.path.abspath(spec)
        for out in outputs:  # the output itself, or a part file inside an output directory
            for candidate in (out, out / f"part-000001{out.suffix}"):
                if fnmatch.fnmatch(str(candidate), pattern):
                    raise LabelInputError(
                        f"OUTPUT {output} matches the input pattern {spec!r}: its own records "
                        f"would be read as input (by --resume, or the next run); {fix}"
                    )


def parquet() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as err:
        raise LabelInputError(
            'Parquet needs pyarrow: pip install "spacy-repsl[parquet]" (or pip install pyarrow).'
        ) from err
    return pyarrow


def read_file(path: Path, text_key: str = "text", after_line: int = 0) -> Iterator[Item]:
    """The items of one file, skipping those at or before `after_line`."""
    fmt = format_of(path)
    source = str(path)
    if fmt == "jsonl":
        yield from _jsonl(path, source, text_key, after_line)
    elif fmt == "txt":
        for number, line, error in _lines(path, after_line):
            yield Item(source, number, error=error) if error else Item(source, number, text=line.rstrip("\r\n"))
    elif fmt == "spacy":
        from spacy.tokens import DocBin

        try:
            docbin = DocBin(store_user_data=True).from_bytes(path.read_bytes())
        except Exception as err:  # a truncated or foreign file
            raise LabelInputError(f"{source}: not a readable spaCy DocBin ({err}).") from None
        from spacy.vocab import Vocab

        for number, doc in enumerate(docbin.get_docs(Vocab()), 1):
            if number > after_line:  # a DocBin that `label` wrote carries its records' other fields
                fields = {"text": doc.text, **(doc.user_data.get("fields") or {})}
                yield Item(source, number, text=doc.text, fields=fields, doc=doc.to_bytes())
    else:
        yield from _parquet(path, source, text_key, after_line)


def _lines(path: Path, after_line: int) -> Iterator[Tuple[int, str, Optional[str]]]:
    """(line number, text, error) for each line after `after_line`. Lines are split on bytes and
    decoded one at a time, so a byte that is not UTF-8 is a bad record at its own line (skippable),
    not an error for the whole file at the line where a decoding buffer happened to start. A
    leading byte-order mark is dropped: the one editors put at the start of a file, and those left
    at the start of a line by files joined with `cat`. A BOM is not text, so offsets in the output
    are relative to the line without it."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number <= after_line:
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                byte = raw[err.start : err.start + 1].hex().upper()
                yield (
                    number,
                    "",
                    f"not UTF-8 text (byte 0x{byte} at column {err.start + 1}: {err.reason}); convert the file to UTF-8",
                )
                continue
            yield number, line[1:] if line.startswith(BOM) else line, None


def _jsonl(path: Path, source: str, text_key: str, after_line: int) -> Iterator[Item]:
    for number, line, error in _lines(path, after_line):
        if error:
            yield Item(source, number, error=error)
            continue
        if not line.strip():
            yield Item(source, number, error="empty line (expected a JSON object)")
            continue
        try:
            record = json.loads(line.rstrip("\r\n"))
        except json.JSONDecodeError as err:
            yield Item(source, number, error=f"not valid JSON ({err.msg} at column {err.colno})")
            continue
        yield _record_item(record, source, number, text_key)


def _record_item(record: Any, source: str, number: int, text_key: str) -> Item:
    if not isinstance(record, dict):
        return Item(source, number, error=f"a JSON {type(record).__name__}, not an object with a {text_key!r} field")
    if text_key not in record:
        keys = ", ".join(repr(k) for k in list(record)[:5]) or "none"
        return Item(
            source, number, error=f"no {text_key!r} field (fields: {keys}); name the text field with --text-key"
        )
    text = record[text_key]
    if not isinstance(text, str):
        kind = "null" if text is None else type(text).__name__
        return Item(source, number, error=f"the {text_key!r} field is {kind}, not a string")
    return Item(source, number, text=text, fields=record)


def _parquet(path: Path, source: str, text_key: str, after_line: int) -> Iterator[Item]:
    pa = parquet()
    try:
        handle = pa.parquet.ParquetFile(path)
    except Exception as err:
        raise LabelInputError(f"{source}: not a readable Parquet file ({err}).") from None
    names = handle.schema_arrow.names
    if text_key not in names:
        raise LabelInputError(
            f"{source}: no column {text_key!r} (columns: {', '.join(names)}); name it with --text-key."
        )
    number = 0
    for batch in handle.iter_batches(batch_size=1024):
        for record in batch.to_pylist():
            number += 1
            if number > after_line:
                yield _record_item(record, source, number, text_key)


def count_items(files: Sequence[Path]) -> Optional[int]:
    """How many documents the input holds, when that is cheap to know (lines, Parquet metadata);
    None when a DocBin would have to be read whole."""
    total = 0
    for path in files:
        fmt = format_of(path)
        if fmt == "spacy":
            return None
        if fmt == "parquet":
            total += parquet().parquet.ParquetFile(path).metadata.num_rows
            continue
        lines, last = 0, b"\n"
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        total += lines + (last != b"\n")
    return total


def start_of(files: Sequence[Path], after: Optional[Position]) -> Tuple[int, int]:
    """(index of the file, line in it) after which a resumed run starts; (0, 0) for a new run."""
    if after is None:
        return 0, 0
    names = [str(p) for p in files]
    if after[0] not in names:
        raise LabelInputError(
            f"The output was written from {after[0]}, which is not among this run's inputs: resume with the same "
            "INPUT as the interrupted run, or write to a new OUTPUT."
        )
    return names.index(after[0]), after[1]


def read_items(files: Sequence[Path], text_key: str = "text", after: Optional[Position] = None) -> Iterator[Item]:
    """Every item of every file in order, starting after `after` (a resumed run)."""
    first, line = start_of(files, after)
    for k in range(first, len(files)):
        yield from read_file(files[k], text_key, line if k == first else 0)
