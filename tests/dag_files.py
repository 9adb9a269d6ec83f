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


def branching_dag(tmp_path: Path) -> Path:
    """load -> prep -> train, and load -> side (an independent branch), for a fake backend."""
    steps = tmp_path / "steps"
    for name, inputs, outputs in (("load", {}, ["data"]), ("prep", {"data": True}, ["processed"]),
                                  ("train", {"processed": True}, ["model"]), ("side", {"data": True}, ["report"])):
        write_step(steps, name, inputs=inputs, outputs=outputs)
        (steps / f"{name}.py").write_text("print('not run: the backend is a fake')\n")
    return write_dag(tmp_path, {"name": "t", "steps_dir": "steps",
                                "nodes": {"load": {}, "prep": {}, "train": {}, "side": {}},
                                "edges": ["load -> prep -> train", "load -> side"]})
