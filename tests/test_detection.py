"""The detection benchmark's break catalog, checked in-process on the demo's sample data.

`bench/detection.py` runs the catalog against the real pipeline; here every break whose producer
output the demo ships as sample data (tabular_preprocessing's `data/preprocessed`,
currency_conversion's `data/converted`) is applied to a copy of it and validated against the suite
`suggest-suite` drafts from the good data and the step's input (`data/raw`, `data/preprocessed`:
for the row ratio), checked with that input as the sequencer hands it: each harmful break fails
critically, naming its split, column or file; each benign control does not fail."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
from cursus_local.data import checks, suggest
from cursus_local.data.layout_checks import StepInputs

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("detection", REPO / "bench" / "detection.py")
detection = sys.modules["detection"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(detection)

SAMPLES = {detection.TP: REPO / "scenarios/demo/data/preprocessed",
           detection.CC: REPO / "scenarios/demo/data/converted"}
INPUTS = {detection.TP: {"DATA": REPO / "scenarios/demo/data/raw"},   # what each step read
          detection.CC: {"input_data": REPO / "scenarios/demo/data/preprocessed"}}
CASES = [b for b in detection.CATALOG if b.producer in SAMPLES and not b.needs_date]


def test_the_catalog_is_big_enough():
    assert sum(b.harmful for b in detection.CATALOG) >= 20
    assert sum(not b.harmful for b in detection.CATALOG) + 1 >= 4   # + the new-data rerun


@pytest.fixture(scope="module")
def drafted():
    return {producer: suggest.suggest_suite(path, name=".".join(producer), inputs=[INPUTS[producer]])
            for producer, path in SAMPLES.items()}


@pytest.mark.parametrize("brk", CASES, ids=[b.name for b in CASES])
def test_drafted_suite_catches_harm_and_lets_benign_pass(tmp_path, drafted, brk):
    folder = tmp_path / "output"
    shutil.copytree(SAMPLES[brk.producer], folder)
    detection.apply_break(brk, folder)
    step = StepInputs(brk.producer[0], INPUTS[brk.producer])
    result = checks.validate(drafted[brk.producer], folder, inputs=step)   # never raises
    if brk.harmful:
        assert result.status == "FAIL", brk.why
        first = next(f for f in result.failures if f.severity == "critical")
        named_input = any(f"{step.step} " in first.message and f"{name!r}" in first.message
                          for name in step.paths)   # a row ratio: the producer and its input
        assert first.message and (first.split or first.column or "part-" in first.message
                                  or named_input)
    else:
        assert result.status != "FAIL", [f.message for f in result.failures]
