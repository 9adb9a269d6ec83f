"""Reading and writing tabular data the way processing scripts write it.

A dataset is a file, a folder of shards (`part-00000.csv`, any names), or a folder of split
subfolders (`train/`, `test/`, ...) holding shards. Reports, metrics and signature files that
scripts write beside their data are not read (`_data_files`, `_split_folders`). Formats: CSV, TSV, Parquet, JSON lines
(and JSON arrays), each optionally compressed (gzip, bz2, zstd, lz4), detected from content,
not from names. pyarrow is imported inside the functions that need it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("csv", "tsv", "parquet", "json")
EXTENSIONS = {"csv": "csv", "tsv": "tsv", "parquet": "parquet", "json": "jsonl"}
# Codec name (pyarrow) -> (magic bytes, file extension).
CODECS = {"gzip": (b"\x1f\x8b", "gz"), "bz2": (b"BZh", "bz2"),
          "zstd": (b"\x28\xb5\x2f\xfd", "zst"), "lz4": (b"\x04\x22\x4d\x18", "lz4")}
JUNK_SUFFIXES = (".crc", ".md5", ".sha256")
# File extensions that say "data" (before a codec's .gz, .bz2, ...). A `.json` may as well be a
# report (metrics.json), so it only counts as data where no other data format is beside it.
DATA_EXTENSIONS = {"csv": "csv", "tsv": "tsv", "parquet": "parquet", "pq": "parquet",
                   "jsonl": "jsonl", "ndjson": "jsonl", "json": "json"}
SNIFF_BYTES = 64 * 1024
PLACEHOLDERS = {"i": "the shard number, as in part-{i:05d}.csv",
                "split": "the split's name, as in {split}_processed_data.csv"}
PATTERN_FIX = ("use " + " and ".join(f"{{{k}}} ({v})" for k, v in PLACEHOLDERS.items())
               + "; write {{ and }} for a literal brace")


@dataclass
class Layout:
    """How a dataset sits on disk. `file_pattern` defaults to `part-{i:05d}.<ext>[.<codec ext>]`;
    see PLACEHOLDERS. `per_split` holds the layout of each split that differs from this one
    (another format or naming, as detected in a sample), each with `splits=[<that split>]`."""

    format: str = "csv"
    compression: str | None = None  # file-level codec; Parquet compresses internally
    shards: int = 1
    splits: list[str] = field(default_factory=list)
    header: bool = True  # column names in the first line (CSV/TSV; always True otherwise)
    file_pattern: str = ""
    per_split: dict[str, Layout] = field(default_factory=dict)

    def __post_init__(self):
        if self.format not in FORMATS:
            raise UserError(f"unknown data format {self.format!r}", field="format",
                            fix=f"use one of {', '.join(FORMATS)}")
        if self.compression is not None and self.compression not in CODECS:
            raise UserError(f"unknown compression {self.compression!r}", field="compression",
                            fix=f"use one of {', '.join(CODECS)} or None")
        # layouts come from YAML too: a wrong type is a UserError, not a TypeError when writing
        if isinstance(self.shards, bool) or not isinstance(self.shards, int) or self.shards < 1:
            raise UserError(f"shards must be a whole number >= 1, got {self.shards!r}",
                            field="shards", fix="write e.g. `shards: 2`")
        if not isinstance(self.splits, list) or not all(isinstance(s, str) and s
                                                          for s in self.splits):
            raise UserError(f"splits must be a list of names, got {self.splits!r}", field="splits",
                            fix="write e.g. `splits: [train, test, val]`")
        if not isinstance(self.file_pattern, str):
            raise UserError(f"file_pattern must be text, got {self.file_pattern!r}",
                            field="file_pattern", fix=PATTERN_FIX)
        if not self.file_pattern:
            self.file_pattern = f"part-{{i:05d}}{file_extension(self.format, self.compression)}"
        self._check_pattern()

    def _check_pattern(self) -> None:
        """Every placeholder known and formattable now, not as a KeyError when files are written."""
        pattern = self.file_pattern

        def bad(message: str):
            return UserError(f"file_pattern {pattern!r}: {message}", field="file_pattern",
                             fix=PATTERN_FIX)
        try:
            names = placeholders(pattern)
            if unknown := sorted(names - set(PLACEHOLDERS)):   # also {}, {0}, {i.x}
                raise bad(f"unknown placeholder {{{unknown[0]}}}")
            pattern.format(i=0, split="train")                  # format specs: {i:05q}
        except (ValueError, IndexError) as e:
            raise bad(str(e)) from None
        if "/" in pattern or "\\" in pattern:
            raise bad("a file name, not a path (the split is the folder already)")
        if "split" in names and not self.splits:
            raise bad("{split} needs splits to name the files by; give `splits: [train, ...]` "
                      "or leave {split} out")
        if self.shards > 1 and "i" not in names:
            raise UserError(f"{self.shards} shards need a numbered file pattern",
                            field="file_pattern", fix="use a pattern like 'part-{i:05d}.csv'")


def file_extension(format: str, compression: str | None = None) -> str:
    """`.csv`, `.tsv.gz`, `.parquet`: how the default file pattern ends."""
    return f".{EXTENSIONS[format]}" + (f".{CODECS[compression][1]}" if compression else "")


def placeholders(pattern: str) -> set[str]:
    """The field names in a str.format pattern; ValueError if its braces don't pair up."""
    return {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}


@dataclass
class SampleInfo:
    total_rows: int
    sample_rows: int
    method: str


# ---------------------------------------------------------------- finding files


def is_junk(rel: str, size: int) -> bool:
    """Not data: an empty object, a folder marker, a checksum, or a marker or hidden file
    (`_SUCCESS`, `.part-0.crc`) or anything under a hidden folder. `rel` is the path inside the
    dataset, '/'-separated: a local file's name, or an S3 key below the output's prefix."""
    return (not size or rel.endswith(("/", *JUNK_SUFFIXES))
            or any(part.startswith((".", "_")) for part in rel.split("/")))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not is_junk(p.name, p.stat().st_size))


def _named_format(name: str) -> str | None:
    """The data format a file name declares (DATA_EXTENSIONS), "" for no extension, None for
    any other (report.txt, model.pkl)."""
    for _, codec_ext in CODECS.values():
        name = name.removesuffix(f".{codec_ext}")
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    return DATA_EXTENSIONS.get(ext) if ext else ""


def _data_files(folder: Path) -> list[Path]:
    """The data files in `folder`. Scripts write reports, metrics and signature/metadata files
    beside their data, so names decide where they tell: files named as data are the data, and
    a `.json` beside data of another format is not. With no file named as data, files without
    an extension are (shards named `part-00000`), else every file; their content decides."""
    files = _files(folder)
    named = {f: _named_format(f.name) for f in files}
    data = [f for f in files if named[f]]
    if any(named[f] != "json" for f in data):
        data = [f for f in data if named[f] != "json"]
    return data or [f for f in files if named[f] == ""] or files


def _split_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise UserError("no such file or folder", file=str(path),
                        fix="check the path; the producing step may not have written this output")
    return path


def check_not_empty(path: str | Path) -> None:
    """A file, or a folder holding at least one file that is not junk (at any depth)."""
    path = _existing(path)
    if path.is_dir() and not any(p.is_file() and not is_junk(p.relative_to(path).as_posix(), p.stat().st_size)
                                 for p in path.rglob("*")):
        raise UserError("the folder holds no data (_SUCCESS, .crc, hidden and empty files are ignored)",
                        file=str(path), fix="point at the folder that holds the data, or put the data there")


def _shards(folder: Path) -> list[Path]:
    files = _data_files(folder)
    if not files:
        raise UserError("no data files in this folder", file=str(folder),
                        fix="check that the producing step wrote its output here "
                            "(_SUCCESS, .crc, hidden and empty files are ignored)")
    return files


def _split_folders(path: Path) -> dict[str, Path]:
    """{"": path} for a file or a flat folder; {split: subfolder} for a folder of splits."""
    if path.is_file():
        return {"": path}
    subdirs = _split_dirs(path)
    if not subdirs:
        return {"": path}
    # Beside split folders, reports, metrics.json and extensionless signature files are not
    # data; a file named as tabular data is ambiguous (a split of its own? stray output?).
    if stray := [f for f in _files(path) if _named_format(f.name) not in (None, "", "json")]:
        raise UserError(f"a data file next to split folders ({stray[0].name} beside "
                        f"{subdirs[0].name}/): which split is it?", file=str(stray[0]),
                        fix="move it into a split folder, or out of this folder; files not named "
                            "as data (.txt, .json, no extension) beside split folders are ignored")
    return {d.name: d for d in subdirs}


# ---------------------------------------------------------------- sniffing one file


@dataclass
class _FileFormat:
    format: str
    compression: str | None
    header: bool


def _sniff(file: Path) -> _FileFormat:
    """Format from content: magic bytes for codecs and Parquet, first characters otherwise."""
    import pyarrow as pa

    with open(file, "rb") as f:
        magic = f.read(4)
    if magic == b"PAR1":
        return _FileFormat("parquet", None, True)
    codec = next((name for name, (m, _) in CODECS.items() if magic.startswith(m)), None)
    with pa.input_stream(str(file), compression=codec) as stream:
        head = stream.read(SNIFF_BYTES)
    if b"\x00" in head:
        raise UserError("not a data file (binary content; expected CSV, TSV, Parquet or JSON)",
                        file=str(file), fix="move non-data files out of the data folder")
    text = head.decode("utf-8", errors="replace")
    first = text.lstrip()[:1]
    if first in ("{", "["):
        return _FileFormat("json", codec, True)
    first_line = text.splitlines()[0] if text else ""
    is_tsv = first_line.count("\t") > first_line.count(",")
    fields = next(csv.reader([first_line], delimiter="\t" if is_tsv else ","), [])
    return _FileFormat("tsv" if is_tsv else "csv", codec, not any(map(_is_number, fields)))


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- reading


def _read_file(file: Path, columns: list[str] | None) -> pa.Table:
    import pyarrow as pa

    kind = _sniff(file)
    try:
        if kind.format == "parquet":
            import pyarrow.parquet as pq
            table = pq.read_table(file)
        elif kind.format == "json":
            table = _read_json(file, kind.compression)
        else:
            import pyarrow.csv as pacsv
            with pa.input_stream(str(file), compression=kind.compression) as stream:
                table = pacsv.read_csv(
                    stream,
                    read_options=pacsv.ReadOptions(autogenerate_column_names=not kind.header),
                    parse_options=pacsv.ParseOptions(delimiter="\t" if kind.format == "tsv" else ","),
                    # an empty field is a missing value, as pandas.read_csv (what scripts use) reads it
                    convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    except (pa.ArrowInvalid, ValueError) as e:
        raise UserError(f"cannot read as {kind.format}: {str(e).splitlines()[0]}", file=str(file),
                        fix="move non-data files out of the data folder, or fix the file") from None
    table = _decoded(table)
    if columns is None:
        return table
    if missing := [c for c in columns if c not in table.column_names]:
        raise UserError(f"no column(s) {missing}; columns are {table.column_names}",
                        file=str(file), field=missing[0], fix="ask for columns the data has")
    return table.select(columns)


def _decoded(table: pa.Table) -> pa.Table:
    """Dictionary-encoded columns (pyarrow, Spark, pandas categoricals in Parquet) as their plain
    values: pyarrow compute has no dictionary kernels for profiling (count_distinct, min_max),
    shards may encode a column differently, and suites describe values, not the encoding."""
    import pyarrow as pa

    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type))
    return table


def _read_json(file: Path, compression: str | None) -> pa.Table:
    """JSON lines with pyarrow; a JSON array of records with the json module."""
    import pyarrow as pa
    import pyarrow.json as pajson

    with pa.input_stream(str(file), compression=compression) as stream:
        data = stream.read()
    if data.lstrip()[:1] != b"[":
        return pajson.read_json(io.BytesIO(data))
    records = json.loads(data)
    if not all(isinstance(r, dict) for r in records):
        raise ValueError("a JSON array of data must hold objects (one per row)")
    return pa.Table.from_pylist(records)


def _concat(tables: list[pa.Table], files: list[Path]) -> pa.Table:
    """One table from shards that must share column names; types are unified (int64 + double)."""
    import pyarrow as pa

    first, first_file = tables[0], files[0]
    for table, file in zip(tables[1:], files[1:]):
        if set(table.column_names) != set(first.column_names):
            only_first = sorted(set(first.column_names) - set(table.column_names))
            only_this = sorted(set(table.column_names) - set(first.column_names))
            raise UserError(
                f"shards disagree on columns: only in {first_file.name}: {only_first}; "
                f"only in {file.name}: {only_this}", file=str(file.parent),
                fix="write every shard with the same columns, or move files that are not "
                    "data (reports, metrics) out of the folder")
    try:
        return pa.concat_tables([t.select(first.column_names) for t in tables],
                                promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        for table, file in zip(tables[1:], files[1:]):
            for name in first.column_names:
                a, b = first.schema.field(name).type, table.schema.field(name).type
                if a != b and not (pa.types.is_null(a) or pa.types.is_null(b)):
                    raise UserError(f"shards disagree on the type of column {name!r}: {a} in "
                                    f"{first_file.name}, {b} in {file.name}",
                                    file=str(file.parent), field=name,
                                    fix=f"write {name!r} with one type in every shard") from None
        raise


def _read_folder(folder: Path, columns: list[str] | None) -> pa.Table:
    files = [folder] if folder.is_file() else _shards(folder)
    return _concat([_read_file(f, columns) for f in files], files)


def read_splits(path: str | Path, columns: list[str] | None = None) -> dict[str, pa.Table]:
    """One table per split subfolder (`train/`, `test/`, ...), or `{"": table}` when unsplit."""
    return {name: _read_folder(folder, columns)
            for name, folder in _split_folders(_existing(path)).items()}


def read_table(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """A file or folder of shards as one table; split subfolders are concatenated."""
    splits = read_splits(path, columns)
    if len(splits) == 1:
        return next(iter(splits.values()))
    return _concat(list(splits.values()), [Path(path) / name for name in splits])


def detect_layout(path: str | Path) -> Layout:
    """The layout of the data at `path`, to write look-alike data: the first split's, with the
    split's name in file names as {split} (train/train_processed_data.csv), and `per_split`
    for each split that still differs (format, codec, shards, naming)."""
    folders = _split_folders(_existing(path))
    # a split folder the step left empty is still a split; it is written like the others
    full = {s: f for s, f in folders.items() if f.is_file() or _files(f)} or folders
    layouts = {split: _folder_layout(folder, split) for split, folder in full.items()}
    first = next(iter(layouts.values()))

    def shape(layout: Layout) -> tuple:
        return (layout.format, layout.compression, layout.shards, layout.header,
                layout.file_pattern)
    return dataclasses.replace(first, splits=[s for s in folders if s], per_split={
        s: layout for s, layout in layouts.items() if shape(layout) != shape(first)})


def _folder_layout(folder: Path, split: str) -> Layout:
    files = [folder] if folder.is_file() else _shards(folder)
    kind = _sniff(files[0])
    names = [f.name.replace("{", "{{").replace("}", "}}") for f in files]
    if split:   # the split's name as a whole word only: split `a` leaves `data.csv` alone
        names = [re.sub(rf"(?<![A-Za-z0-9]){re.escape(split)}(?![A-Za-z0-9])", "{split}", n)
                 for n in names]
    return Layout(format=kind.format, compression=kind.compression, shards=len(files),
                  splits=[split] if split else [], header=kind.header,
                  file_pattern=_file_pattern(names))


def _file_pattern(names: list[str]) -> str:
    """`part-00003.csv.gz` -> `part-{i:05d}.csv.gz`; one unnumbered file keeps its name. Names
    come with their braces escaped and may hold {split}."""
    parts = [re.fullmatch(r"(\D*?)(\d+)(.*)", n) for n in names]
    if all(parts) and len({(m[1], len(m[2]), m[3]) for m in parts}) == 1:
        prefix, digits, suffix = parts[0].groups()
        return f"{prefix}{{i:0{len(digits)}d}}{suffix}"
    if len(names) == 1:
        return names[0]
    return ""  # irregular names: Layout picks the default pattern


# ---------------------------------------------------------------- writing


def write_table(data: Any, folder: str | Path, layout: Layout | None = None, *,
                split_column: str | None = None, split: str | None = None) -> list[Path]:
    """Write a pyarrow Table or pandas DataFrame into `folder` in `layout` (default: one CSV).

    With `split_column`, rows go to `folder/<value>/` per distinct value, without that column;
    with `split`, every row goes to `folder/<split>/`. Each split is written in its own layout.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    layout = layout or Layout()
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    folder = Path(folder)
    if split is not None:
        return _write_split(table, folder, layout, split)
    if split_column is None:
        return _write_shards(table, folder, layout, "")
    if split_column not in table.column_names:
        raise UserError(f"no column {split_column!r} to split on", field="split_column",
                        fix=f"use one of {table.column_names}")
    values = table.column(split_column)
    rest = table.drop_columns([split_column])
    found = set(values.unique().to_pylist())
    order = [s for s in layout.splits if s in found] + sorted(found - set(layout.splits), key=str)
    return [path for value in order
            for path in _write_split(rest.filter(pc.equal(values, value)), folder, layout,
                                     str(value))]


def _write_split(table: pa.Table, folder: Path, layout: Layout, split: str) -> list[Path]:
    return _write_shards(table, folder / split, layout.per_split.get(split, layout), split)


def _write_shards(table: pa.Table, folder: Path, layout: Layout, split: str) -> list[Path]:
    if not split and "split" in placeholders(layout.file_pattern):
        # else the name starts `_processed_data.csv`: a marker file, ignored when read back
        raise UserError(f"file_pattern {layout.file_pattern!r} names files by {{split}}, but "
                        "this data is written without splits", field="file_pattern",
                        fix="write it with splits (split_column), or leave {split} out")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(layout.shards):
        start, stop = (table.num_rows * k // layout.shards for k in (i, i + 1))
        path = folder / layout.file_pattern.format(i=i, split=split)
        _write_file(table.slice(start, stop - start), path, layout)
        paths.append(path)
    return paths


def _write_file(table: pa.Table, path: Path, layout: Layout) -> None:
    import pyarrow as pa

    if layout.format == "parquet":
        import pyarrow.parquet as pq
        pq.write_table(table, path)
        return
    with pa.output_stream(str(path), compression=layout.compression) as out:
        if layout.format == "json":
            out.write(table.to_pandas().to_json(orient="records", lines=True,
                                                date_format="iso").encode())
        else:
            import pyarrow.csv as pacsv
            pacsv.write_csv(table, out, pacsv.WriteOptions(
                include_header=layout.header, delimiter="\t" if layout.format == "tsv" else ","))


# ---------------------------------------------------------------- sampling


def sample(table: pa.Table, max_rows: int | None, seed: int = 0) -> tuple[pa.Table, SampleInfo]:
    """At most `max_rows` rows, chosen uniformly at random; same table + seed -> same rows."""
    import numpy as np

    total = table.num_rows
    if max_rows is None or total <= max_rows:
        return table, SampleInfo(total, total, "all rows")
    rows = np.sort(np.random.default_rng(seed).choice(total, size=max_rows, replace=False))
    return table.take(rows), SampleInfo(total, max_rows,
                                        f"uniform random rows without replacement (seed {seed})")
