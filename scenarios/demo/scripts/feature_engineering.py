"""Per-row features from converted amounts; keeps the split folders."""
import argparse
import os
import sys
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

INPUT = Path("/opt/ml/processing/input/data")
OUTPUT = Path("/opt/ml/processing/output/features")


def features(df: pd.DataFrame) -> pd.DataFrame:
    out = df[["order_id", "category", "quantity", "label", "converted_amount"]].copy()
    out["amount_per_item"] = (out["converted_amount"] / out["quantity"]).round(4)
    out["log_amount"] = np.log1p(out["converted_amount"]).round(6)
    display = os.environ.get("OUTPUT_AMOUNT_FORMAT", "")
    if display:   # "format amounts for the report": turns the column into text
        out["converted_amount"] = out["converted_amount"].map(display.format)
    return out


def main() -> None:
    for split in sorted(p for p in INPUT.iterdir() if p.is_dir()):
        df = pd.concat((pd.read_csv(f) for f in sorted(split.glob("*.csv"))), ignore_index=True)
        out = OUTPUT / split.name
        out.mkdir(parents=True, exist_ok=True)
        features(df).to_csv(out / "part-00000.csv", index=False)
        print(f"{split.name}: {len(df)} rows of features")


if __name__ == "__main__":
    argparse.ArgumentParser().parse_args()
    try:
        main()
    except Exception as exc:
        traceback.print_exc()
        Path("/opt/ml/output/message").write_text(f"{type(exc).__name__}: {exc}")
        sys.exit(1)
