"""Category risk table (smoothed label rate) learned on the train split."""
import os
import sys
import traceback
from pathlib import Path

import pandas as pd

INPUT = Path("/opt/ml/processing/input/data")
OUTPUT = Path("/opt/ml/processing/output/risk_tables")


def main() -> None:
    smooth = float(os.environ.get("SMOOTH_FACTOR", "0.01"))
    train = pd.concat((pd.read_csv(f) for f in sorted((INPUT / "train").glob("*.csv"))), ignore_index=True)
    prior = train["label"].mean()
    grouped = train.groupby("category")["label"].agg(["sum", "count"]).reset_index()
    weight = smooth * len(train)
    grouped["risk"] = ((grouped["sum"] + prior * weight) / (grouped["count"] + weight)).round(6)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    grouped[["category", "risk", "count"]].to_csv(OUTPUT / "risk_table.csv", index=False)
    print(f"risk table: {len(grouped)} categories, prior {prior:.3f}")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:
        traceback.print_exc()
        Path("/opt/ml/output/message").write_text(f"{type(exc).__name__}: {exc}")
        sys.exit(1)
