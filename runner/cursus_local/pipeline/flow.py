"""test-flow: run one upstream script, then its downstream on that very output, and report the
handoff in the design note's data-flow result shape."""

from __future__ import annotations

from pathlib import Path

from ..jobs.contracts import Step
from ..status import StepStatus
from .dag import Dag, Edge, Node
from .sequencer import PipelineResult


def two_step_dag(upstream: Step, downstream: Step, mapping: dict[str, str] | None = None) -> Dag:
    """A DAG of two steps; inputs the edge doesn't feed come from each step's `local:` defaults."""
    def node(step: Step) -> Node:
        return Node(step.name, step, env=dict(step.local.get("env", {})),
                    job_arguments=dict(step.local.get("job_arguments", {})),
                    inputs={k: str(v) for k, v in step.local.get("inputs", {}).items()})

    up, down = node(upstream), node(downstream)
    edge = Edge(up.name, down.name, tuple(mapping.items()) if mapping else None, where="test-flow")
    fed = set(mapping.values()) if mapping else set(downstream.inputs)
    down.inputs = {k: v for k, v in down.inputs.items() if k not in fed}   # the edge feeds these
    return Dag(f"{up.name}->{down.name}", downstream.file, {up.name: up, down.name: down}, [edge])


def flow_result(result: PipelineResult, upstream: str, downstream: str) -> dict:
    """{connection, status, schema_compatibility, data_type_compatibility, issues, recommendations,
    execution_time, data_sample_size} for the handoff between the two steps."""
    static = [s for s in result.static if s["connection"].startswith(f"{upstream}.")]
    checks = [h for h in result.handoffs
              if h.connection.startswith(f"{upstream}.") and (h.side == "producer" or f"-> {downstream}." in h.connection)]
    failures = [f for h in checks for f in h.failures]
    issues = [i for s in static for i in s["issues"]] + [f["message"] for f in failures]
    recommendations = [r for s in static for r in s["recommendations"]]
    recommendations += [handoff_fix(upstream, downstream, f) for f in failures if f["severity"] == "critical"]
    steps = [result.steps[upstream], result.steps[downstream]]
    # the handoff worked if the producer's output passed and the consumer's job ran on it to the
    # end; the consumer's own output failing its checks is the next edge's verdict, not this one's
    up, down = steps
    ran = up.status.ok and (down.status.ok or (down.status == StepStatus.FAILED and down.exit_code == 0))
    type_kinds = ("expect_column_values_to_be_of_type", "expect_column_values_to_be_in_type_list")
    status = "PASS" if ran and not any(h.blocking for h in checks) else "FAIL"
    if status == "PASS" and (failures or any(s["status"] != "PASS" for s in static)):
        status = "WARN"
    return {
        "connection": f"{upstream} -> {downstream}",
        "status": status,
        "schema_compatibility": all(s["schema_compatibility"] for s in static)
        and not any(f["type"].startswith("expect_table_columns") for f in failures),
        "data_type_compatibility": all(s["data_type_compatibility"] for s in static)
        and not any(f["type"] in type_kinds for f in failures),
        "issues": _unique(issues) + [f"{s.node} {s.status}: {s.reason}" for s in steps if s.reason],
        "recommendations": _unique(recommendations),
        "execution_time": f"{result.duration_seconds:.1f}s",
        "data_sample_size": max((h.sample_rows for h in checks), default=0),
        "run_folder": str(Path(result.run_dir)),
    }


def handoff_fix(upstream: str, downstream: str, failure: dict) -> str:
    """The recommendation for one failed critical expectation of a handoff (its message ends with the fix)."""
    return f"{upstream} must hand `{failure['column']}` to {downstream} as its suite expects: {failure['message']}"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
