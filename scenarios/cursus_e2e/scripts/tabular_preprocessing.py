"""TabularPreprocessing: combine shards, clean the label, split into train/test/val.

Interface: ../shared/cursus/interfaces/tabular_preprocessing.step.yaml (Processing, sklearn).

  input   DATA            /opt/ml/processing/input/data
          required; part-* shards, else any .csv/.tsv/.parquet/.json file below it (sorted)
  input   DATA_SECONDARY  /opt/ml/processing/input/data_secondary
          optional; appended when it holds data files (a folder with none, e.g. a metadata file,
          is ignored)
  input   SIGNATURE       /opt/ml/processing/input/signature
          optional; its first file = comma-separated column names, used as the CSV/TSV header
  output  processed_data  /opt/ml/processing/output
          --job_type training: train/, test/, val/, each with <split>_processed_data.<ext>;
          any other job type: <job_type>/<job_type>_processed_data.<ext>
  args    --job_type {training,validation,testing,calibration}   (required)
  env     LABEL_FIELD ('' = no label processing, unstratified split), OUTPUT_FORMAT (CSV|TSV|PARQUET),
          TRAIN_RATIO (0.7), TEST_VAL_RATIO (0.5: share of the holdout that goes to val);
          MAX_WORKERS, BATCH_SIZE, OPTIMIZE_MEMORY, STREAMING_BATCH_SIZE, ENABLE_TRUE_STREAMING
          are validated and logged only (memory tuning of the real script).
"""
import argparse
import os
import sys
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

IN_DATA = Path("/opt/ml/processing/input/data")
IN_DATA_SECONDARY = Path("/opt/ml/processing/input/data_secondary")
IN_SIGNATURE = Path("/opt/ml/processing/input/signature")
OUTPUT = Path("/opt/ml/processing/output")

DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".json", ".jsonl", ".csv.gz", ".tsv.gz")
JOB_TYPES = ["training", "validation", "testing", "calibration"]


def env_float(name: str, default: str) -> float:
    raw = os.environ.get(name, "")
    value = default if raw.strip() in ("", "None") else raw
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def data_files(folder: Path) -> list:
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES))
    shards = [p for p in files if p.name.startswith("part-")]
    return shards or files


def read_file(path: Path, columns) -> pd.DataFrame:
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz")):
        sep = "\t" if ".tsv" in name else ","
        if columns:
            return pd.read_csv(path, sep=sep, names=columns, header=0)
        return pd.read_csv(path, sep=sep)
    if name.endswith(".parquet"):
        return pd.read_parquet(path)
    with path.open() as f:
        first = f.read(1)
    return pd.read_json(path, lines=(first != "["))


def load_signature():
    if not IN_SIGNATURE.is_dir():
        return None
    files = sorted(p for p in IN_SIGNATURE.iterdir() if p.is_file())
    if not files:
        return None
    content = files[0].read_text().strip()
    return [c.strip() for c in content.split(",")] if content else None


def write_split(df: pd.DataFrame, name: str, fmt: str) -> Path:
    folder = OUTPUT / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}_processed_data.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "tsv":
        df.to_csv(path, sep="\t", index=False)
    else:
        df.to_parquet(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job_type", required=True, choices=JOB_TYPES)
    args = parser.parse_args()

    label = os.environ.get("LABEL_FIELD", "").strip()
    fmt = os.environ.get("OUTPUT_FORMAT", "CSV").strip().lower()
    train_ratio = env_float("TRAIN_RATIO", "0.7")
    test_val_ratio = env_float("TEST_VAL_RATIO", "0.5")
    if fmt not in ("csv", "tsv", "parquet"):
        raise ValueError(f"OUTPUT_FORMAT must be CSV, TSV or PARQUET, got {fmt!r}")
    if not (0 < train_ratio < 1 and 0 < test_val_ratio < 1):
        raise ValueError(f"TRAIN_RATIO and TEST_VAL_RATIO must be in (0, 1), "
                         f"got {train_ratio}, {test_val_ratio}")
    tuning = {k: os.environ.get(k) for k in ("MAX_WORKERS", "BATCH_SIZE", "OPTIMIZE_MEMORY",
                                            "STREAMING_BATCH_SIZE", "ENABLE_TRUE_STREAMING")}
    print(f"job_type={args.job_type} LABEL_FIELD={label or '(none)'} OUTPUT_FORMAT={fmt} "
          f"TRAIN_RATIO={train_ratio} TEST_VAL_RATIO={test_val_ratio}; tuning (unused): {tuning}")

    columns = load_signature()
    print(f"signature: {columns}" if columns else "no signature file, using file headers")
    if not IN_DATA.is_dir():
        raise FileNotFoundError(f"input DATA: {IN_DATA} does not exist")
    files = data_files(IN_DATA)
    if not files:
        raise FileNotFoundError(f"input DATA: no data file under {IN_DATA}")
    if IN_DATA_SECONDARY.is_dir() and data_files(IN_DATA_SECONDARY):
        files += data_files(IN_DATA_SECONDARY)
    elif IN_DATA_SECONDARY.is_dir():
        print(f"DATA_SECONDARY {IN_DATA_SECONDARY} holds no data file: single source")
    frames = [read_file(p, columns) for p in files]
    for p, f in zip(files, frames):
        print(f"read {p} {f.shape}")
    df = pd.concat(frames, ignore_index=True)
    df.columns = [str(c).replace("__DOT__", ".") for c in df.columns]

    if label:
        if label not in df.columns:
            raise KeyError(f"LABEL_FIELD {label!r} is not a column; columns: {list(df.columns)}")
        if not pd.api.types.is_numeric_dtype(df[label]):
            mapping = {v: i for i, v in enumerate(sorted(df[label].dropna().unique()))}
            print(f"label values mapped to integers: {mapping}")
            df[label] = df[label].map(mapping)
        df[label] = pd.to_numeric(df[label], errors="coerce")
        before = len(df)
        df = df.dropna(subset=[label]).copy()
        df[label] = df[label].astype(int)
        print(f"dropped {before - len(df)} rows without a label")

    if args.job_type == "training":
        train, holdout = train_test_split(df, train_size=train_ratio, random_state=42,
                                          stratify=df[label] if label else None)
        test, val = train_test_split(holdout, test_size=test_val_ratio, random_state=42,
                                     stratify=holdout[label] if label else None)
        splits = {"train": train, "test": test, "val": val}
    else:
        splits = {args.job_type: df}

    for name, part in splits.items():
        path = write_split(part, name, fmt)
        print(f"wrote {path} {part.shape}")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001  (one clear line, non-zero exit)
        print(f"ERROR tabular_preprocessing: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
