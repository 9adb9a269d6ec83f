"""ModelCalibration: fit a score -> probability calibrator on evaluation predictions.

Interface: ../shared/cursus/interfaces/model_calibration.step.yaml (Processing, sklearn).

  input   evaluation_data     /opt/ml/processing/input/eval_data
          the first .csv/.tsv/.parquet/.json file (sorted; top level first, then below)
  output  calibration_output  /opt/ml/processing/output/calibration
          calibration_model.pkl (one calibrator), or calibration_models/calibration_model_<name>.pkl
          (multiclass, multi-task); calibration_summary.json
  output  metrics_output      /opt/ml/processing/output/metrics
          calibration_metrics.json (ECE, MCE, Brier, log loss, AUC before and after)
  output  calibrated_data     /opt/ml/processing/output/calibrated_data
          calibrated_data.<ext>: the input plus calibrated_<score column> per calibrator
  args    --job_type (default calibration)
  env     CALIBRATION_METHOD gam|isotonic|platt (gam needs pygam, absent from the image: it falls back
          to platt, as the real script does), LABEL_FIELD, SCORE_FIELD, IS_BINARY, NUM_CLASSES,
          SCORE_FIELD_PREFIX, MULTICLASS_CATEGORIES (JSON list or comma-separated), SCORE_FIELDS +
          TASK_LABEL_NAMES (multi-task: one calibrator per score/label pair), MONOTONIC_CONSTRAINT
          (isotonic: increasing), CALIBRATION_SAMPLE_POINTS (size of the lookup table),
          ERROR_THRESHOLD (warn when the calibrated ECE is above it), GAM_SPLINES (gam only).

A calibrator is saved as the real script saves it: a lookup table, a list of
(raw_score, calibrated_score) float pairs over [0, 1], interpolated linearly at inference.
"""
import argparse
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

IN_EVAL = Path("/opt/ml/processing/input/eval_data")
OUT_CAL = Path("/opt/ml/processing/output/calibration")
OUT_METRICS = Path("/opt/ml/processing/output/metrics")
OUT_DATA = Path("/opt/ml/processing/output/calibrated_data")
SUFFIXES = (".csv", ".tsv", ".parquet", ".json")

try:
    from pygam import LogisticGAM, s  # noqa: F401  (not in the stand-in images)
    HAS_PYGAM = True
except ImportError:
    HAS_PYGAM = False


def env(name: str, default: str) -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: str) -> bool:
    value = env(name, default).lower()
    if value not in ("true", "false"):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value == "true"


def split_list(raw: str) -> list:
    raw = raw.strip()
    if not raw:
        return []
    if raw.startswith("["):
        return [str(v) for v in json.loads(raw)]
    return [v.strip() for v in raw.split(",") if v.strip()]


def load_data():
    if not IN_EVAL.is_dir():
        raise FileNotFoundError(f"evaluation_data: {IN_EVAL} does not exist")
    files = sorted(p for p in IN_EVAL.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    files = files or sorted(p for p in IN_EVAL.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    if not files:
        raise FileNotFoundError(f"evaluation_data: no {SUFFIXES} file in {IN_EVAL}")
    path, fmt = files[0], files[0].suffix.lstrip(".")
    if fmt == "parquet":
        df = pd.read_parquet(path)
    elif fmt == "json":
        df = pd.read_json(path, lines=not path.read_text().lstrip().startswith("["))
    else:
        df = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
    print(f"evaluation data {path} {df.shape}")
    return df, fmt


def fit_lookup(score: np.ndarray, target: np.ndarray, method: str, monotonic: bool, points: int):
    grid = np.linspace(0.0, 1.0, points)
    if method == "isotonic":
        model = IsotonicRegression(out_of_bounds="clip", increasing=True if monotonic else "auto",
                                   y_min=0.0, y_max=1.0)
        model.fit(score, target)
        values = model.predict(grid)
    elif method == "gam":  # only reached with pygam installed
        from pygam import LogisticGAM, s
        n_splines = int(env("GAM_SPLINES", "10"))
        gam = LogisticGAM(s(0, n_splines=n_splines, constraints="monotonic_inc" if monotonic else None))
        gam.fit(score.reshape(-1, 1), target)
        values = gam.predict_proba(grid.reshape(-1, 1))
    else:  # platt
        model = LogisticRegression(C=1e6)
        model.fit(score.reshape(-1, 1), target)
        values = model.predict_proba(grid.reshape(-1, 1))[:, 1]
    return [(float(x), float(y)) for x, y in zip(grid, values)]


def apply_lookup(score: np.ndarray, table) -> np.ndarray:
    xs, ys = zip(*table)
    return np.interp(score, xs, ys)


def calibration_metrics(target: np.ndarray, prob: np.ndarray, bins: int = 10) -> dict:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(prob, edges[1:-1]), 0, bins - 1)
    ece, mce = 0.0, 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            gap = abs(prob[mask].mean() - target[mask].mean())
            ece += mask.mean() * gap
            mce = max(mce, gap)
    both = len(np.unique(target)) > 1
    return {"expected_calibration_error": float(ece), "maximum_calibration_error": float(mce),
            "brier_score": float(brier_score_loss(target, prob)),
            "log_loss": float(log_loss(target, np.clip(prob, 1e-15, 1 - 1e-15), labels=[0, 1])),
            "auc_roc": float(roc_auc_score(target, prob)) if both else None,
            "n": len(target)}


def build_tasks(df: pd.DataFrame) -> list:
    """(name, score column, binary target) per calibrator."""
    label = env("LABEL_FIELD", "label")
    score_fields = split_list(env("SCORE_FIELDS", ""))
    if score_fields:  # multi-task
        labels = split_list(env("TASK_LABEL_NAMES", ""))
        if len(labels) != len(score_fields):
            raise ValueError(f"SCORE_FIELDS has {len(score_fields)} fields but TASK_LABEL_NAMES "
                             f"has {len(labels)}: {score_fields} / {labels}")
        pairs = list(zip(score_fields, labels))
        return [(f, f, column(df, lab, "TASK_LABEL_NAMES").astype(int).to_numpy()) for f, lab in pairs]
    y = column(df, label, "LABEL_FIELD")
    if env_bool("IS_BINARY", "True"):
        field = env("SCORE_FIELD", "prob_class_1")
        return [(field, field, y.astype(int).to_numpy())]
    num_classes = int(env("NUM_CLASSES", "2"))
    categories = split_list(env("MULTICLASS_CATEGORIES", "")) or [str(i) for i in range(num_classes)]
    if len(categories) != num_classes:
        raise ValueError(f"MULTICLASS_CATEGORIES has {len(categories)} values, NUM_CLASSES is {num_classes}")
    prefix = env("SCORE_FIELD_PREFIX", "prob_class_")
    tasks = []
    for i, name in enumerate(categories):  # scores are prob_class_<i>, labels are 0..K-1
        field = f"{prefix}{i}" if f"{prefix}{i}" in df.columns else f"{prefix}{name}"
        tasks.append((f"class_{name}", field, (y.astype(int) == i).astype(int).to_numpy()))
    return tasks


def column(df: pd.DataFrame, name: str, setting: str) -> pd.Series:
    if name not in df.columns:
        raise KeyError(f"{setting} names {name!r}, which is not a column: {list(df.columns)}")
    return df[name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job_type", default="calibration")
    args = parser.parse_args()
    method = env("CALIBRATION_METHOD", "gam").lower()
    if method not in ("gam", "isotonic", "platt"):
        raise ValueError(f"CALIBRATION_METHOD must be gam, isotonic or platt, got {method!r}")
    if method == "gam" and not HAS_PYGAM:
        print("WARNING: pygam is not installed: falling back to platt scaling (as Cursus does)")
        method = "platt"
    monotonic = env_bool("MONOTONIC_CONSTRAINT", "True")
    points = int(env("CALIBRATION_SAMPLE_POINTS", "1000"))
    threshold = float(env("ERROR_THRESHOLD", "0.05"))
    if points < 2:
        raise ValueError(f"CALIBRATION_SAMPLE_POINTS must be at least 2, got {points}")
    print(f"job_type={args.job_type} method={method} monotonic={monotonic} points={points} "
          f"ERROR_THRESHOLD={threshold}")

    df, fmt = load_data()
    tasks = build_tasks(df)
    for folder in (OUT_CAL, OUT_METRICS, OUT_DATA):
        folder.mkdir(parents=True, exist_ok=True)
    report = {"mode": "binary" if len(tasks) == 1 else "multi", "calibration_method": method,
              "job_type": args.job_type, "calibrators": {}}
    for name, field, target in tasks:
        score = pd.to_numeric(column(df, field, "score field"), errors="coerce").to_numpy(dtype=float)
        if np.isnan(score).any():
            raise ValueError(f"score column {field!r} has {int(np.isnan(score).sum())} missing values")
        if len(np.unique(target)) < 2:
            raise ValueError(f"{name}: the target has one class only; cannot calibrate")
        table = fit_lookup(score, target, method, monotonic, points)
        calibrated = apply_lookup(score, table)
        df[f"calibrated_{field}"] = calibrated
        before, after = calibration_metrics(target, score), calibration_metrics(target, calibrated)
        if after["expected_calibration_error"] > threshold:
            print(f"WARNING {name}: calibrated ECE {after['expected_calibration_error']:.4f} "
                  f"is above ERROR_THRESHOLD {threshold}")
        if len(tasks) == 1:
            model_path = OUT_CAL / "calibration_model.pkl"
        else:
            model_path = OUT_CAL / "calibration_models" / f"calibration_model_{name}.pkl"
            model_path.parent.mkdir(exist_ok=True)
        model_path.write_bytes(pickle.dumps(table, protocol=4))
        report["calibrators"][name] = {"score_field": field, "model": model_path.name,
                                       "uncalibrated": before, "calibrated": after}
        print(f"{name}: ECE {before['expected_calibration_error']:.4f} -> "
              f"{after['expected_calibration_error']:.4f}; saved {model_path}")

    (OUT_METRICS / "calibration_metrics.json").write_text(json.dumps(report, indent=2))
    summary = {"status": "success", "mode": report["mode"], "calibration_method": method,
               "calibrators": {k: v["model"] for k, v in report["calibrators"].items()}}
    (OUT_CAL / "calibration_summary.json").write_text(json.dumps(summary, indent=2))
    data_path = OUT_DATA / f"calibrated_data.{fmt}"
    if fmt == "parquet":
        df.to_parquet(data_path, index=False)
    elif fmt == "json":
        df.to_json(data_path, orient="records", lines=True)
    else:
        df.to_csv(data_path, sep="\t" if fmt == "tsv" else ",", index=False)
    print(f"wrote {data_path} {df.shape}")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001  (one clear line, non-zero exit)
        print(f"ERROR model_calibration: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
