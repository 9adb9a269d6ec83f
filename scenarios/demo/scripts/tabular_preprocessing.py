"""Combine raw shards, clean the label, split into train/test/val folders (Cursus-style)."""
import argparse
import os
import sys
import traceback
from pathlib import Path

import pandas as pd

INPUT = Path("/opt/ml/processing/input/data")
OUTPUT = Path("/opt/ml/processing/output")


def read_shards(folder: Path) -> pd.DataFrame:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in {".csv", ".gz"})
    if not files:
        raise FileNotFoundError(f"no CSV shards in {folder}")
    print(f"reading {len(files)} shard(s)")
    return pd.concat((pd.read_csv(f) for f in files), ignore_index=True)


def main(job_type: str) -> None:
    label = os.environ["LABEL_FIELD"]
    train_ratio = float(os.environ.get("TRAIN_RATIO", "0.7"))
    test_val_ratio = float(os.environ.get("TEST_VAL_RATIO", "0.5"))
    df = read_shards(INPUT)
    if label not in df.columns:
        raise KeyError(f"label field {label!r} not in columns {list(df.columns)}")
    df = df.dropna(subset=[label])
    df[label] = df[label].astype(int)
    if job_type == "training":
        shuffled = df.sample(frac=1.0, random_state=42).reset_index(drop=True)
        n_train = int(len(shuffled) * train_ratio)
        rest = shuffled.iloc[n_train:]
        n_test = int(len(rest) * test_val_ratio)
        splits = {"train": shuffled.iloc[:n_train], "test": rest.iloc[:n_test], "val": rest.iloc[n_test:]}
    else:
        splits = {job_type: df}
    for name, part in splits.items():
        folder = OUTPUT / name
        folder.mkdir(parents=True, exist_ok=True)
        part.to_csv(folder / "part-00000.csv", index=False)
        print(f"{name}: {len(part)} rows")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--job_type", required=True)
    args = parser.parse_args()
    try:
        main(args.job_type)
    except Exception as exc:
        traceback.print_exc()
        Path("/opt/ml/output/message").write_text(f"{type(exc).__name__}: {exc}")
        sys.exit(1)
