"""XGBoostModelEval: score an evaluation table with the trained model, write predictions + metrics.

Interface: ../shared/cursus/interfaces/xgboost_model_eval.step.yaml (Processing, xgboost).

  input   model_input     /opt/ml/processing/input/model
          model.tar.gz from the Training job, extracted IN PLACE, as the real Cursus script does
          (on SageMaker a File-mode input is a writable copy); artifacts already there are used as is
  input   processed_data  /opt/ml/processing/input/eval_data
          the first .csv/.tsv/.parquet file below it (sorted)
  output  eval_output     /opt/ml/processing/output/eval
          eval_predictions.<ext>: id, label, prob_class_<i> (+ the previous score in comparison mode)
  output  metrics_output  /opt/ml/processing/output/metrics
          metrics.json (with the sha256 of model.tar.gz and xgboost_model.bst), metrics_summary.txt,
          _SUCCESS (_FAILURE with the message on error)
  args    --job_type (required)
  env     ID_FIELD (id), LABEL_FIELD (label), COMPARISON_MODE (false) + PREVIOUS_SCORE_FIELD (''):
          also score that column and report the difference; COMPARISON_METRICS (all|auc|...) picks
          which differences; STATISTICAL_TESTS, COMPARISON_PLOTS are validated and logged only
          (no statistics or plots in this stand-in).
"""
import argparse
import hashlib
import json
import os
import pickle
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    roc_auc_score,
)

MODEL_DIR = Path("/opt/ml/processing/input/model")
EVAL_DIR = Path("/opt/ml/processing/input/eval_data")
OUT_EVAL = Path("/opt/ml/processing/output/eval")
OUT_METRICS = Path("/opt/ml/processing/output/metrics")
DATA_SUFFIXES = (".csv", ".tsv", ".parquet")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def env_bool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"{name} must be 'true' or 'false', got {value!r}")
    return value == "true"


def extract_in_place(model_dir: Path) -> dict:
    tar_path = model_dir / "model.tar.gz"
    if not tar_path.is_file():
        print(f"no model.tar.gz in {model_dir}: using the artifacts found there")
        return {}
    digest = sha256(tar_path)
    with tarfile.open(tar_path, "r:gz") as tar:
        for member in tar.getmembers():
            target = (model_dir / member.name).resolve()
            if model_dir.resolve() not in (target, *target.parents) or member.issym() or member.islnk():
                raise ValueError(f"refusing to extract {member.name!r} from {tar_path}")
        try:
            tar.extractall(path=model_dir)  # writes into the input folder, on purpose
        except OSError as exc:
            raise OSError(f"cannot extract {tar_path} into its own folder ({exc.strerror}): this "
                          f"step needs a writable model_input, as SageMaker's File-mode inputs "
                          f"are (a copy on the instance)") from exc
    print(f"extracted {tar_path} (sha256 {digest}) into {model_dir}")
    return {"model_tar_gz_sha256": digest}


def load_model(model_dir: Path):
    required = ["xgboost_model.bst", "risk_table_map.pkl", "impute_dict.pkl",
                "feature_columns.txt", "hyperparameters.json"]
    missing = [name for name in required if not (model_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"model_input {model_dir}: missing {missing}; "
                                f"found {sorted(p.name for p in model_dir.iterdir())}")
    booster = xgb.Booster()
    booster.load_model(str(model_dir / "xgboost_model.bst"))
    risk = pickle.loads((model_dir / "risk_table_map.pkl").read_bytes())
    impute = pickle.loads((model_dir / "impute_dict.pkl").read_bytes())
    features = [line.strip().split(",", 1)[1]
                for line in (model_dir / "feature_columns.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    hyper = json.loads((model_dir / "hyperparameters.json").read_text())
    return booster, risk, impute, features, hyper


def load_eval_data():
    files = sorted(p for p in EVAL_DIR.rglob("*")
                   if p.is_file() and p.suffix in DATA_SUFFIXES) if EVAL_DIR.is_dir() else []
    if not files:
        raise FileNotFoundError(f"processed_data: no {DATA_SUFFIXES} file under {EVAL_DIR}")
    path = files[0]
    fmt = path.suffix.lstrip(".")
    if fmt == "parquet":
        df = pd.read_parquet(path)
    else:
        df = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
    print(f"eval data {path} {df.shape}" + (f" (ignored: {files[1:]})" if files[1:] else ""))
    return df, fmt


def features_matrix(df: pd.DataFrame, features, risk: dict, impute: dict) -> pd.DataFrame:
    missing = [c for c in features if c not in df.columns]
    if missing:
        raise KeyError(f"eval data lacks model features {missing}; columns: {list(df.columns)}")
    X = pd.DataFrame(index=df.index)
    for col in features:
        if col in risk:
            table = risk[col]
            X[col] = df[col].astype(str).map(table["bins"]).fillna(table["default_bin"])
        else:
            X[col] = pd.to_numeric(df[col], errors="coerce").fillna(impute.get(col, np.nan))
    return X.astype(float)


def binary_metrics(y: np.ndarray, score: np.ndarray) -> dict:
    both = len(np.unique(y)) > 1
    return {"auc_roc": float(roc_auc_score(y, score)) if both else None,
            "average_precision": float(average_precision_score(y, score)) if both else None,
            "f1_score": float(f1_score(y, score > 0.5)),
            "accuracy": float(accuracy_score(y, score > 0.5)),
            "brier_score": float(brier_score_loss(y, score)),
            "log_loss": float(log_loss(y, np.clip(score, 1e-15, 1 - 1e-15), labels=[0, 1]))}


def multiclass_metrics(y: np.ndarray, prob: np.ndarray) -> dict:
    pred = prob.argmax(axis=1)
    out = {"accuracy": float(accuracy_score(y, pred)),
           "f1_score_macro": float(f1_score(y, pred, average="macro")),
           "log_loss": float(log_loss(y, prob, labels=list(range(prob.shape[1]))))}
    for i in range(prob.shape[1]):
        y_i = (y == i).astype(int)
        if len(np.unique(y_i)) > 1:
            out[f"auc_roc_class_{i}"] = float(roc_auc_score(y_i, prob[:, i]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job_type", required=True)
    args = parser.parse_args()
    id_field = os.environ.get("ID_FIELD", "id")
    label_field = os.environ.get("LABEL_FIELD", "label")
    comparison = env_bool("COMPARISON_MODE", "false")
    previous_field = os.environ.get("PREVIOUS_SCORE_FIELD", "").strip()
    comparison_metrics = os.environ.get("COMPARISON_METRICS", "all").strip().lower()
    logged = {k: env_bool(k, "true") for k in ("STATISTICAL_TESTS", "COMPARISON_PLOTS")}
    print(f"job_type={args.job_type} ID_FIELD={id_field} LABEL_FIELD={label_field} "
          f"COMPARISON_MODE={comparison} PREVIOUS_SCORE_FIELD={previous_field!r} "
          f"COMPARISON_METRICS={comparison_metrics}; not implemented here: {logged}")
    if comparison and not previous_field:
        print("COMPARISON_MODE is true but PREVIOUS_SCORE_FIELD is empty: comparison disabled")
        comparison = False

    provenance = extract_in_place(MODEL_DIR)
    booster, risk, impute, features, hyper = load_model(MODEL_DIR)
    provenance["xgboost_model_bst_sha256"] = sha256(MODEL_DIR / "xgboost_model.bst")
    df, fmt = load_eval_data()
    for name, field in (("ID_FIELD", id_field), ("LABEL_FIELD", label_field)):
        if field not in df.columns:
            raise KeyError(f"{name} {field!r} is not a column of the eval data: {list(df.columns)}")

    categories = hyper.get("multiclass_categories", [0, 1])
    index = {str(c): i for i, c in enumerate(categories)}
    keys = df[label_field].map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    unknown = sorted(set(keys) - set(index))
    if unknown:
        raise ValueError(f"label values {unknown} are not among the model's classes {categories}")
    y = keys.map(index).to_numpy(dtype=int)

    prob = booster.predict(xgb.DMatrix(features_matrix(df, features, risk, impute),
                                       feature_names=features))
    if prob.ndim == 1:
        prob = np.vstack([1 - prob, prob]).T
    binary = prob.shape[1] == 2
    metrics = binary_metrics(y, prob[:, 1]) if binary else multiclass_metrics(y, prob)
    metrics.update(n=len(y), job_type=args.job_type, num_features=len(features), **provenance)

    out = pd.DataFrame({id_field: df[id_field].values, label_field: y})
    for i in range(prob.shape[1]):
        out[f"prob_class_{i}"] = prob[:, i]
    if comparison:
        if previous_field not in df.columns:
            print(f"PREVIOUS_SCORE_FIELD {previous_field!r} not in the data: comparison skipped")
        elif binary:
            previous = pd.to_numeric(df[previous_field], errors="coerce").fillna(0.0).to_numpy()
            out[previous_field] = previous
            before = binary_metrics(y, previous)
            keep = [k for k in before if comparison_metrics == "all" or k.startswith(comparison_metrics)]
            metrics["comparison"] = {k: {"previous": before[k], "new": metrics[k],
                                         "delta": None if before[k] is None or metrics[k] is None
                                         else metrics[k] - before[k]} for k in keep}

    OUT_EVAL.mkdir(parents=True, exist_ok=True)
    OUT_METRICS.mkdir(parents=True, exist_ok=True)
    pred_path = OUT_EVAL / f"eval_predictions.{fmt}"
    if fmt == "parquet":
        out.to_parquet(pred_path, index=False)
    else:
        out.to_csv(pred_path, sep="\t" if fmt == "tsv" else ",", index=False)
    (OUT_METRICS / "metrics.json").write_text(json.dumps(metrics, indent=2))
    summary = [f"{k}: {v}" for k, v in metrics.items() if not isinstance(v, dict)]
    (OUT_METRICS / "metrics_summary.txt").write_text("METRICS SUMMARY\n" + "\n".join(summary) + "\n")
    (OUT_METRICS / "_SUCCESS").touch()
    print(f"wrote {pred_path} {out.shape}; metrics: {metrics}")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001  (one clear line, non-zero exit)
        message = f"{type(exc).__name__}: {exc}"
        print(f"ERROR xgboost_model_eval: {message}", file=sys.stderr)
        try:
            OUT_METRICS.mkdir(parents=True, exist_ok=True)
            (OUT_METRICS / "_FAILURE").write_text(message)
        except OSError:
            pass
        sys.exit(1)
