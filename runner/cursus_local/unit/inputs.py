"""A unit test's input data: where each input's data comes from (a plan), checking a scenario's
synthetic parameters against the step's input suites, and writing the data.

An input with a suite (or `columns:` parameters) is generated, in the layout of its
`local.inputs` sample unless the case gives one; an input with only a sample uses it as is.
`generate` is the whole of `cursus-local generate-data`, short of printing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..data import checks, datasets, synthetic
from ..data.datasets import Layout
from ..errors import UserError
from ..jobs.contracts import Step, find_step, load_step
from ..status import Verdict
from .model import Case


@dataclass
class InputPlan:
    """Where one input's data comes from: generated (suite and/or parameters) or a sample as is."""
    name: str
    suite: Path | None = None
    params: dict = field(default_factory=dict)
    layout: Layout | None = None
    sample: Path | None = None


def plan_inputs(step: Step, case: Case, *, suites: dict[str, Path] | None = None) -> list[InputPlan]:
    """One plan per input of `step` that has data to use; `suites` replace the step's own.
    A required input with neither a suite nor a sample is an error naming the step file."""
    plans = _sources(step, case, suites)
    for plan in plans:
        if plan.sample is None:        # generated: in the case's layout, else like the sample
            sample = _sample(step, plan.name)
            plan.layout = case.input_layouts.get(plan.name) or case.layout or (
                datasets.detect_layout(sample) if sample else None)
    return plans


def check_params(step: Step, case: Case) -> None:
    """The case's synthetic parameters name real columns and hold valid values for the suites of
    the inputs they go to. Nothing is generated and no sample is read: loading stays cheap."""
    _check_params(_sources(step, case, None))


def _sources(step: Step, case: Case, suites: dict[str, Path] | None) -> list[InputPlan]:
    """Plans without their layouts: which inputs are generated (from what) and which use a sample."""
    suites = {**step.input_suites, **(suites or {})}
    plans = []
    for name, spec in step.inputs.items():
        params = case.params.get(name, {})
        if name in suites or params.get("columns"):
            plans.append(InputPlan(name, suites.get(name), params))
        elif sample := _sample(step, name):
            plans.append(InputPlan(name, sample=sample))
        elif spec.required:
            raise UserError(f"input {name!r} has no suite to generate data from and no sample",
                            file=str(step.file), field=f"suites.inputs.{name}",
                            fix="add `suites: {inputs: {" + name + ": <suite.json>}}` to the step "
                                "(cursus-local suggest-suite drafts one from real data), or give "
                                f"`inputs: {{{name}: {{columns: ...}}}}` in the scenario")
    return plans


def _sample(step: Step, name: str) -> Path | None:
    """The input's sample data (`local.inputs` of the step file), if it is there."""
    sample = step.local.get("inputs", {}).get(name)
    return sample if isinstance(sample, Path) and sample.exists() else None


def _check_params(plans: list[InputPlan]) -> None:
    for plan in plans:
        if plan.sample is None:
            synthetic.check_params(checks.load_suite(plan.suite) if plan.suite else None, plan.params)


def write_inputs(plans: list[InputPlan], folder: Path, rows: int, seed: int,
                 single_in_folder: bool = False) -> dict[str, Path]:
    """Generate each planned input into `folder/<input>` (`folder` itself if single_in_folder
    and there is one input); deterministic for a seed. Returns input -> its data."""
    bound = {}
    for i, plan in enumerate(plans):
        if plan.sample is not None:
            bound[plan.name] = plan.sample
            continue
        target = folder if single_in_folder and len(plans) == 1 else folder / plan.name
        suite = checks.load_suite(plan.suite) if plan.suite else None
        synthetic.generate_to(target, suite, rows, seed=seed + i, params=plan.params,
                              layout=plan.layout)
        bound[plan.name] = target
    return bound


# ----------------------------------------------------------------------------- generate-data

@dataclass
class GeneratedInput:
    name: str
    folder: Path
    files: int
    layout: Layout
    check: Verdict | None          # the data against its suite; None: not checked


@dataclass
class Generated:
    rows: int
    seed: int
    inputs: list[GeneratedInput]
    samples: dict[str, Path]       # inputs with no suite: their sample is used as is, not written


def generate(out: Path, *, scenario_dir: Path, script: str | None = None, suite: Path | None = None,
             input: str | None = None, rows: int | None = None, seed: int = 0,
             params: dict | None = None, case: Case | None = None, format: str | None = None,
             shards: int | None = None, splits: str | None = None, check: bool = True) -> Generated:
    """Write synthetic data for `script`'s inputs (its suites, or `suite`) into `out`, in the
    layout of its sample data changed by `format`, `shards` and `splits` ("train,test").

    `case` is a data scenario (config.scenario_case): its parameters, rows, seed and layout;
    `rows` and `params` are added on top. Without a case, `seed` and 1,000 rows are used."""
    if not script and not suite:
        raise UserError("nothing to generate from", field="--script",
                        fix="pass --script NAME (its input suites) or --suite FILE.json")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError("the output folder is not empty", file=str(out),
                        fix="choose a new or empty folder (generated files would mix with these)")
    case = dataclasses.replace(case) if case else Case("generate-data", 1000, seed=seed)
    case.rows = case.rows if rows is None else rows
    params = params or {}
    if script:
        step = load_step(find_step(script, [scenario_dir, Path.cwd()]))
        target = input or (next(iter(step.inputs)) if len(step.inputs) == 1 else None)
        if input and input not in step.inputs:
            raise UserError(f"no input {input!r} in {step.name}", field="--input",
                            fix=f"use one of {sorted(step.inputs)}")
        if (suite or params) and target is None:
            raise UserError(f"{step.name} has inputs {sorted(step.inputs)}: which one is meant?",
                            field="--input", fix="add --input NAME")
        if params:
            case.params = {**case.params, target: {**case.params.get(target, {}), **params}}
        plans = plan_inputs(step, case, suites={target: suite} if suite else None)
        plans = [p for p in plans if not input or p.name == input]
    else:
        plans = [InputPlan("data", suite, params)]
    samples = {p.name: p.sample for p in plans if p.sample is not None}
    todo = [p for p in plans if p.sample is None]
    if not todo:
        used = "; ".join(f"input {n} has no suite, only its sample {s}" for n, s in samples.items())
        raise UserError("no input to generate" + (f" ({used})" if used else ""), field="--script",
                        fix="give the step input suites (suites: inputs:) or pass --suite FILE.json")
    _check_params(todo)            # every input's parameters first: nothing written if one is wrong
    for plan in todo:
        plan.layout = _with_options(plan.layout, format, shards, splits)
    bound = write_inputs(todo, out, case.rows, case.seed, single_in_folder=True)
    made = []
    for plan in todo:
        folder = bound[plan.name]
        made.append(GeneratedInput(
            plan.name, folder, sum(1 for p in folder.rglob("*") if p.is_file()), plan.layout,
            checks.validate(plan.suite, folder).status if check and plan.suite else None))
    return Generated(case.rows, case.seed, made, samples)


def _with_options(layout: Layout | None, format: str | None, shards: int | None,
                  splits: str | None) -> Layout:
    """The planned layout (the sample's, or one CSV) with the command line's changes."""
    base = layout or Layout()
    if not (format or shards or splits):
        return base
    # A sample's own file names are kept while they still fit (a shard number for several shards,
    # splits to fill in {split}), with the new format's extension: a consumer may open
    # train/train_processed_data.<ext> by name. Per-split layouts are dropped: options apply to
    # every split.
    new_splits = [s for s in splits.split(",") if s] if splits else base.splits
    names = datasets.placeholders(base.file_pattern)
    pattern, old_ext = base.file_pattern, datasets.file_extension(base.format, base.compression)
    if format and format != base.format:
        pattern = pattern.removesuffix(old_ext) + datasets.file_extension(format) \
            if pattern.endswith(old_ext) else ""
    keep_pattern = ("i" in names or (shards or 1) == 1) and ("split" not in names or new_splits)
    return Layout(format=format or base.format, compression=None if format else base.compression,
                  shards=shards or base.shards, header=base.header, splits=new_splits,
                  file_pattern=pattern if keep_pattern else "")
