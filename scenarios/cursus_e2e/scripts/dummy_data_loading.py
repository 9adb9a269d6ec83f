"""DummyDataLoading: read user-provided tables, write data + signature + metadata.

Interface: ../shared/cursus/interfaces/dummy_data_loading.step.yaml (Processing, sklearn).

  input   INPUT_DATA  /opt/ml/processing/input/data         every .csv/.tsv/.parquet/.json/.jsonl
                                                              file below it (recursive, sorted)
  output  DATA        /opt/ml/processing/output/data        part-00000.<ext>, or part-NNNNN.<ext>
                                                              shards when WRITE_DATA_SHARDS=true
  output  SIGNATURE   /opt/ml/processing/output/signature   file `signature`: column names, comma-separated
  output  METADATA    /opt/ml/processing/output/metadata    file `metadata`: JSON, or MODS CSV
  env     WRITE_DATA_SHARDS (false), SHARD_SIZE (10000), OUTPUT_FORMAT (CSV|JSON|PARQUET),
          METADATA_FORMAT (JSON|MODS); MAX_WORKERS, BATCH_SIZE, OPTIMIZE_MEMORY,
          STREAMING_BATCH_SIZE, ENABLE_TRUE_STREAMING are validated and logged only
          (they tune memory use of the real script; a small table is read in one go).
  args    none (the interface declares no job arguments).
"""
import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd

INPUT_DATA = Path("/opt/ml/processing/input/data")
OUT_DATA = Path("/opt/ml/processing/output/data")
OUT_SIGNATURE = Path("/opt/ml/processing/output/signature")
OUT_METADATA = Path("/opt/ml/processing/output/metadata")

READERS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
           ".json": "json", ".jsonl": "json"}
WRITERS = {"CSV": "csv", "JSON": "json", "PARQUET": "parquet"}


def env_bool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"{name} must be 'true' or 'false', got {value!r}")
    return value == "true"


def env_int(name: str, default: str) -> int:
    value = os.environ.get(name, default)
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def read_table(path: Path) -> pd.DataFrame:
    kind = READERS[path.suffix.lower()]
    if kind == "csv":
        return pd.read_csv(path)
    if kind == "tsv":
        return pd.read_csv(path, sep="\t")
    if kind == "parquet":
        return pd.read_parquet(path)
    with path.open() as f:  # JSON Lines, or one JSON array of records
        first = f.read(1)
    return pd.read_json(path, lines=(first != "["))


def metadata_json(df: pd.DataFrame) -> dict:
    info = {}
    for col in df.columns:
        s = df[col]
        entry = {"dtype": str(s.dtype), "null_count": int(s.isna().sum()),
                 "unique_count": int(s.nunique(dropna=True))}
        if pd.api.types.is_numeric_dtype(s) and s.notna().any():
            entry.update(min=float(s.min()), max=float(s.max()),
                         mean=float(s.mean()), std=float(s.std()))
        info[str(col)] = entry
    return {"num_rows": len(df), "num_columns": int(df.shape[1]), "column_info": info}


def metadata_mods(df: pd.DataFrame) -> str:
    lines = ["varname,iscategory,datatype"]
    for col in df.columns:
        dtype = str(df[col].dtype)
        is_cat = "true" if dtype in ("object", "string", "category") else "false"
        lines.append(f"{col},{is_cat},{dtype}")
    return "\n".join(lines) + "\n"


def write_part(df: pd.DataFrame, index: int, fmt: str) -> Path:
    path = OUT_DATA / f"part-{index:05d}.{WRITERS[fmt]}"
    if fmt == "CSV":
        df.to_csv(path, index=False)
    elif fmt == "JSON":
        df.to_json(path, orient="records", lines=True)
    else:
        df.to_parquet(path, index=False)
    return path


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()

    write_shards = env_bool("WRITE_DATA_SHARDS", "false")
    shard_size = env_int("SHARD_SIZE", "10000")
    out_format = os.environ.get("OUTPUT_FORMAT", "CSV").upper()
    meta_format = os.environ.get("METADATA_FORMAT", "JSON").upper()
    tuning = {name: env_int(name, default) for name, default in
              [("MAX_WORKERS", "0"), ("BATCH_SIZE", "5"), ("STREAMING_BATCH_SIZE", "0")]}
    tuning.update({name: env_bool(name, "false")
                   for name in ("OPTIMIZE_MEMORY", "ENABLE_TRUE_STREAMING")})
    if out_format not in WRITERS:
        raise ValueError(f"OUTPUT_FORMAT must be one of {sorted(WRITERS)}, got {out_format!r}")
    if meta_format not in ("JSON", "MODS"):
        raise ValueError(f"METADATA_FORMAT must be JSON or MODS, got {meta_format!r}")
    if shard_size <= 0:
        raise ValueError(f"SHARD_SIZE must be positive, got {shard_size}")
    print(f"WRITE_DATA_SHARDS={write_shards} SHARD_SIZE={shard_size} OUTPUT_FORMAT={out_format} "
          f"METADATA_FORMAT={meta_format}; memory tuning (not needed here): {tuning}")

    if not INPUT_DATA.is_dir():
        raise FileNotFoundError(f"input INPUT_DATA: {INPUT_DATA} does not exist")
    files = sorted(p for p in INPUT_DATA.rglob("*")
                   if p.is_file() and p.suffix.lower() in READERS)
    if not files:
        raise FileNotFoundError(f"input INPUT_DATA: no {sorted(READERS)} file under {INPUT_DATA}")
    frames = []
    for path in files:
        frames.append(read_table(path))
        print(f"read {path} {frames[-1].shape}")
    columns = list(frames[0].columns)
    for path, frame in zip(files, frames):
        if list(frame.columns) != columns:
            raise ValueError(f"{path} has columns {list(frame.columns)}, "
                             f"but {files[0]} has {columns}")
    df = pd.concat(frames, ignore_index=True)

    for folder in (OUT_DATA, OUT_SIGNATURE, OUT_METADATA):
        folder.mkdir(parents=True, exist_ok=True)
    (OUT_SIGNATURE / "signature").write_text(",".join(map(str, df.columns)))
    if meta_format == "JSON":
        (OUT_METADATA / "metadata").write_text(json.dumps(metadata_json(df), indent=2))
    else:
        (OUT_METADATA / "metadata").write_text(metadata_mods(df))

    size = shard_size if write_shards else max(len(df), 1)
    for index, start in enumerate(range(0, max(len(df), 1), size)):
        path = write_part(df.iloc[start:start + size], index, out_format)
        print(f"wrote {path}")
    print(f"done: {len(df)} rows, {df.shape[1]} columns")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001  (one clear line, non-zero exit)
        print(f"ERROR dummy_data_loading: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
