"""A DELIBERATELY BUGGY copy of scripts/currency_conversion.py, for the failing test example.

The bug: it looks each row's rate up directly, forgetting that currency_code may be missing
(or unknown). Those rows get no rate, so converted_amount is written as null.
"""
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
    variables = json.loads(os.environ.get("CURRENCY_CONVERSION_VARS", "[]"))
    rates = json.loads(os.environ.get("CURRENCY_CONVERSION_DICT", "{}"))
    rate = df[code_field].map(rates).astype(float)   # BUG: no DEFAULT_CURRENCY fallback -> NaN
    for var in variables:
        df[f"converted_{var}"] = (pd.to_numeric(df[var]) * rate).round(2)
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
