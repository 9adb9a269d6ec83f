from pathlib import Path

import pytest
from conftest import SHARED
from cursus_local.errors import UserError
from cursus_local.jobs.contracts import find_step, load_step

INTERFACES = SHARED / "cursus" / "interfaces"


@pytest.mark.skipif(not INTERFACES.is_dir(), reason="../shared/cursus is not beside this repo")
def test_every_real_cursus_interface_loads_as_it_is():
    files = sorted(INTERFACES.glob("*.step.yaml"))
    assert len(files) >= 6
    for path in files:
        step = load_step(path)
        assert step.entry_point.endswith(".py")
        assert step.outputs and step.spec       # contract read, the rest kept
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
    ("contract: [oops\n", None, "fix the YAML"),
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
