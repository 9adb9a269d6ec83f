"""Running script unit tests: each case's inputs are generated (or fetched from S3), the script
runs in its container, and the results go to `unit_tests.json`. The test_scenarios.yaml model is
in model.py, its loading in config.py, the input data in inputs.py, the quality checks in quality.py."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .. import results
from ..errors import UserError
from ..jobs.build import build
from ..jobs.processing import RunOptions
from ..pipeline.step import StepRun, run_job
from ..status import JobStatus, TestEvent, Verdict
from .inputs import plan_inputs, write_inputs
from .model import DEFAULT_VOLUME, Behavior, Case, DataFlowTest, ScriptTests, UnitTest
from .quality import Quality, evaluate_outputs

PARTS = ("synthetic", "s3_integration", "performance", "data_flow")
LOG_TAIL = 15
# s3_source keys passed on to data.s3's fetch (rows: a row sample; absent: whole objects)
S3_FETCH_OPTIONS = ("max_bytes", "rows", "seed", "anonymize", "salt", "cache_duration")

TestEventHandler = Callable[[TestEvent], None]


# ----------------------------------------------------------------------------- running

@dataclass
class Report:
    data: dict
    file: Path
    failed: int

    @property
    def passed(self) -> bool:
        return self.failed == 0


class ScriptTester:
    """Runs one script's tests into `run_dir` and writes `run_dir/unit_tests.json`; when several
    scripts share the run folder (`shared_run`), `run_dir/<script>/unit_tests.json`."""

    def __init__(self, tests: ScriptTests, backend, run_dir: Path, *,
                 on_event: TestEventHandler | None = None, aws_clients: dict | None = None,
                 shared_run: bool = False):
        self.tests, self.step, self.backend = tests, tests.step, backend
        self.run_dir = Path(run_dir).resolve()
        self.report_file = (self.run_dir / _slug(self.step.name) if shared_run else self.run_dir) / "unit_tests.json"
        self.emit = on_event or (lambda event: None)
        self.aws_clients = aws_clients or {}      # sagemaker= / s3= for s3data.fetch_output

    def run(self, parts: tuple[str, ...] = PARTS, *, synthetic: list[UnitTest] | None = None,
            performance: list[Case] | None = None) -> Report:
        """The given parts (synthetic, s3_integration, performance, data_flow); `synthetic` and
        `performance` replace the configured ones (defaults when the config has none)."""
        started = datetime.now(timezone.utc)
        started_epoch = time.time()
        body: dict[str, Any] = {
            "script_name": self.step.name, "test_execution_id": self.run_dir.name,
            "timestamp": started.isoformat(timespec="seconds"), "step_file": str(self.step.file),
            "config": str(self.tests.config) if self.tests.config else None,
            "run_folder": str(self.run_dir)}
        failed = 0
        for test_type in ("synthetic", "s3_integration"):
            if test_type in parts:
                units = synthetic if test_type == "synthetic" and synthetic is not None \
                    else self.tests.of_type(test_type)
                entries = [self.unit_case(t, c) for t in units for c in t.cases]
                if entries:
                    body[f"{test_type}_tests"] = _summary(entries, test_type)
                    failed += sum(e["status"] != Verdict.PASS for e in entries)
        cases = performance if performance is not None else self.tests.performance_tests
        if "performance" in parts and cases:
            perf = [self.performance_case(c) for c in cases]
            body["performance_tests"] = _summary(perf, "performance")
            failed += sum(e["status"] != Verdict.PASS for e in perf)
        report = {"script_unit_tests": body}
        if "data_flow" in parts and self.tests.data_flow_tests:
            flows = [self.data_flow(t) for t in self.tests.data_flow_tests]
            report["data_flow_tests"] = {
                "test_execution_id": self.run_dir.name, "timestamp": body["timestamp"],
                "total_connections_tested": len(flows),
                "successful_connections": sum(f["status"] != Verdict.FAIL for f in flows),
                "failed_connections": sum(f["status"] == Verdict.FAIL for f in flows), "results": flows}
            failed += report["data_flow_tests"]["failed_connections"]
        body["status"] = Verdict.FAIL if failed else Verdict.PASS
        body["duration_seconds"] = round((datetime.now(timezone.utc) - started).total_seconds(), 3)
        report["counts"] = {"passed": _entries(report) - failed, "failed": failed, "skipped": 0}
        saved = {**results.relative_paths(results.jsonable(report), self.run_dir),   # not the command's paths
                 **results.envelope(started_epoch, time.time())}
        file = results.write_json(self.report_file, saved)
        return Report(report, file, failed)

    # --- unit tests ---------------------------------------------------------------------------
    def unit_case(self, test: UnitTest, case: Case) -> dict:
        label = f"{self.step.name}/{test.name}/{case.name}"
        self.emit(TestEvent("start", label, case.behavior.describe()))
        folder = self.run_dir / _slug(self.step.name) / _slug(test.name) / _slug(case.name)
        entry: dict[str, Any] = {"scenario": case.name, "test": test.name, "test_type": test.test_type}
        if case.s3_source:
            entry["s3_source"] = _s3_label(case.s3_source)
            inputs = self.fetch_s3(case, folder / "input")
            entry["data_sample_size"] = _rows_in(inputs[case.s3_source["input"]])
        else:
            entry["rows"] = case.rows
            inputs = write_inputs(plan_inputs(self.step, case), folder / "input", case.rows, case.seed)
        run = self.run_script(folder, inputs, case)
        entry.update(_usage(run))
        entry["expected_behavior"] = case.behavior.describe()
        entry["exit_code"] = run.result.exit_code
        if run.result.describe.get("ExitMessage"):
            entry["exit_message"] = run.result.describe["ExitMessage"]
        ok, reason = _behaved(case.behavior, run)
        quality = Quality()
        if ok and case.behavior.succeed:
            quality = evaluate_outputs(self.step, self.tests.quality_checks, run.result.outputs)
            if quality.failed:
                ok, reason = False, "quality checks failed: " + ", ".join(
                    n for n, s in quality.statuses.items() if s == Verdict.FAIL)
        entry.update(status=Verdict.PASS if ok else Verdict.FAIL, output_quality_score=quality.score,
                     quality_checks=quality.statuses)
        if case.s3_source:
            entry["output_validation"] = Verdict.worst(
                s for n, s in quality.statuses.items() if n.startswith("suite:"))
        if reason:
            entry["reason"] = reason
        if quality.details:
            entry["quality_details"] = quality.details
        if not ok and run.result.status != JobStatus.COMPLETED:
            entry["log_tail"] = _log_tail(run)
        entry["inputs"] = {k: str(v) for k, v in inputs.items()}
        entry["run_folder"] = str(run.folder)
        self.emit(TestEvent("done", label, entry["status"]))
        return entry

    def fetch_s3(self, case: Case, folder: Path) -> dict[str, Path]:
        from ..data.s3 import fetch_output, fetch_uri  # boto3 only when S3 data is asked for
        source = case.s3_source
        kwargs = {k: source[k] for k in S3_FETCH_OPTIONS if k in source}
        if "uri" in source:   # discovered already (test-s3): no second walk of the execution
            path = fetch_uri(source["uri"], folder / source["input"], s3=self.aws_clients.get("s3"), **kwargs)
        else:
            path = fetch_output(source["pipeline_execution"], source["step_name"], source["output_name"],
                                folder / source["input"], **kwargs, **self.aws_clients)
        bound = {source["input"]: Path(path)}
        others = [p for p in plan_inputs(self.step, case) if p.name != source["input"]]
        return {**bound, **write_inputs(others, folder, self.tests.volumes[DEFAULT_VOLUME], case.seed)}

    def run_script(self, folder: Path, inputs: dict[str, Path], case: Case) -> StepRun:
        """The script on `inputs`, its outputs and logs under `folder` (whatever `local:` says)."""
        options = RunOptions(inputs={k: str(v) for k, v in inputs.items()},
                             outputs={n: str(folder / "output" / n) for n in self.step.outputs},
                             env=case.env, job_arguments=case.job_arguments,
                             code_dir=str(case.code) if case.code else None)
        job = build(self.step, options, folder / "output")
        run = run_job(job, folder, self.backend)
        if run.result.interrupted:
            raise KeyboardInterrupt
        return run

    # --- performance --------------------------------------------------------------------------
    def performance_case(self, case: Case) -> dict:
        label = f"{self.step.name}/performance/{case.name}"
        self.emit(TestEvent("start", label, f"{case.rows:,} rows"))
        folder = self.run_dir / _slug(self.step.name) / "performance" / _slug(case.name)
        started = time.perf_counter()
        inputs = write_inputs(plan_inputs(self.step, case), folder / "input", case.rows, case.seed)
        generation = time.perf_counter() - started
        run = self.run_script(folder, inputs, case)
        usage = _usage(run)
        budgets = {}
        if case.max_seconds is not None:
            budgets["max_seconds"] = _budget(case.max_seconds, usage["duration_seconds"])
        if case.max_memory_mb is not None:
            budgets["max_memory_mb"] = _budget(case.max_memory_mb, usage["peak_memory_mb"])
        ok, reason = _behaved(Behavior(), run)
        over = [f"{k} {b['actual']} > {b['limit']}" for k, b in budgets.items()
                if b["status"] == Verdict.FAIL]
        if ok and over:
            ok, reason = False, "over budget: " + "; ".join(over)
        entry = {"name": case.name, "volume": case.volume or None, "rows": case.rows,
                 "status": Verdict.PASS if ok else Verdict.FAIL, **usage,
                 "rows_per_second": round(case.rows / usage["duration_seconds"])
                 if usage["duration_seconds"] else None,
                 "generation_seconds": round(generation, 3), "budgets": budgets,
                 "exit_code": run.result.exit_code, "run_folder": str(run.folder)}
        if reason:
            entry["reason"] = reason
        if run.result.status != JobStatus.COMPLETED:
            entry["log_tail"] = _log_tail(run)
        self.emit(TestEvent("done", label, entry["status"]))
        return entry

    # --- data flow ----------------------------------------------------------------------------
    def data_flow(self, test: DataFlowTest) -> dict:
        """Upstream then downstream on that very output, with the pipeline's handoff checks."""
        from ..pipeline.flow import flow_result, two_step_dag
        from ..pipeline.sequencer import Sequencer

        label = f"{self.step.name}/data_flow/{test.name}"
        self.emit(TestEvent("start", label, f"{test.upstream.name} -> {test.downstream.name}"))
        folder = self.run_dir / _slug(self.step.name) / "data_flow" / _slug(test.name)
        dag = two_step_dag(test.upstream, test.downstream)
        if test.rows is not None:   # synthetic upstream inputs of that size
            case = Case(test.name, test.rows, seed=test.seed)
            generated = write_inputs(plan_inputs(test.upstream, case), folder / "input",
                                     test.rows, test.seed)
            dag.nodes[test.upstream.name].inputs = {k: str(v) for k, v in generated.items()}
        result = Sequencer(dag, self.backend, runs_dir=folder, use_cache=False).run()
        flow = {"name": test.name, **flow_result(result, test.upstream.name, test.downstream.name)}
        compatible = flow["status"] != Verdict.FAIL
        flow["expected_schema_compatibility"] = test.expect_compatible
        if not result.steps[test.upstream.name].status.ok:
            flow["status"] = Verdict.FAIL   # nothing was handed over: no verdict on compatibility
        elif compatible != test.expect_compatible:
            flow["status"] = Verdict.FAIL
            flow["issues"].append("the handoff was compatible, but expected_schema_compatibility is "
                                  "false" if compatible else "expected a compatible handoff")
        elif not test.expect_compatible:
            flow["status"] = Verdict.PASS   # incompatible, as expected
        flow["data_sample_size"] = flow["data_sample_size"] or test.rows
        self.emit(TestEvent("done", label, flow["status"]))
        return flow


def _entries(report: dict) -> int:
    body = report["script_unit_tests"]
    return sum(len(body[k]["results"]) for k in ("synthetic_tests", "s3_integration_tests", "performance_tests")
               if k in body) + len(report.get("data_flow_tests", {}).get("results", []))


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "unnamed"


def _s3_label(source: dict) -> str:
    label = f"{source['pipeline_execution']} {source['step_name']}.{source['output_name']}"
    return f"{label} ({source['uri']})" if "uri" in source else label


def _rows_in(path: Path) -> int | None:
    from ..data import datasets
    try:
        return datasets.read_table(path).num_rows
    except UserError:
        return None


def _usage(run: StepRun) -> dict:
    result = run.result
    peak = result.peak_memory_bytes
    return {"execution_time": f"{result.duration_seconds:.2f}s",
            "duration_seconds": result.duration_seconds,
            "cpu_seconds": None if result.cpu_seconds is None else round(result.cpu_seconds, 3),
            "peak_memory_mb": None if peak is None else round(peak / 2**20, 1)}


def _budget(limit: float, actual: float | None) -> dict:
    if actual is None:   # the cgroup wasn't readable: say so rather than pass silently
        return {"limit": limit, "actual": None, "status": Verdict.WARN, "note": "not measured here"}
    return {"limit": limit, "actual": actual,
            "status": Verdict.PASS if actual <= limit else Verdict.FAIL}


def _behaved(expected: Behavior, run: StepRun) -> tuple[bool, str]:
    """Did the run end as expected? (ok, why not)."""
    result = run.result
    info = result.describe
    why = info.get("ExitMessage") or info.get("FailureReason") or "; ".join(result.notes)
    if expected.succeed:
        if result.status == JobStatus.COMPLETED:
            return True, ""
        return False, f"the script {result.status.lower()} (exit code {result.exit_code}): {why}"
    if result.status == JobStatus.COMPLETED:
        return False, f"expected the script to fail ({expected.describe()}), but it succeeded"
    if expected.exit_code is not None and result.exit_code != expected.exit_code:
        return False, f"exit code {result.exit_code}, expected {expected.exit_code}: {why}"
    if expected.message:
        logs = "\n".join(h.log.read_text(errors="replace") for h in result.hosts
                         if h.log and h.log.exists())
        if expected.message not in f"{why}\n{logs}":
            return False, f"failed without the expected message {expected.message!r}: {why}"
    return True, ""


def _log_tail(run: StepRun) -> list[str]:
    lines = []
    for host in run.result.hosts:
        if host.log and host.log.exists():
            lines += host.log.read_text(errors="replace").splitlines()[-LOG_TAIL:]
    return lines


def _summary(entries: list[dict], kind: str) -> dict:
    passed = sum(e["status"] == Verdict.PASS for e in entries)
    counts = {"synthetic": ("total_scenarios", "passed_scenarios", "failed_scenarios"),
              "s3_integration": ("total_s3_sources", "successful_sources", "failed_sources"),
              "performance": ("total_tests", "passed_tests", "failed_tests")}[kind]
    return {counts[0]: len(entries), counts[1]: passed, counts[2]: len(entries) - passed,
            "results": entries}
