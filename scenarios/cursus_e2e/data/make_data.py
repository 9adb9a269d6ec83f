"""Write the scenario's input tables: a synthetic binary classification problem.

Deterministic (stdlib `random` with fixed seeds), so the CSVs in git can be rebuilt
byte for byte:  python3 make_data.py   (from this folder)

    training/training_data.csv        600 rows  -> DummyDataLoading_training
    calibration/calibration_data.csv  300 rows  -> DummyDataLoading_calibration

Columns: id, 4 numeric features (one with ~5% blanks, to exercise imputation),
2 categorical features (strings, to exercise risk-table mapping), label (0/1).
"""
import csv
import math
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = ["id", "amount", "account_age_days", "num_orders", "avg_rating",
           "region", "channel", "label"]
REGION_RISK = {"NA": -0.3, "EU": 0.0, "FE": 0.6}
CHANNEL_RISK = {"web": 0.0, "app": -0.4, "phone": 0.8}


def rows(n: int, seed: int, first_id: int):
    rng = random.Random(seed)
    for i in range(n):
        amount = round(math.exp(rng.gauss(3.5, 0.8)), 2)
        age = rng.randint(1, 2000)
        orders = rng.randint(0, 60)
        rating = round(min(5.0, max(1.0, rng.gauss(4.0, 0.7))), 2)
        region = rng.choice(["NA", "NA", "EU", "FE"])
        channel = rng.choice(["web", "web", "app", "phone"])
        z = (0.02 * (amount - 40) - 0.0012 * (age - 1000) - 0.03 * (orders - 30)
             - 0.8 * (rating - 4.0) + REGION_RISK[region] + CHANNEL_RISK[channel]
             + rng.gauss(0.0, 0.5))
        label = 1 if rng.random() < 1.0 / (1.0 + math.exp(-z)) else 0
        yield [first_id + i, amount, age, orders,
               "" if rng.random() < 0.05 else rating, region, channel, label]


def write(path: Path, n: int, seed: int, first_id: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        w.writerows(rows(n, seed, first_id))
    print(f"wrote {path} ({n} rows)")


if __name__ == "__main__":
    write(HERE / "training" / "training_data.csv", 600, seed=7, first_id=100000)
    write(HERE / "calibration" / "calibration_data.csv", 300, seed=11, first_id=200000)
