"""Row samples of S3 data read with ranged GETs: only the bytes the rows need cross the network.

- Listing stops once `window` data objects of a split are known (one ListObjectsV2 page).
- Rows go to the splits in proportion to their bytes (each split keeps at least one), and within a
  split to `pieces` places spread evenly over its bytes, from an offset the seed draws: many small
  files give rows from many files, one big file rows from many places in it.
- Parquet: pyarrow reads the footer, then, of each row group a piece falls in, only the pages its
  rows need (a buffered reader over ranged GETs). Each row group costs about a page per column, so
  the pieces of an object share as few row groups as keep the read under SPREAD_SHARE of it.
- CSV, TSV, JSON lines: the first range gives the header and the bytes per row; each piece is a
  range at its offset, realigned to the next line start (a CSV line that doesn't parse to the
  header's field count, cut inside a quoted field, is dropped).
- gzip'd text can only be read from its start: the first rows, streamed in growing ranges.
- Other codecs and JSON arrays are taken whole (within the byte budget).

Every GET carries the ETag listed (If-Match): an object overwritten while it is read fails
instead of mixing two versions. The sample is written in the source's own format and names.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from .datasets import CODECS, DATA_EXTENSIONS, _is_number, is_junk
from .s3_anonymize import Anonymizer

LIST_WINDOW = 1000          # objects listed per split at most (one ListObjectsV2 page)
MAX_PIECES = 16             # places rows are taken from, per split
PROBE_BYTES = 8 * 1024      # the first range of a text object: header, bytes per row
GZIP_CHUNK = 256 * 1024
PARQUET_BUFFER = 256 * 1024
PAGE_BYTES = 2**20          # a Parquet data page, as writers make them by default
SPREAD_SHARE = 0.004        # a Parquet object's pieces spread over row groups up to this share of it
CODEC_EXTENSIONS = {ext: name for name, (_, ext) in CODECS.items()}


@dataclass
class Obj:
    rel: str            # path below the sampled prefix
    key: str
    size: int
    etag: str
    last_modified: str

    @property
    def split(self) -> str:
        return self.rel.split("/", 1)[0] if "/" in self.rel else ""


def _obj(entry: dict, rel: str) -> Obj:
    return Obj(rel, entry["Key"], entry["Size"], entry.get("ETag", ""), str(entry.get("LastModified", "")))


# ---------------------------------------------------------------- listing


def list_objects(s3: Any, bucket: str, key: str, window: int | None) -> tuple[list[Obj], list[str]]:
    """The data objects under `key` (a prefix, or one object) and the splits whose listing stopped
    at `window` objects (None: list everything)."""
    prefix = f"{key}/" if key else ""
    objects, splits, truncated = [], [], []
    top = _pages(s3, bucket, prefix, window, delimiter="/")
    for page in top:
        objects += [_obj(e, e["Key"][len(prefix):]) for e in page.get("Contents", [])]
        splits += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    if top.stopped:
        truncated.append("")
    for split in splits:
        if is_junk(split[len(prefix):].rstrip("/"), 1):
            continue
        pages = _pages(s3, bucket, split, window)
        for page in pages:
            objects += [_obj(e, e["Key"][len(prefix):]) for e in page.get("Contents", [])]
        if pages.stopped:
            truncated.append(split[len(prefix):].rstrip("/"))
    objects = [o for o in objects if not is_junk(o.rel, o.size)]
    if not objects and key:   # the URI may name one object
        for page in _pages(s3, bucket, key, 1):
            objects += [_obj(e, key.rsplit("/", 1)[-1]) for e in page.get("Contents", []) if e["Key"] == key]
    return objects, truncated


class _pages:
    """ListObjectsV2 pages under `prefix`, stopping once `window` data objects were seen."""

    def __init__(self, s3, bucket, prefix, window, delimiter=None):
        self.args = {"Bucket": bucket, "Prefix": prefix, **({"Delimiter": delimiter} if delimiter else {})}
        self.s3, self.window, self.stopped = s3, window, False

    def __iter__(self):
        seen, token = 0, None
        while True:
            page_size = 1000 if self.window is None else max(1, min(1000, self.window - seen))
            page = self.s3.list_objects_v2(**self.args, MaxKeys=page_size,
                                           **({"ContinuationToken": token} if token else {}))
            yield page
            seen += len(page.get("Contents", []))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            if self.window is not None and seen >= self.window:
                self.stopped = True
                return


# ---------------------------------------------------------------- planning


def plan(objects: list[Obj], rows: int, seed: int) -> dict[str, list[tuple[float, int]]]:
    """rel -> [(fraction of the object where a piece starts, rows of that piece)]."""
    rng = random.Random(seed)
    by_split: dict[str, list[Obj]] = {}
    for o in sorted(objects, key=lambda o: o.rel):
        by_split.setdefault(o.split, []).append(o)
    quotas = apportion(rows, {s: sum(o.size for o in objs) for s, objs in by_split.items()})
    pieces: dict[str, list[tuple[float, int]]] = {}
    for split, objs in by_split.items():
        quota = quotas[split]
        k, total, u = min(quota, MAX_PIECES), sum(o.size for o in objs), rng.random()
        starts, acc = [], 0
        for o in objs:
            starts.append(acc)
            acc += o.size
        i = 0
        for j in range(k):
            pos = (j + u) / k * total
            while i + 1 < len(objs) and starts[i + 1] <= pos:
                i += 1
            pieces.setdefault(objs[i].rel, []).append(((pos - starts[i]) / objs[i].size,
                                                       quota // k + (j < quota % k)))
    return pieces


def apportion(rows: int, weights: dict[str, int]) -> dict[str, int]:
    """`rows` shared in proportion to `weights` (largest remainders), at least one each."""
    names = sorted(weights)
    total = sum(weights.values()) or 1
    share = {n: max(1, rows * weights[n] // total) for n in names}
    left = rows - sum(share.values())
    for n in sorted(names, key=lambda n: -(rows * weights[n] % total))[:max(0, left)]:
        share[n] += 1
    return share


# ---------------------------------------------------------------- reading


class Reader:
    """Ranged GETs of one bucket's objects, each pinned to the listed ETag, counted against the
    byte budget."""

    def __init__(self, s3: Any, bucket: str, max_bytes: int, uri: str):
        self.s3, self.bucket, self.max_bytes, self.uri = s3, bucket, max_bytes, uri
        self.bytes, self.per_object = 0, {}
        self._lock = threading.Lock()

    def _spend(self, obj: Obj, n: int) -> None:
        with self._lock:
            if self.bytes + n > self.max_bytes:
                raise UserError(f"this sample needs more than the {self.max_bytes / 2**20:.1f} MiB "
                                f"budget ({(self.bytes + n) / 2**20:.1f} MiB read so far)", file=self.uri,
                                fix="raise the budget (--max-mb, in MiB; max_download_size) or ask "
                                    "for fewer rows (--rows)")
            self.bytes += n
            self.per_object[obj.rel] = self.per_object.get(obj.rel, 0) + n

    def get(self, obj: Obj, start: int = 0, end: int | None = None) -> bytes:
        end = obj.size if end is None else min(end, obj.size)
        if start >= end:
            return b""
        self._spend(obj, end - start)
        body = self.s3.get_object(Bucket=self.bucket, Key=obj.key, Range=f"bytes={start}-{end - 1}",
                                  **({"IfMatch": obj.etag} if obj.etag else {}))["Body"]
        return body.read()

    def copy(self, obj: Obj, path: Path) -> None:
        """The whole object into `path`, streamed."""
        self._spend(obj, obj.size)
        body = self.s3.get_object(Bucket=self.bucket, Key=obj.key,
                                  **({"IfMatch": obj.etag} if obj.etag else {}))["Body"]
        with open(path, "wb") as f:
            for chunk in iter(lambda: body.read(2**20), b""):
                f.write(chunk)


class _Ranged(io.RawIOBase):
    """A seekable file over ranged GETs, for pyarrow's Parquet reader."""

    def __init__(self, reader: Reader, obj: Obj):
        self.reader, self.obj, self.pos = reader, obj, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = (offset, self.pos + offset, self.obj.size + offset)[whence]
        return self.pos

    def readinto(self, buffer) -> int:
        data = self.reader.get(self.obj, self.pos, self.pos + len(buffer))
        buffer[:len(data)] = data
        self.pos += len(data)
        return len(data)


def kind_of(rel: str, head: bytes = b"") -> tuple[str, str | None]:
    """(format, codec) from the name, or from the first bytes when the name doesn't say."""
    parts = rel.rsplit("/", 1)[-1].lower().split(".")
    codec = CODEC_EXTENSIONS.get(parts[-1]) if len(parts) > 1 else None
    ext = parts[-2 if codec else -1] if len(parts) > (2 if codec else 1) else ""
    fmt = DATA_EXTENSIONS.get(ext, "")
    if head:
        codec = codec or next((n for n, (magic, _) in CODECS.items() if head.startswith(magic)), None)
        if head.startswith(b"PAR1"):
            fmt = "parquet"
        elif not fmt:
            first = head.split(b"\n", 1)[0]
            fmt = "jsonl" if head.lstrip()[:1] == b"{" else "tsv" if b"\t" in first else "csv"
    return fmt, codec


def sample_object(reader: Reader, obj: Obj, pieces: list[tuple[float, int]] | None, path: Path,
                  anonymizer: Anonymizer) -> int | None:
    """The rows of `pieces` (None: all of them) of `obj`, anonymised, written to `path` in the
    object's format. Returns the rows written (None when not counted: a raw whole copy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt, codec = kind_of(obj.rel)
    if pieces is None and not anonymizer:
        reader.copy(obj, path)
        return None
    if fmt == "parquet":
        return _parquet(reader, obj, pieces, path, anonymizer)
    head = reader.get(obj, 0, PROBE_BYTES)
    fmt, codec = kind_of(obj.rel, head)
    if fmt == "parquet":
        return _parquet(reader, obj, pieces, path, anonymizer)
    if codec == "gzip" and fmt != "json":
        wanted = None if pieces is None else sum(r for _, r in pieces)
        header, lines = _gzip_lines(reader, obj, head, wanted, fmt)
        return _write_text(path, fmt, header, lines, anonymizer, gzipped=True)
    if codec or fmt == "json":
        if anonymizer:
            raise UserError(f"{obj.rel}: cannot anonymise {codec or 'JSON array'} data as it is read",
                            file=reader.uri, field="anonymize",
                            fix="sample uncompressed, gzip'd or Parquet data, or drop the rules")
        data = head + reader.get(obj, len(head))
        path.write_bytes(data)
        return None
    header, lines = _TextObject(reader, obj, head, fmt).lines(pieces)
    return _write_text(path, fmt, header, lines, anonymizer)


# ---------------------------------------------------------------- text


def _header(first: bytes, fmt: str) -> bytes:
    """The first line if it names columns (CSV/TSV with no number in it), else b""."""
    if fmt == "jsonl" or not first:
        return b""
    cells = next(csv.reader([first.decode(errors="replace").rstrip("\r\n")],
                            delimiter="\t" if fmt == "tsv" else ","), [])
    return b"" if any(_is_number(c) for c in cells) else first


class _TextObject:
    def __init__(self, reader: Reader, obj: Obj, head: bytes, fmt: str):
        self.reader, self.obj, self.head, self.fmt = reader, obj, head, fmt
        complete = head[:head.rfind(b"\n") + 1] or head
        self.per_row = max(1, len(complete) // max(1, complete.count(b"\n")))
        first = head[:head.find(b"\n") + 1] if b"\n" in head else head
        self.header = _header(first, fmt)
        delimiter = "\t" if fmt == "tsv" else ","
        self.fields = len(next(csv.reader([first.decode(errors="replace").rstrip("\r\n")],
                                          delimiter=delimiter), []))
        self.delimiter = delimiter

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end), from the first range where it has them."""
        held = self.head[start:end]
        if start + len(held) >= min(end, self.obj.size):
            return held
        return held + self.reader.get(self.obj, max(start, len(self.head)), end)

    def ok(self, line: bytes) -> bool:
        text = line.decode(errors="replace").rstrip("\r\n")
        if not text.strip():
            return False
        if self.fmt == "jsonl":
            try:
                return isinstance(json.loads(text), dict)
            except ValueError:
                return False
        return len(next(csv.reader([text], delimiter=self.delimiter), [])) == self.fields

    def lines(self, pieces: list[tuple[float, int]] | None) -> tuple[bytes, list[bytes]]:
        if pieces is None:
            pieces = [(0.0, self.obj.size)]   # all rows: at most one per byte
        taken: dict[int, bytes] = {}
        for fraction, rows in pieces:
            got = self._take(max(len(self.header), int(fraction * self.obj.size)), rows, taken)
            if got < rows:   # the piece ran into the end of the object: the rest from its start
                self._take(len(self.header), rows - got, taken)
        return self.header, [taken[k] for k in sorted(taken)]

    def _take(self, pos: int, rows: int, taken: dict[int, bytes]) -> int:
        """Up to `rows` new lines from the first line start at or after `pos`; how many."""
        if pos <= len(self.header):
            cursor, realign = len(self.header), False
        else:   # from the byte before pos: a line starting right at pos is taken whole
            cursor, realign = pos - 1, True
        buf, got, read_at = b"", 0, cursor
        while got < rows and read_at < self.obj.size:
            data = self.read(read_at, read_at + (rows - got) * self.per_row * 5 // 4 + 2048)
            read_at += len(data)
            buf += data
            if realign:
                nl = buf.find(b"\n")
                if nl < 0:
                    cursor, buf = cursor + len(buf), b""
                    continue
                cursor, buf, realign = cursor + nl + 1, buf[nl + 1:], False
            cut = len(buf) if read_at >= self.obj.size else buf.rfind(b"\n") + 1
            for line in buf[:cut].splitlines(keepends=True):
                if got >= rows:
                    return got
                if cursor not in taken and self.ok(line):
                    taken[cursor] = line if line.endswith(b"\n") else line + b"\n"
                    got += 1
                cursor += len(line)
            buf = buf[cut:]
        return got


def _gzip_lines(reader: Reader, obj: Obj, head: bytes, wanted: int | None, fmt: str) -> tuple[bytes, list[bytes]]:
    """The header and the first `wanted` lines of a gzip'd text object, read from its start."""
    d, text, pos, chunk, data = zlib.decompressobj(31), b"", len(head), GZIP_CHUNK, head
    while True:
        text += d.decompress(data)
        while d.eof and d.unused_data:      # a multi-member gzip file (concatenated parts)
            rest, d = d.unused_data, zlib.decompressobj(31)
            text += d.decompress(rest)
        if wanted is not None and text.count(b"\n") > wanted or pos >= obj.size:
            break
        data = reader.get(obj, pos, pos + chunk)
        pos, chunk = pos + len(data), chunk * 2
    lines = text.splitlines(keepends=True)
    if pos < obj.size and lines and not lines[-1].endswith(b"\n"):
        lines = lines[:-1]     # cut by the range
    lines = [line if line.endswith(b"\n") else line + b"\n" for line in lines]
    header = _header(lines[0] if lines else b"", fmt)
    body = lines[1:] if header else lines
    return header, body[:wanted] if wanted is not None else body


def _write_text(path: Path, fmt: str, header: bytes, lines: list[bytes], anonymizer: Anonymizer,
                gzipped: bool = False) -> int:
    if anonymizer:
        header, lines = _anonymised(fmt, header, lines, anonymizer)
    data = header + b"".join(lines)
    path.write_bytes(gzip.compress(data, mtime=0) if gzipped else data)
    return len(lines)


def _anonymised(fmt: str, header: bytes, lines: list[bytes], anonymizer: Anonymizer) -> tuple[bytes, list[bytes]]:
    if fmt == "jsonl":
        records = anonymizer.records([json.loads(line) for line in lines])
        return b"", [json.dumps(r).encode() + b"\n" for r in records]
    if not header:
        raise UserError("cannot anonymise a CSV without a header line: its columns have no names",
                        field="anonymize", fix="sample this data without --anonymize rules")
    delimiter = "\t" if fmt == "tsv" else ","
    end = "\r\n" if header.endswith(b"\r\n") else "\n"
    names = next(csv.reader([header.decode().rstrip("\r\n")], delimiter=delimiter))
    rows = [next(csv.reader([line.decode().rstrip("\r\n")], delimiter=delimiter)) for line in lines]
    names, rows = anonymizer.text_rows(names, rows)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=end)
    writer.writerow(names)
    head = out.getvalue().encode()
    out.seek(0)
    out.truncate()
    writer.writerows(rows)
    return head, out.getvalue().encode().splitlines(keepends=True)


# ---------------------------------------------------------------- Parquet


def _parquet(reader: Reader, obj: Obj, pieces: list[tuple[float, int]] | None, path: Path,
             anonymizer: Anonymizer) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = pa.PythonFile(_Ranged(reader, obj), mode="r")
    pf = pq.ParquetFile(source, buffer_size=PARQUET_BUFFER, pre_buffer=False)
    meta = pf.metadata
    if pieces is None:
        table = pf.read(use_threads=False)
    else:
        groups = _row_groups(meta, pieces, obj.size)
        batches = []
        for rg, rows in groups.items():
            batch = next(pf.iter_batches(batch_size=rows, row_groups=[rg], use_threads=False), None)
            if batch is not None:
                batches.append(batch)
        table = pa.Table.from_batches(batches, schema=pf.schema_arrow)
    if anonymizer:
        table = anonymizer.table(table)
    codec = meta.row_group(0).column(0).compression.lower() if meta.num_row_groups and meta.num_columns else "snappy"
    pq.write_table(table, path, compression=codec if codec in ("snappy", "gzip", "zstd", "brotli", "lz4") else "snappy")
    return table.num_rows


def _row_groups(meta, pieces: list[tuple[float, int]], size: int) -> dict[int, int]:
    """Row group -> rows to read from its start: each piece's group, as few groups as keep the read
    within SPREAD_SHARE of the object (at least one)."""
    n = meta.num_row_groups
    wanted = sum(r for _, r in pieces)
    groups = list(dict.fromkeys(min(n - 1, int(f * n)) for f, _ in pieces))

    def cost(rg: int, rows: int) -> int:
        group = meta.row_group(rg)
        share = rows / max(1, group.num_rows)
        return sum(min(c.total_compressed_size, max(PAGE_BYTES, int(c.total_compressed_size * share)))
                   for c in (group.column(i) for i in range(group.num_columns)))

    u = pieces[0][0] * len(pieces) % 1    # the seed's offset (plan's first piece is at u / pieces)
    for k in range(len(groups), 0, -1):
        chosen = [groups[int((i + u) * len(groups) / k)] for i in range(k)]
        if k == 1 or sum(cost(rg, wanted // k) for rg in chosen) <= SPREAD_SHARE * size:
            break
    return {rg: wanted // k + (i < wanted % k) for i, rg in enumerate(chosen)}
