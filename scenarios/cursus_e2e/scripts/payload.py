"""Payload: write sample inference requests for the trained model, archived as payload.tar.gz.

Interface: ../shared/cursus/interfaces/payload.step.yaml (Processing, sklearn).

  input   model_input           /opt/ml/processing/input/model
          required; model.tar.gz (only hyperparameters.json and feature_columns.txt are read
          from it, into WORKING_DIRECTORY), or those files themselves
  input   custom_payload_input  /opt/ml/processing/input/custom_payload
          optional; a .json / .csv file there is used as is for that content type
  output  payload_sample        /opt/ml/processing/output
          payload.tar.gz with payload_<content_type>_<i>.<ext>
  args    none (the interface declares no job arguments)
  env     CONTENT_TYPES (application/json; comma-separated, also text/csv), DEFAULT_NUMERIC_VALUE (0.0),
          DEFAULT_TEXT_VALUE (DEFAULT_TEXT), FIELD_DEFAULTS (JSON object: field -> value),
          SPECIAL_FIELD_<name> (per-field value, wins over FIELD_DEFAULTS; <name> is lower-cased),
          WORKING_DIRECTORY (/tmp/mims_payload_work)

Fields: feature_columns.txt gives the order (the XGBoost model's); hyperparameters.json says which
are numeric (tab_field_list) and which are text (cat_field_list), and names the id field. The JSON
payload is {id, fields...} with values as strings, as Cursus writes it; the CSV payload is one
line of the feature values, in model order, with no header. The output is reproducible.
"""
import argparse
import gzip
import json
import os
import sys
import tarfile
from pathlib import Path

MODEL_IN = Path("/opt/ml/processing/input/model")
CUSTOM_IN = Path("/opt/ml/processing/input/custom_payload")
OUTPUT = Path("/opt/ml/processing/output")
WANTED = ("hyperparameters.json", "feature_columns.txt")
EXTENSIONS = {"application/json": ".json", "text/csv": ".csv"}


def read_model_files(work: Path) -> dict:
    if not MODEL_IN.is_dir():
        raise FileNotFoundError(f"input model_input: {MODEL_IN} does not exist")
    found = {name: MODEL_IN / name for name in WANTED if (MODEL_IN / name).is_file()}
    tar_path = MODEL_IN / "model.tar.gz"
    if tar_path.is_file():
        with tarfile.open(tar_path, "r:gz") as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if member.isfile() and name in WANTED and name not in found:
                    (work / name).write_bytes(tar.extractfile(member).read())
                    found[name] = work / name
    if "hyperparameters.json" not in found:
        raise FileNotFoundError(f"hyperparameters.json is neither in {MODEL_IN} nor in its model.tar.gz")
    print(f"model files: { {k: str(v) for k, v in found.items()} }")
    return found


def field_values(env: dict) -> dict:
    values = {}
    raw = env.get("FIELD_DEFAULTS", "{}").strip() or "{}"
    try:
        values.update({str(k): str(v) for k, v in json.loads(raw).items()})
    except (ValueError, AttributeError):
        raise ValueError(f"FIELD_DEFAULTS must be a JSON object, got {raw!r}") from None
    for key, value in env.items():
        if key.startswith("SPECIAL_FIELD_"):
            values[key[len("SPECIAL_FIELD_"):].lower()] = value
    return values


def build_payloads(files: dict, env: dict) -> dict:
    hyper = json.loads(files["hyperparameters.json"].read_text())
    numeric = set(hyper.get("tab_field_list", []))
    id_name, label = hyper.get("id_name"), hyper.get("label_name")
    if "feature_columns.txt" in files:
        order = [line.split(",", 1)[1].strip()
                 for line in files["feature_columns.txt"].read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    else:
        order = [f for f in hyper.get("full_field_list", []) if f not in (id_name, label)]
    if not order:
        raise ValueError("no fields: feature_columns.txt and full_field_list are both missing or empty")
    default_numeric = str(float(env.get("DEFAULT_NUMERIC_VALUE", "0.0")))
    default_text = env.get("DEFAULT_TEXT_VALUE", "DEFAULT_TEXT")
    overrides = field_values(env)

    def value(field: str) -> str:
        if field in overrides:
            return overrides[field]
        return default_numeric if field in numeric else default_text

    record = {}
    if id_name:
        record[id_name] = overrides.get(id_name, "TEST_ID")
    record.update((f, value(f)) for f in order)
    csv_line = ",".join(f'"{v}"' if "," in v else v for v in (value(f) for f in order))
    return {"application/json": json.dumps(record), "text/csv": csv_line}


def custom_payload(content_type: str):
    if not CUSTOM_IN.is_dir():
        return None
    files = sorted(p for p in CUSTOM_IN.rglob(f"*{EXTENSIONS[content_type]}") if p.is_file())
    return files[0].read_text() if files else None


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    env = dict(os.environ)
    content_types = [c.strip() for c in env.get("CONTENT_TYPES", "application/json").split(",") if c.strip()]
    unknown = [c for c in content_types if c not in EXTENSIONS]
    if unknown or not content_types:
        raise ValueError(f"CONTENT_TYPES: supported are {sorted(EXTENSIONS)}, got {content_types}")
    work = Path(env.get("WORKING_DIRECTORY", "/tmp/mims_payload_work"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"CONTENT_TYPES={content_types} WORKING_DIRECTORY={work}")

    generated = build_payloads(read_model_files(work), env)
    sample_dir = work / "payload_sample"
    sample_dir.mkdir(exist_ok=True)
    written = []
    for i, content_type in enumerate(content_types):
        body = custom_payload(content_type)
        source = "custom_payload_input" if body is not None else "generated"
        path = sample_dir / f"payload_{content_type.replace('/', '_')}_{i}{EXTENSIONS[content_type]}"
        path.write_text(body if body is not None else generated[content_type])
        written.append(path)
        print(f"{path.name} ({source}): {path.read_text()[:300]}")

    OUTPUT.mkdir(parents=True, exist_ok=True)
    archive = OUTPUT / "payload.tar.gz"
    with open(archive, "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in written:
            info = tar.gettarinfo(str(path), arcname=path.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
            with path.open("rb") as f:
                tar.addfile(info, f)
    print(f"wrote {archive} with {[p.name for p in written]}")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001  (one clear line, non-zero exit)
        print(f"ERROR payload: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
