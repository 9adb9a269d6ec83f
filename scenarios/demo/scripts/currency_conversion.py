"""Convert monetary columns to USD by each row's currency; unknown or missing currency -> default."""
import argparse
import json
import os
import sys
import traceback
from pathlib import Path

import pandas as pd

INPUT = Path("/opt/ml/processing/input/data")
OUTPUT = Path("/opt/ml/processing/output")


def convert(df: pd.DataFrame) -> pd.DataFrame:
    code_field = os.environ.get("CURRENCY_CODE_FIELD", "currency_code")
    default = os.environ.get("DEFAULT_CURRENCY", "USD")
    variables = json.loads(os.environ.get("CURRENCY_CONVERSION_VARS", "[]"))
    rates = json.loads(os.environ.get("CURRENCY_CONVERSION_DICT", "{}"))
    codes = df[code_field].where(df[code_field].isin(list(rates)), default)
    rate = codes.map(rates).astype(float)
    for var in variables:
        df[f"converted_{var}"] = (pd.to_numeric(df[var]) * rate).round(2)
    df[code_field] = codes
    return df


def main(job_type: str) -> None:
    splits = sorted(p for p in INPUT.iterdir() if p.is_dir()) or [INPUT]
    for split in splits:
        files = sorted(split.glob("*.csv"))
        df = pd.concat((pd.read_csv(f) for f in files), ignore_index=True)
        out = OUTPUT / split.relative_to(INPUT)
        out.mkdir(parents=True, exist_ok=True)
        convert(df).to_csv(out / "part-00000.csv", index=False)
        print(f"{split.name}: converted {len(df)} rows")


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
