"""The machine-readable shape of a run: `results.json` (a pipeline run), `unit_tests.json` (a unit
test run) and `export-results`' file, all checked against `schemas/results.schema.json`.

Each carries, beside its own content (kept as it was: readers of older keys still work), the
envelope of `results.envelope` (schema and tool version, start and end times, the masked command
line), pass/fail/skip counts, the design note's shapes (`data_flow_tests`, `script_unit_tests`),
the log tail of each failed step, and paths relative to the run folder.
"""

from __future__ import annotations

import json
from functools import lru_cache, partial
from importlib import resources
from pathlib import Path

from .. import results
from ..errors import UserError
from ..status import StepStatus, Verdict

RESULT_FILES = ("results.json", "unit_tests.json")
DESIGN_KEYS = ("data_flow_tests", "script_unit_tests")


# ----------------------------------------------------------------------------- pipeline runs

def pipeline_describer(dag):
    """What `Sequencer(describe=...)` writes as results.json for `dag`."""
    return partial(pipeline_document, dag)


def pipeline_document(dag, result) -> dict:
    doc = result.to_dict()
    doc["pipeline"] = dag.name
    doc["dag_file"] = str(dag.file)
    for name, step in doc["steps"].items():
        if _failed_step(step):
            step["log_tail"] = results.log_tail(Path(result.run_dir) / name)
    doc["counts"] = pipeline_counts(doc)
    doc["data_flow_tests"] = data_flow_tests(dag, result)
    doc = results.relative_paths(results.jsonable(doc), result.run_dir)   # not the command line's paths
    return {**doc, **results.envelope(result.started_at, result.started_at + result.duration_seconds)}


def _failed_step(step: dict) -> bool:
    return step["status"] in (StepStatus.FAILED, StepStatus.STOPPED) and not step.get("not_run")


def pipeline_counts(doc: dict) -> dict:
    """Steps and handoff checks, each passed / failed / skipped (a WARN check passed, and is
    counted under `warned` too); the totals are what JUnit counts."""
    steps = {"passed": 0, "failed": 0, "skipped": 0}
    for step in doc["steps"].values():
        status = StepStatus(step["status"])
        steps["passed" if status.ok else "skipped" if step.get("not_run") or status in (
            StepStatus.SKIPPED, StepStatus.BLOCKED) else "failed"] += 1
    checks = {"passed": 0, "failed": 0, "skipped": 0, "warned": 0}
    for h in doc["handoffs"]:
        checks["failed" if h["status"] == Verdict.FAIL else "passed"] += 1
        checks["warned"] += h["status"] == Verdict.WARN
    return {"steps": steps, "checks": checks,
            **{k: steps[k] + checks[k] for k in ("passed", "failed", "skipped")}}


def data_flow_tests(dag, result) -> dict:
    """The design note's data-flow shape: one entry per edge between two nodes that ran."""
    from ..pipeline.flow import flow_result
    ran = {n for n, o in result.steps.items() if not o.not_run}
    flows = [flow_result(result, e.upstream, e.downstream) for e in dag.edges
             if e.upstream in ran and e.downstream in ran]
    return {"test_execution_id": result.run_id, "timestamp": results.iso_time(result.started_at),
            "total_connections_tested": len(flows),
            "successful_connections": sum(f["status"] != Verdict.FAIL for f in flows),
            "failed_connections": sum(f["status"] == Verdict.FAIL for f in flows), "results": flows}


# ----------------------------------------------------------------------------- unit test runs

def unit_counts(report: dict) -> dict:
    """passed / failed / skipped over every unit, performance and data-flow test of a report."""
    bodies = report["script_unit_tests"]
    bodies = bodies if isinstance(bodies, list) else [bodies]
    entries = [e for b in bodies for key in ("synthetic_tests", "s3_integration_tests", "performance_tests")
               for e in b.get(key, {}).get("results", [])]
    entries += report.get("data_flow_tests", {}).get("results", [])
    failed = sum(e["status"] == Verdict.FAIL for e in entries)
    return {"passed": len(entries) - failed, "failed": failed, "skipped": 0}


def merged_unit_report(reports: list[dict], run_dir: Path, started: float, ended: float) -> dict:
    """One file for an invocation that tested several scripts: `script_unit_tests` lists each
    script's body, `data_flow_tests` holds every script's flows."""
    flows = [f for r in reports for f in r.get("data_flow_tests", {}).get("results", [])]
    merged = {"script_unit_tests": [r["script_unit_tests"] for r in reports]}
    if flows:
        failed = sum(f["status"] == Verdict.FAIL for f in flows)
        merged["data_flow_tests"] = {"test_execution_id": run_dir.name, "timestamp": results.iso_time(started),
                                     "total_connections_tested": len(flows),
                                     "successful_connections": len(flows) - failed,
                                     "failed_connections": failed, "results": flows}
    merged["counts"] = unit_counts(merged)
    merged = results.relative_paths(results.jsonable(merged), run_dir)   # not the command line's paths
    return {**merged, **results.envelope(started, ended)}


# ----------------------------------------------------------------------------- reading, export

def result_file(run_dir: Path) -> Path:
    """The result file of a run folder (a pipeline run's, else a unit test run's)."""
    for name in RESULT_FILES:
        if (Path(run_dir) / name).is_file():
            return Path(run_dir) / name
    raise UserError(f"{run_dir} holds no result file ({' or '.join(RESULT_FILES)})", file=str(run_dir),
                    fix="name a run folder that finished, e.g. --run latest (`cursus-local runs` lists them)")


def load(path: Path, flag: str) -> dict:
    """A result file (results.json, unit_tests.json or an export), checked: bad input is a UserError."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file", file=str(path), field=flag,
                        fix="pass a results.json, unit_tests.json or export-results file") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is not JSON: {exc}", file=str(path), field=flag,
                        fix="pass a results.json, unit_tests.json or export-results file") from None
    problems = schema_problems(doc)
    if problems:
        raise UserError(f"{path} is not a cursus-local result file: {problems[0]}", file=str(path), field=flag,
                        fix="pass a file written by run-pipeline, test-suite, test-script or export-results "
                            f"(schema {results.SCHEMA_VERSION})")
    return doc


def export_document(doc: dict) -> dict:
    """The design note's shapes plus the envelope and what compare-results reads (steps, checks)."""
    keep = ("schema_version", "tool_version", "run_id", "pipeline", "status", "started_at", "ended_at",
            "duration_seconds", "command", "counts", "steps", "handoffs", *DESIGN_KEYS)
    return {k: doc[k] for k in keep if k in doc}


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(resources.files(__package__).joinpath("schemas/results.schema.json").read_text())


def schema_problems(doc) -> list[str]:
    """Where `doc` departs from the schema, one line each ([] when it fits)."""
    import jsonschema
    validator = jsonschema.Draft202012Validator(schema())
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]
