"""XGBoostTraining (SageMaker Training job, script mode): impute, risk-map, train, evaluate.

Interface: ../shared/cursus/interfaces/xgboost_training.step.yaml (Training, estimator XGBoost).

  input   input_path             /opt/ml/input/data, channels train/ val/ test/ (SM_CHANNEL_<X>
                                  wins when set); every .csv/.tsv/.parquet file of a channel is read
  input   hyperparameters_s3_uri /opt/ml/code/hyperparams/hyperparameters.json (optional; with
                                  REGION=NA|EU|FE, hyperparameters_<REGION>.json there is tried first;
                                  a folder mounted at that path is searched for the file)
  input   model_artifacts_input  /opt/ml/input/data/model_artifacts_input (optional): impute_dict.pkl,
                                  risk_table_map.pkl, selected_features.json, used when the matching
                                  USE_PRECOMPUTED_* is true (the data is then taken as already transformed)
  output  model_output           /opt/ml/model (SM_MODEL_DIR): xgboost_model.bst, risk_table_map.pkl,
                                  impute_dict.pkl, feature_columns.txt, feature_importance.json,
                                  hyperparameters.json (the effective configuration)
  output  evaluation_output      /opt/ml/output/data (SM_OUTPUT_DATA_DIR): {val,test}/predictions.csv
                                  and {val,test}/metrics.json
  args    --job_type (optional, logged) and every hyperparameter as `--key value`
  env     REGION (NA), USE_PRECOMPUTED_IMPUTATION / _RISK_TABLES / _FEATURES (false),
          USE_SECURE_PYPI (logged: this script installs nothing, the image has what it needs)

Hyperparameters, later sources win: built-in defaults < hyperparams file (above) <
/opt/ml/input/config/hyperparameters.json (SM_INPUT_TRAINING_CONFIG_FILE; values are JSON
strings, as SageMaker writes them) < `--key value` arguments. String values are decoded as JSON
("20" -> 20, '["a","b"]' -> list), else as a Python literal ("['a', 'b']", "True": how the
training toolkit renders decoded values as arguments), else kept as strings. An argument that is
just the toolkit's rendering of the value hyperparameters.json already gave keeps the typed
value (a dict argument "k=v,..." cannot be decoded). Without any hyperparameters the script
infers: label_name=label, id_name=id, numeric columns -> tab_field_list, text columns ->
cat_field_list, the label's values -> multiclass_categories.

On error: the message goes to /opt/ml/output/failure (the Training job's FailureReason) and the
exit code is 1.
"""
import argparse
import ast
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import average_precision_score, f1_score, log_loss, roc_auc_score

INPUT_DATA = Path("/opt/ml/input/data")
HP_DIR = Path("/opt/ml/code/hyperparams")
ARTIFACTS_IN = Path(os.environ.get("SM_CHANNEL_MODEL_ARTIFACTS_INPUT",
                                   INPUT_DATA / "model_artifacts_input"))
FAILURE_FILE = Path("/opt/ml/output/failure")
CHANNELS = ("train", "val", "test")
DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".csv.gz")

DEFAULTS = {
    "label_name": "label", "id_name": "id",
    "num_round": 50, "max_depth": 4, "eta": 0.1, "min_child_weight": 1.0, "gamma": 0.0,
    "subsample": 1.0, "colsample_bytree": 1.0, "lambda_xgb": 1.0, "alpha_xgb": 0.0,
    "booster": "gbtree", "tree_method": "hist", "seed": 0, "early_stopping_rounds": None,
    "smooth_factor": 0.0, "count_threshold": 0,
}
XGB_PARAMS = {"max_depth": "max_depth", "eta": "eta", "min_child_weight": "min_child_weight",
              "gamma": "gamma", "subsample": "subsample", "colsample_bytree": "colsample_bytree",
              "lambda_xgb": "lambda", "alpha_xgb": "alpha", "booster": "booster",
              "tree_method": "tree_method", "seed": "seed", "scale_pos_weight": "scale_pos_weight",
              "max_delta_step": "max_delta_step", "base_score": "base_score"}


def decode(value):
    """A hyperparameter value as SageMaker hands it over (a string) -> a Python value."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)  # "20", "0.1", '["a", "b"]', "true"
    except ValueError:
        pass
    try:
        return ast.literal_eval(value)  # "['a', 'b']", "True": the toolkit's str() of a value
    except (ValueError, SyntaxError):
        return value


def as_argument(value) -> str:
    """How the SageMaker training toolkit (mapping.to_cmd_args) renders a value as an argument."""
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    return "" if value is None else str(value)


def env_bool(name: str, default: str = "false") -> bool:
    return os.environ.get(name, default).strip().lower() == "true"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job_type", default=None)
    args, rest = parser.parse_known_args()
    cli = {}
    i = 0
    while i < len(rest):
        token = rest[i]
        if not token.startswith("--") or len(token) == 2:
            raise ValueError(f"unexpected argument {token!r}: hyperparameters come as --key value")
        if "=" in token:
            key, value = token[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(rest):
                raise ValueError(f"hyperparameter argument {token} has no value")
            key, value = token[2:], rest[i + 1]
            i += 2
        cli[key] = value
    return args, cli


def load_config(cli: dict):
    config, sources = dict(DEFAULTS), {k: "default" for k in DEFAULTS}
    region = os.environ.get("REGION", "NA").strip().upper()
    candidates = [HP_DIR / f"hyperparameters_{region}.json"] if region in ("NA", "EU", "FE") else []
    candidates.append(HP_DIR / "hyperparameters.json")
    # The interface names a file path; a runner that mounts the input as a folder at that path
    # puts the file inside it: accept both.
    candidates = [q for p in candidates for q in ((p / p.name, *sorted(p.glob("*.json")))
                                                   if p.is_dir() else (p,))]
    hp_file = next((p for p in candidates if p.is_file()), None)
    sm_file = Path(os.environ.get("SM_INPUT_TRAINING_CONFIG_FILE",
                                  "/opt/ml/input/config/hyperparameters.json"))
    layers = []
    if hp_file:
        layers.append((str(hp_file), json.loads(hp_file.read_text())))
    else:
        print(f"no hyperparameters file in {HP_DIR} (tried {[str(p) for p in candidates]})")
    if sm_file.is_file():
        layers.append((str(sm_file), {k: decode(v) for k, v in json.loads(sm_file.read_text()).items()
                                      if not k.startswith("sagemaker_")}))  # the SDK's own keys
    for source, values in layers:
        for key, value in values.items():
            config[key], sources[key] = value, source
    # Arguments win. On SageMaker they repeat hyperparameters.json, rendered by str() (a list
    # becomes "['a', 'b']", a dict "k=v,..."): an argument that is exactly that rendering of the
    # value already loaded keeps the typed value; any other argument is decoded and overrides.
    for key, raw in cli.items():
        if key in config and sources[key] != "default" and raw == as_argument(config[key]):
            continue
        config[key], sources[key] = decode(raw), "arguments"
    return config, sources


def read_channel(name: str) -> pd.DataFrame:
    folder = Path(os.environ.get(f"SM_CHANNEL_{name.upper()}", INPUT_DATA / name))
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES)) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"channel {name!r}: no {DATA_SUFFIXES} file in {folder}")
    frames = []
    for p in files:
        if p.name.endswith(".parquet"):
            frames.append(pd.read_parquet(p))
        else:
            frames.append(pd.read_csv(p, sep="\t" if p.name.endswith(".tsv") else ","))
    df = pd.concat(frames, ignore_index=True)
    print(f"channel {name}: {[str(p) for p in files]} {df.shape}")
    return df


def complete_config(config: dict, train: pd.DataFrame) -> dict:
    label, id_name = config["label_name"], config.get("id_name")
    if label not in train.columns:
        raise KeyError(f"label_name {label!r} is not a column of train: {list(train.columns)}")
    others = [c for c in train.columns if c not in (label, id_name)]
    if "tab_field_list" not in config:
        config["tab_field_list"] = [c for c in others if pd.api.types.is_numeric_dtype(train[c])]
    if "cat_field_list" not in config:
        config["cat_field_list"] = [c for c in others if not pd.api.types.is_numeric_dtype(train[c])]
    config.setdefault("full_field_list", list(train.columns))
    if "multiclass_categories" not in config:
        config["multiclass_categories"] = [decode(label_key(v))
                                           for v in sorted(train[label].dropna().unique())]
    config["num_classes"] = len(config["multiclass_categories"])
    config["is_binary"] = config["num_classes"] == 2
    if config["num_classes"] < 2:
        raise ValueError(f"need at least 2 classes, got {config['multiclass_categories']}")
    missing = [c for c in config["tab_field_list"] + config["cat_field_list"] if c not in train.columns]
    if missing:
        raise KeyError(f"fields named in the hyperparameters are not in train: {missing}")
    weights = config.get("class_weights")
    if weights is not None and len(weights) != config["num_classes"]:
        raise ValueError(f"class_weights has {len(weights)} values for {config['num_classes']} classes")
    return config


def label_key(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def encode_labels(series: pd.Series, config: dict, split: str) -> np.ndarray:
    index = {label_key(c): i for i, c in enumerate(config["multiclass_categories"])}
    keys = series.map(label_key)
    unknown = sorted(set(keys) - set(index))
    if unknown:
        raise ValueError(f"{split}: label values {unknown} are not in multiclass_categories "
                         f"{config['multiclass_categories']}")
    return keys.map(index).to_numpy(dtype=int)


def fit_risk_tables(train: pd.DataFrame, y: np.ndarray, config: dict) -> dict:
    target = (y > 0).astype(float)  # binary: P(class 1); multiclass: P(not the first class)
    prior = float(target.mean())
    smooth, threshold = float(config["smooth_factor"]), int(config["count_threshold"])
    tables = {}
    for col in config["cat_field_list"]:
        frame = pd.DataFrame({"v": train[col].astype(str), "t": target})
        stats = frame.groupby("v")["t"].agg(["sum", "count"])
        bins = {}
        for value, row in stats.iterrows():
            n = float(row["count"])
            bins[str(value)] = prior if n < threshold else float(
                (row["sum"] + smooth * prior) / (n + smooth))
        tables[col] = {"varName": col, "type": "categorical", "mode": "categorical",
                       "default_bin": prior, "bins": bins}
    return tables


def transform(df: pd.DataFrame, config: dict, impute: dict, risk: dict, *, imputed: bool,
              mapped: bool) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for col in config["tab_field_list"]:
        values = pd.to_numeric(df[col], errors="coerce")
        out[col] = values if imputed else values.fillna(impute[col])
    for col in config["cat_field_list"]:
        if mapped:
            out[col] = pd.to_numeric(df[col], errors="coerce")
        else:
            table = risk[col]
            out[col] = df[col].astype(str).map(table["bins"]).fillna(table["default_bin"])
    return out.astype(float)


def metrics_for(y: np.ndarray, prob: np.ndarray, binary: bool) -> dict:
    if binary:
        score = prob[:, 1]
        single = len(np.unique(y)) > 1
        return {"auc_roc": float(roc_auc_score(y, score)) if single else None,
                "average_precision": float(average_precision_score(y, score)) if single else None,
                "f1_score": float(f1_score(y, score > 0.5)),
                "log_loss": float(log_loss(y, score, labels=[0, 1])), "n": len(y)}
    pred = prob.argmax(axis=1)
    return {"accuracy": float((pred == y).mean()),
            "f1_score_macro": float(f1_score(y, pred, average="macro")),
            "log_loss": float(log_loss(y, prob, labels=list(range(prob.shape[1])))), "n": len(y)}


def main() -> None:
    args, cli = parse_args()
    print(f"job_type={args.job_type}; USE_SECURE_PYPI={os.environ.get('USE_SECURE_PYPI', 'true')} "
          f"(nothing is installed: the image has xgboost, pandas, scikit-learn)")
    config, sources = load_config(cli)
    model_dir = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    out_dir = Path(os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"))
    frames = {name: read_channel(name) for name in CHANNELS}
    config = complete_config(config, frames["train"])
    ys = {name: encode_labels(df[config["label_name"]], config, name) for name, df in frames.items()}

    # Pre-computed artifacts (the data is then already transformed), else computed here.
    use = {k: env_bool(f"USE_PRECOMPUTED_{k}") for k in ("IMPUTATION", "RISK_TABLES", "FEATURES")}
    print(f"USE_PRECOMPUTED_*: {use}; model_artifacts_input present: {ARTIFACTS_IN.is_dir()}")

    def artifact(name: str):
        path = ARTIFACTS_IN / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is needed by USE_PRECOMPUTED_* but is missing")
        return json.loads(path.read_text()) if name.endswith(".json") else pickle.loads(path.read_bytes())

    if use["FEATURES"]:
        selected = artifact("selected_features.json")["selected_features"]
        config["tab_field_list"] = [c for c in config["tab_field_list"] if c in selected]
        config["cat_field_list"] = [c for c in config["cat_field_list"] if c in selected]
    if use["IMPUTATION"]:
        impute = artifact("impute_dict.pkl")
    else:
        train_num = frames["train"][config["tab_field_list"]].apply(pd.to_numeric, errors="coerce")
        impute = {c: (float(train_num[c].mean()) if train_num[c].notna().any() else 0.0)
                  for c in config["tab_field_list"]}
    risk = artifact("risk_table_map.pkl") if use["RISK_TABLES"] else fit_risk_tables(
        frames["train"], ys["train"], config)
    features = config["tab_field_list"] + config["cat_field_list"]
    if not features:
        raise ValueError("no feature columns: tab_field_list and cat_field_list are both empty")
    X = {name: transform(df, config, impute, risk, imputed=use["IMPUTATION"],
                         mapped=use["RISK_TABLES"]) for name, df in frames.items()}

    params = {XGB_PARAMS[k]: config[k] for k in XGB_PARAMS if config.get(k) is not None}
    if config["is_binary"]:
        params.update(objective="binary:logistic", eval_metric=["logloss", "auc"])
    else:
        params.update(objective="multi:softprob", num_class=config["num_classes"],
                      eval_metric=["mlogloss", "merror"])
    weights = config.get("class_weights")
    dtrain = xgb.DMatrix(X["train"][features], label=ys["train"], feature_names=features,
                         weight=None if weights is None else np.asarray(weights, float)[ys["train"]])
    dval = xgb.DMatrix(X["val"][features], label=ys["val"], feature_names=features)
    print(f"xgboost {xgb.__version__} params={params} num_round={config['num_round']}")
    booster = xgb.train(params, dtrain, num_boost_round=int(config["num_round"]),
                        evals=[(dtrain, "train"), (dval, "val")],
                        early_stopping_rounds=config.get("early_stopping_rounds"),
                        verbose_eval=10)
    if config.get("early_stopping_rounds") and booster.best_iteration + 1 < booster.num_boosted_rounds():
        print(f"early stopping: keeping the first {booster.best_iteration + 1} rounds")
        booster = booster[: booster.best_iteration + 1]

    model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_dir / "xgboost_model.bst"))
    (model_dir / "risk_table_map.pkl").write_bytes(pickle.dumps(risk, protocol=4))
    (model_dir / "impute_dict.pkl").write_bytes(pickle.dumps(impute, protocol=4))
    (model_dir / "feature_importance.json").write_text(json.dumps(booster.get_fscore(), indent=2))
    lines = ["# Feature columns in exact order required for XGBoost model inference",
             "# DO NOT MODIFY THE ORDER OF THESE COLUMNS",
             "# Each line contains: <column_index>,<column_name>"]
    (model_dir / "feature_columns.txt").write_text(
        "\n".join(lines + [f"{i},{c}" for i, c in enumerate(features)]) + "\n")
    saved = dict(config, hyperparameter_sources=sources,
                 job_type=args.job_type or config.get("job_type"))
    (model_dir / "hyperparameters.json").write_text(json.dumps(saved, indent=2, sort_keys=True))
    print(f"model artifacts in {model_dir}: {sorted(p.name for p in model_dir.iterdir())}")

    for name in ("val", "test"):
        prob = booster.predict(xgb.DMatrix(X[name][features], feature_names=features))
        if prob.ndim == 1:
            prob = np.vstack([1 - prob, prob]).T
        folder = out_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        id_name = config.get("id_name")
        ids = frames[name][id_name] if id_name in frames[name].columns else np.arange(len(prob))
        preds = pd.DataFrame({id_name or "id": ids, config["label_name"]: ys[name]})
        for i in range(prob.shape[1]):
            preds[f"prob_class_{i}"] = prob[:, i]
        preds.to_csv(folder / "predictions.csv", index=False)
        m = metrics_for(ys[name], prob, config["is_binary"])
        (folder / "metrics.json").write_text(json.dumps(m, indent=2))
        print(f"{name} metrics: {m}")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001  (one clear line, non-zero exit)
        message = f"{type(exc).__name__}: {exc}"
        print(f"ERROR xgboost_training: {message}", file=sys.stderr)
        try:
            FAILURE_FILE.parent.mkdir(parents=True, exist_ok=True)
            FAILURE_FILE.write_text(message)
        except OSError:
            pass
        sys.exit(1)
