from pathlib import Path

import pytest
import yaml
from conftest import SHARED
from cursus_local.errors import UserError
from cursus_local.jobs.contracts import STEP_SUFFIXES, find_step, load_step, step_name_of

INTERFACES = SHARED / "cursus" / "interfaces"


REAL_INTERFACES = sorted(p for suffix in STEP_SUFFIXES for p in INTERFACES.glob(f"*{suffix}"))


@pytest.mark.parametrize("path", REAL_INTERFACES, ids=lambda p: p.name)
def test_every_real_cursus_interface_loads_as_it_is(path: Path):
    """Whatever the shared folder holds: the contract is read field by field, the rest is kept.
    A step may have no inputs (a source) or no outputs (Registration: its effect is a side effect)."""
    doc = yaml.safe_load(path.read_text())
    contract = doc["contract"]
    step = load_step(path)
    assert step.raw == doc and step.spec == (doc.get("spec") or {})
    assert step.name == step_name_of(path) and step.step_type == doc.get("step_type")
    assert step.entry_point == contract["entry_point"]
    assert step.sagemaker_step_type == ((doc.get("registry") or {}).get("sagemaker_step_type")
                                        or "Processing")
    declared_inputs = contract.get("inputs") or {}
    assert list(step.inputs) == list(declared_inputs)
    for name, spec in declared_inputs.items():
        assert step.inputs[name].path == spec["path"].rstrip("/") and step.inputs[name].path.startswith("/")
        assert step.inputs[name].required is spec.get("required", True)
    declared_outputs = contract.get("outputs") or {}
    assert list(step.outputs) == list(declared_outputs)
    for name, spec in declared_outputs.items():
        assert step.outputs[name].path == spec["path"].rstrip("/") and step.outputs[name].path.startswith("/")
    env = contract.get("env_vars") or {}
    assert step.env_required == (env.get("required") or [])
    optional = env.get("optional") or {}
    assert step.env_optional == {k: "" if v is None else str(v) for k, v in optional.items()}
    assert [(a.flag, a.source) for a in step.job_arguments] == [
        (j["flag"], j.get("source") or j["flag"].lstrip("-")) for j in contract.get("job_arguments") or []]
    compute = doc.get("compute") or {}
    assert step.kind == (compute.get("kind") or "sklearn") and step.sdk_class == compute.get("sdk_class")
    assert step.source_dir is bool(contract.get("source_dir", False))
    assert step.image == compute.get("image") or step.image.startswith("cursus-local/")


@pytest.mark.skipif(not (INTERFACES / "tabular_preprocessing.step.yaml").is_file(),
                    reason="../shared/cursus is not beside this repo")
def test_a_real_cursus_interface_read_in_detail():
    tab = load_step(INTERFACES / "tabular_preprocessing.step.yaml")
    assert tab.name == "tabular_preprocessing" and tab.step_type == "TabularPreprocessing"
    assert tab.inputs["DATA"].path == "/opt/ml/processing/input/data" and tab.inputs["DATA"].required
    assert not tab.inputs["SIGNATURE"].required
    assert tab.env_optional["TRAIN_RATIO"] == "0.7"
    assert [(a.flag, a.source) for a in tab.job_arguments] == [("--job_type", "job_type")]
    assert tab.image == "cursus-local/sklearn-processing:1.2-1"
    assert load_step(INTERFACES / "risk_table_mapping.step.yaml").image.startswith(
        "cursus-local/sklearn-processing")   # FrameworkProcessor(SKLearn)
    assert "semantic_keywords" in tab.spec["dependencies"]["DATA"]


@pytest.mark.parametrize("text, field, fix", [
    ("step_type: X\n", "contract", "add a `contract:`"),
    ("contract: {inputs: {}}\n", "contract.entry_point", "entry_point:"),
    ("contract: {entry_point: a.py, inputs: {d: {path: relative/x}}}\n", "contract.inputs.d.path",
     "/opt/ml/processing/input/d"),
    ("contract: {entry_point: a.py, inputs: {d: {path: /opt/ml/processing/x, required: maybe}}}\n",
     "contract.inputs.d.required", "required: true"),
    ("contract: {entry_point: a.py, env_vars: {required: LABEL}}\n", "contract.env_vars.required", "["),
    ("contract: {entry_point: a.py}\ncompute: {instance_count: 0}\n", "compute.instance_count", "1"),
    ("contract: {entry_point: a.py, source_dir: yes please}\n", "contract.source_dir", "source_dir: true"),
    ("contract: [oops\n", "line 2", "fix the YAML"),   # yamlfile.load (duplicate keys too)
])
def test_bad_step_files_name_file_field_and_fix(tmp_path: Path, text, field, fix):
    path = tmp_path / "bad.step.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        load_step(path)
    assert err.value.file == str(path)
    assert err.value.field == field
    assert fix in err.value.fix


def test_find_step_by_name_looks_in_steps_folder(tmp_path: Path):
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "a.step.yaml").write_text("contract: {entry_point: a.py}\n")
    assert find_step("a", [tmp_path]) == tmp_path / "steps" / "a.step.yaml"
    with pytest.raises(UserError) as err:
        find_step("missing", [tmp_path])
    assert "steps/missing.step.yaml" in err.value.fix


def test_a_step_name_typo_gets_a_did_you_mean(tmp_path):
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "currency_conversion.step.yaml").write_text("contract: {entry_point: x.py}\n")
    with pytest.raises(UserError) as error:
        find_step("currency_convertion", [tmp_path])
    assert error.value.fix.startswith("did you mean 'currency_conversion'?")
