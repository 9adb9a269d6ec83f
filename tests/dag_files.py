"""Small step and DAG files written into tmp_path, for tests/test_dag.py and tests/test_connections.py."""

from pathlib import Path

import yaml

SHARED = Path(__file__).resolve().parents[2] / "shared"
CURSUS = SHARED / "cursus"


def write_step(folder: Path, name: str, inputs: dict[str, bool] | None = None,
               outputs: list[str] | None = None, step_type: str | None = None,
               spec: dict | None = None) -> Path:
    """`inputs` maps a name to required; `spec` is a Cursus `spec:` section."""
    doc = {"contract": {
        "entry_point": f"{name}.py",
        "inputs": {i: {"path": f"/opt/ml/processing/input/{i}", "required": r}
                   for i, r in (inputs or {}).items()},
        "outputs": {o: {"path": f"/opt/ml/processing/output/{o}"} for o in outputs or []},
    }}
    if step_type:
        doc["step_type"] = step_type
    if spec:
        doc["spec"] = spec
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.step.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def write_dag(folder: Path, doc: dict, name: str = "dag.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
