"""What a suite expects of the files and split folders of a dataset, beyond its rows and columns.

GX validates one table at a time, so it cannot say that a split folder is gone, that a file was
renamed so a consumer's `glob("*.csv")` no longer finds it, or that a file is UTF-16. A suite
records these in its `meta`, under `cursus_local` (written by `suggest-suite`, checked here):

    "meta": {"cursus_local": {
        "splits": {"train": {"min_rows": 210}, "val": {"min_rows": 45}, "test": {"min_rows": 45}},
        "file_patterns": ["*.csv"],
        "encoding": "utf-8"}}

- `splits`: the split folders that must be there ("" for data without split folders), each
  with a row-count floor (`suggest-suite`: half the fewest rows of the good runs, all of them
  for a table under 20 rows); a missing split, or fewer rows than its floor, fails (critical).
- `file_patterns`: shell patterns every data file's name matches (as the consumers' globs do);
  a data file that matches none is named (critical).
- `encoding`: text data files must decode as this (only "utf-8" is checked); a UTF-16 file,
  Latin-1 bytes or compressed content under a plain text name is named, with its cause
  (critical).
- `row_ratio`: `{"input": "input_data", "min": 0.9, "max": 1.1}`, for a step that passes rows
  through: its output's rows (all splits) over the rows of that input of the same step in the
  same run. A suite sees one dataset, so the caller hands over the step's inputs (`StepInputs`:
  the sequencer does, for a producer's output checks); without them the ratio is not checked.
  `suggest-suite` learns it from good runs whose inputs it is given, widened by its margin, and
  only where every run's ratio is within `PASS_THROUGH` (an aggregation's row count follows its
  keys, not its input's size). Outside the range fails (critical).
Every key is optional; a suite without them is checked by GX alone.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from pathlib import Path

from . import datasets

META_KEY = "cursus_local"
ROW_FLOOR_FRACTION = 0.5   # a split may shrink to half its smallest good size, not to a tenth
SMALL_TABLE_ROWS = 20      # below this (a lookup table), every row of the good runs is expected
TEXT_FORMATS = ("csv", "tsv", "json", "jsonl")
PASS_THROUGH = (0.5, 2.0)  # output rows / input rows of a step that passes rows through


@dataclass
class Problem:
    """A failed file or split expectation: `check` names what was expected."""
    check: str
    split: str
    message: str
    file: str = ""
    observed: object = None


@dataclass
class StepInputs:
    """The inputs of the step whose output is checked: what a `row_ratio` compares with."""
    step: str
    paths: dict[str, Path]


def expected(suite: dict) -> dict:
    """The suite's file and split expectations ({} if it has none)."""
    value = suite.get("meta", {}).get(META_KEY)
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------- learning from good outputs


def describe(data_paths: list[Path], split_rows: list[dict[str, int]]) -> dict:
    """The `meta.cursus_local` of good outputs: the splits all of them have, each with a floor
    below the fewest rows any of them had; the name patterns and encoding of their data files."""
    common = [s for s in split_rows[0] if all(s in rows for rows in split_rows)]
    splits = {s: {"min_rows": _floor(min(rows[s] for rows in split_rows))} for s in common}
    files = [f for path in data_paths for f in data_files(Path(path))]
    result: dict = {"splits": splits,
                    "file_patterns": sorted({name_pattern(f.name) for f in files})}
    if all(encoding_problem(f) is None for f in files if _is_text(f)):
        result["encoding"] = "utf-8"
    return result


def row_ratio(output_rows: list[int], input_rows: dict[str, list[int]],
              margin: float) -> dict | None:
    """The `row_ratio` of good runs (rows of each run's output, and of each named input in the
    same runs): the input the step passes rows through (every run's ratio within
    `PASS_THROUGH`; the closest to 1 of several), its ratio range widened by `margin`; None if
    no input qualifies."""
    candidates = {}
    for name, rows in input_rows.items():
        ratios = [out / max(n, 1) for out, n in zip(output_rows, rows)]
        if all(n > 0 for n in rows) and all(PASS_THROUGH[0] <= r <= PASS_THROUGH[1] for r in ratios):
            candidates[name] = ratios
    if not candidates:
        return None
    name = min(candidates, key=lambda n: max(abs(math.log(r)) for r in candidates[n]))
    ratios = candidates[name]
    return {"input": name,   # rounded outwards: readable bounds, never tighter
            "min": math.floor(min(ratios) * (1 - margin) * 1000) / 1000,
            "max": math.ceil(max(ratios) * (1 + margin) * 1000) / 1000}


def _floor(rows: int) -> int:
    """Half the rows; all of them for a small table (a lookup of categories or classes, where
    every row counts)."""
    if rows < SMALL_TABLE_ROWS:
        return rows
    return max(math.floor(rows * ROW_FLOOR_FRACTION), 1)


def name_pattern(name: str) -> str:
    """`part-00000.csv` -> `*.csv`, `data.csv.gz` -> `*.csv.gz`; without an extension, digits
    become `*` (`part-00000` -> `part-*`)."""
    if "." in name.strip("."):
        return "*" + name[name.index(".", 1):]
    return re.sub(r"\d+", "*", name)


def data_files(path: Path) -> list[Path]:
    """The files read as data at `path`, every split's."""
    if path.is_file():
        return [path]
    return [f for folder in datasets._split_folders(path).values()
            for f in ([folder] if folder.is_file() else datasets._data_files(folder))]


# ---------------------------------------------------------------- checking


def file_problems(suite: dict, data_path: str | Path) -> list[Problem]:
    """Missing splits, data files named against the patterns, and files in another encoding."""
    want = expected(suite)
    path = Path(data_path)
    if not want or not path.exists():
        return []   # reading it says what is wrong
    folders = {"": path} if path.is_file() else datasets._split_folders(path)
    problems = []
    if "splits" in want:
        missing = [s for s in want["splits"] if s not in folders]
        for split in missing:
            found = sorted(s for s in folders if s) or ["none (data without split folders)"]
            problems.append(Problem(
                "split_folders_present", split,
                f"split {split or '(unsplit data)'!r} is missing: expected splits "
                f"{sorted(want['splits'])}, found {found}"))
    patterns = want.get("file_patterns") or []
    for split, folder in folders.items():
        files = [folder] if folder.is_file() else datasets._data_files(folder)
        for file in files:
            if patterns and not any(fnmatch.fnmatch(file.name, p) for p in patterns):
                problems.append(Problem(
                    "file_names_match", split,
                    f"data file {file.name!r} does not match {' or '.join(patterns)}: a consumer "
                    "that looks for its files by name will not read it", file=str(file),
                    observed=file.name))
    if want.get("encoding") == "utf-8":
        problems += encoding_problems(path)
    return problems


def encoding_problems(data_path: str | Path) -> list[Problem]:
    """Data files at `data_path` that are not UTF-8 text under their names (see
    `encoding_problem`): the cause when reading them fails, whatever the suite says."""
    path = Path(data_path)
    folders = {"": path} if path.is_file() else datasets._split_folders(path)
    return [Problem("text_encoding", split, f"{file.name}: {cause}", file=str(file))
            for split, folder in folders.items()
            for file in ([folder] if folder.is_file() else datasets._data_files(folder))
            if (cause := encoding_problem(file))]


def row_floors(suite: dict) -> dict[str, int]:
    """split -> the fewest rows the suite accepts in it."""
    return {split: rule["min_rows"] for split, rule in expected(suite).get("splits", {}).items()
            if isinstance(rule, dict) and isinstance(rule.get("min_rows"), int)}


def row_problems(suite: dict, split_rows: dict[str, int]) -> list[Problem]:
    """Splits with fewer rows than their floor."""
    problems = []
    for split, floor in row_floors(suite).items():
        if split in split_rows and split_rows[split] < floor:
            problems.append(Problem(
                "split_row_count_floor", split,
                f"{split_rows[split]} rows in split {split or '(unsplit data)'!r}, expected at "
                f"least {floor} (learned from the good runs)",
                observed=split_rows[split]))
    return problems


def row_ratio_problems(suite: dict, output_rows: int, inputs: StepInputs | None) -> list[Problem]:
    """The output's rows against the named input's, if the suite has a `row_ratio` and the
    step's inputs are known. Reading the input is the caller's risk (it raises)."""
    rule = expected(suite).get("row_ratio")
    if not isinstance(rule, dict) or inputs is None:
        return []
    name = rule.get("input")
    if name not in inputs.paths:
        return [Problem("row_ratio", "", f"the suite's row_ratio compares with input {name!r} of "
                        f"{inputs.step}, which has inputs {sorted(inputs.paths)}: name one of them "
                        "in meta.cursus_local.row_ratio.input")]
    input_rows = sum(t.num_rows for t in datasets.read_splits(inputs.paths[name]).values())
    if not input_rows:
        return []   # an empty input is its own check's failure
    ratio = output_rows / input_rows
    low, high = rule.get("min", 0), rule.get("max", math.inf)
    if low <= ratio <= high:
        return []
    return [Problem("row_ratio", "", f"{inputs.step} wrote {output_rows} rows from {input_rows} "
                    f"rows of its input {name!r}: ratio {ratio:.3f}, expected {low} to {high} "
                    "(learned from the good runs)", observed=round(ratio, 4))]


# ---------------------------------------------------------------- encodings


def _is_text(file: Path) -> bool:
    return datasets._named_format(file.name) in TEXT_FORMATS


def encoding_problem(file: Path) -> str | None:
    """Why a text data file is not plain UTF-8 text under its name, or None.

    Readers go by the name: pandas.read_csv decompresses `.gz` by extension and decodes UTF-8,
    so gzip bytes in `x.csv`, a UTF-16 file or Latin-1 bytes make the consumer fail."""
    named = datasets._named_format(file.name)
    with open(file, "rb") as f:
        head = f.read(datasets.SNIFF_BYTES)
    codec_by_name = next((c for c, (_, ext) in datasets.CODECS.items()
                          if file.name.endswith(f".{ext}")), None)
    codec = next((c for c, (magic, _) in datasets.CODECS.items() if head.startswith(magic)), None)
    if head.startswith(b"PAR1") and named in TEXT_FORMATS:
        return f"Parquet content in a file named as {named}: write it as {named}, or name it .parquet"
    if codec and codec != codec_by_name:
        ext = datasets.CODECS[codec][1]
        return (f"{codec}-compressed content in a file whose name does not say so: readers that "
                f"go by the name fail; name it {file.name}.{ext}, or write it uncompressed")
    if named not in TEXT_FORMATS:
        return None
    if codec:
        import pyarrow as pa
        with pa.input_stream(str(file), compression=codec) as stream:
            head = stream.read(datasets.SNIFF_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_utf16(head):
        return "UTF-16 text (a UTF-8 reader sees NUL bytes); write it as UTF-8 (to_csv(..., encoding='utf-8'))"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:   # not just a character cut at the end of the sample
            return (f"not UTF-8: byte 0x{head[e.start]:02x} at offset {e.start} (Latin-1 or "
                    "cp1252 text?); write it as UTF-8")
    return None


def _looks_utf16(head: bytes) -> bool:
    """UTF-16 without a byte-order mark: every other byte of ASCII text is NUL."""
    sample = head[:200]
    return len(sample) >= 4 and (sample[1::2].count(0) > len(sample) // 4
                                 or sample[0::2].count(0) > len(sample) // 4)
