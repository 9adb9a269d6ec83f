"""Join features with the risk table and score every row."""
import sys
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = Path("/opt/ml/processing/input/features")
RISK = Path("/opt/ml/processing/input/risk_tables")
OUTPUT = Path("/opt/ml/processing/output/scored")


def main() -> None:
    risk = pd.read_csv(RISK / "risk_table.csv")[["category", "risk"]]
    for split in sorted(p for p in FEATURES.iterdir() if p.is_dir()):
        df = pd.concat((pd.read_csv(f) for f in sorted(split.glob("*.csv"))), ignore_index=True)
        df = df.merge(risk, on="category", how="left")
        df["score"] = (df["risk"].fillna(df["risk"].mean()) * np.log1p(df["converted_amount"])).round(6)
        out = OUTPUT / split.name
        out.mkdir(parents=True, exist_ok=True)
        df[["order_id", "label", "risk", "score"]].to_csv(out / "part-00000.csv", index=False)
        print(f"{split.name}: scored {len(df)} rows")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:
        traceback.print_exc()
        Path("/opt/ml/output/message").write_text(f"{type(exc).__name__}: {exc}")
        sys.exit(1)
