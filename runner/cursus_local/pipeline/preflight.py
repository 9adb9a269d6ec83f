"""Everything that can be known about a DAG run before a container starts.

`plan` wires every input (`connections.discover`) and builds every running node's job request,
once, with the very folders the run will use: an upstream output is `<run>/<node>/output/<name>`,
whether the upstream runs or is taken from the cache; an output that is provided
(`--provide NODE.OUTPUT=PATH`, `provide:`) is that path. Every problem is collected and reported
at once (`inspect` gives them per node without raising: `run-pipeline --dry-run`).

Which nodes run (`Dag.runs`): not skipped, not provided, selected. A node that does not run hands
on only what is provided for it; an input of a running node that it would have fed is a problem
naming the `--provide` that fixes it (an optional one is left unbound, as on the service).

Kinds (`registry.sagemaker_step_type`): Processing, Training and CreateModel are built by
`jobs.build`; service-bound kinds (Cradle or Redshift data loading, MIMS registration: anything
Cursus marks as needing the secure AI sandbox SDK) and kinds not built yet (Transform, Tuning, ...)
are never faked: preflight names the node, its kind and the way around (`--provide` its outputs,
or `--skip` it), and nothing starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UserError
from ..jobs.base import Job
from ..jobs.build import build
from ..jobs.processing import RunOptions, job_name_for
from .connections import ConnectionReport, discover, running_only
from .dag import Dag, Node

BUILT_KINDS = ("Processing", "Training", "CreateModel")
SERVICE_BOUND = {
    "CradleDataLoading": "loads data through the Cradle service",
    "RedshiftDataLoading": "loads data from Redshift",
    "MimsModelRegistrationProcessing": "registers the model with MIMS",
}
SANDBOX_SDK = "secure_ai_sandbox"   # Cursus's `registry.requires` for service-bound steps


@dataclass
class NodeCheck:
    """One node as preflight sees it (a row of `run-pipeline --dry-run`)."""
    node: str
    runs: str = "runs"                  # runs | provided | skipped | not selected
    reason: str = ""                    # why it does not run
    step_file: str = ""                 # "" when it did not resolve
    kind: str = ""                      # e.g. "Processing (sklearn)", "Training (estimator)"
    image: str = ""
    image_present: bool | None = None   # None: unknown (no engine asked)
    request: str = ""                   # "valid" | "invalid" | "" (not built)
    provided: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)      # the job's notes (job.notes)


@dataclass
class Plan:
    report: ConnectionReport
    jobs: dict[str, Job]                # running node -> its one request
    static: list[dict]                  # static compatibility of the suites, per connection
    nodes: dict[str, NodeCheck] = field(default_factory=dict)   # every node, topological order

    @property
    def problems(self) -> list[str]:
        return [p for c in self.nodes.values() for p in c.problems]

    @property
    def not_run(self) -> dict[str, NodeCheck]:
        return {n: c for n, c in self.nodes.items() if c.runs != "runs"}


def output_folder(run_dir: Path, node: str, output: str) -> Path:
    return run_dir / node / "output" / output


def job_kind(node: Node) -> str:
    """"Processing (sklearn)": the SageMaker step type and the interface's compute kind."""
    if node.step is None:
        return ""
    compute = node.step.raw.get("compute") or {}
    kind = compute.get("kind") if isinstance(compute, dict) else None
    return f"{node.step.sagemaker_step_type}" + (f" ({kind})" if kind else "")


def not_local(node: Node) -> str:
    """Why this node's kind cannot run here ("" when it can)."""
    kind = node.step.sagemaker_step_type
    requires = str((node.step.raw.get("registry") or {}).get("requires") or "")
    if kind in SERVICE_BOUND or SANDBOX_SDK in requires:
        what = SERVICE_BOUND.get(kind, f"needs {requires}")
        return f"service-bound {kind} step ({what}): it is never faked locally"
    if kind not in BUILT_KINDS:
        return f"{kind} jobs are not built locally yet (built: {', '.join(BUILT_KINDS)})"
    return ""


def node_options(node: Node, report: ConnectionReport, output_of: Callable[[str, str], str],
                 dag: Dag | None = None) -> RunOptions:
    """The run options of a DAG node; `output_of(step, output)` names an upstream output's folder.
    With `dag`, an input fed by a node that does not run takes what is provided for it, or is left
    out (preflight reports a required one)."""
    inputs = dict(node.inputs)
    produced = set()
    for inp, c in report.feeds(node.name).items():
        if c.upstream not in report.order:
            continue
        if dag is None or dag.runs(c.upstream):
            inputs[inp] = output_of(c.upstream, c.output)
            produced.add(inp)
        elif c.output in dag.nodes[c.upstream].provide:
            inputs[inp] = dag.nodes[c.upstream].provide[c.output]
    code = node.code or (dag.code if dag else None)
    return RunOptions(inputs=inputs, outputs=dict(node.outputs), env=dict(node.env),
                      job_arguments=dict(node.job_arguments),
                      image=node.image, use_local_defaults=False, produced_inputs=frozenset(produced),
                      code_dir=code, framework_version=node.framework_version,
                      wheelhouse=dag.wheelhouse if dag else None,
                      pip_offline=bool(dag and dag.pip_offline),
                      secret_env=dag.secret_env if dag else ())


def inspect(dag: Dag, run_dir: Path, image_present: Callable[[str], bool | None] | None = None,
            output_uri: Callable[[str, Job, str], str] | None = None) -> Plan:
    """Every node checked, every problem found, nothing raised: resolution, kind, provided outputs,
    wiring, the job request and (with `image_present`) whether its image is on the engine.
    `output_uri(node, job, output)`, for a backend that runs elsewhere (SageMaker), names where an
    upstream output will be: a child's input is bound to that URI instead of the output folder."""
    report = running_only(discover(dag), dag)
    checks = {name: NodeCheck(name) for name in report.order}
    for name, check in checks.items():
        node = dag.nodes[name]
        reason = dag.not_run(name)
        if reason:
            check.runs = ("skipped" if node.skip else "provided" if node.provide else "not selected")
            check.reason, check.provided = reason, dict(node.provide)
        if node.step is None:
            if check.runs in ("runs", "provided"):
                check.problems.append(_problem(name, node.missing, _missing_fix(dag, name)))
            continue
        check.step_file, check.kind = str(node.step.file), job_kind(node)
        for output, path in node.provide.items():
            if "://" not in path and not Path(path).exists():
                check.problems.append(_problem(f"{name}.{output}", f"provided path {path} does not exist",
                                               f"--provide {name}.{output}=EXISTING_PATH"))
    _wiring_problems(dag, report, checks)

    jobs: dict[str, Job] = {}
    for name, check in checks.items():
        node = dag.nodes[name]
        if check.runs != "runs" or node.step is None:
            continue
        why = not_local(node)
        if why:
            outputs = list(node.step.outputs)
            way = (f"--provide {name}.{outputs[0]}=PATH" + (f" (and its other outputs: {', '.join(outputs[1:])})"
                                                             if outputs[1:] else "") + f", or --skip {name}"
                   if outputs else f"--skip {name}")
            check.problems.append(_problem(name, f"{check.kind}: {why}", way))
            continue
        def output_of(up: str, out: str) -> str:
            if output_uri is not None and up in jobs:   # built already: topological order
                return output_uri(up, jobs[up], out)
            return str(output_folder(run_dir, up, out))

        options = node_options(node, report, output_of, dag)
        options.job_name = job_name_for(name)
        try:
            job = build(node.step, options, run_dir / name / "output")
        except UserError as exc:
            check.request = "invalid"
            if check.problems and exc.field == "contract.inputs" and "not bound" in exc.message:
                continue   # the wiring problem above already says it, with its fix
            check.problems.append(_problem(name, _located(exc), _dag_fix(dag, name, exc.fix or "")))
            continue
        jobs[name], check.request, check.image = job, "valid", job.image
        check.notes = list(job.notes)
        if image_present is not None:
            check.image_present = image_present(job.image)
        check.problems += _suite_problems(dag, name) + _given_data_problems(node)
    return Plan(report, jobs, static_compatibility(dag, report), checks)


def _suite_problems(dag: Dag, name: str) -> list[str]:
    """Every suite a running node's handoffs use, parsed and its expectations checked now: a bad
    one would otherwise be found only when its data is checked, after its producer ran."""
    from ..data.checks import check_expectations
    node = dag.nodes[name]
    suites = [*node.step.input_suites.values(), *node.step.output_suites.values(),
              *(e.checks.suite for e in dag.in_edges(name) + dag.out_edges(name) if e.checks)]
    problems = []
    for suite in dict.fromkeys(suites):
        try:
            check_expectations(suite)
        except UserError as exc:
            problems.append(_problem(name, _located(exc), exc.fix or "fix the suite"))
    return problems


def _given_data_problems(node: Node) -> list[str]:
    """The inputs a running node takes from outside the DAG: there is data, and it reads as its
    input suite expects. A bad one is the user's input (exit 2), not a step that failed."""
    from ..data.checks import check_given_data
    problems = []
    for channel, path in node.inputs.items():
        if "://" in path:
            continue
        try:
            check_given_data(path, node.step.input_suites.get(channel), f"{node.name}.{channel}")
        except UserError as exc:
            problems.append(_problem(f"{node.name}.{channel}", _located(exc),
                                     exc.fix or "give this input its data"))
    return problems


def plan(dag: Dag, run_dir: Path, output_uri: Callable[[str, Job, str], str] | None = None) -> Plan:
    """The run's plan; raises one UserError listing every problem: unresolved nodes, kinds that
    can't run here, unfed or ambiguous inputs, empty edges, inputs lost to a node that does not
    run, and every node whose request could not be built or would be rejected."""
    result = inspect(dag, run_dir, output_uri=output_uri)
    problems = result.problems
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise UserError(f"{len(problems)} problem(s) found before running (nothing started):\n{lines}",
                        file=str(dag.file), field="nodes / edges",
                        fix="see each problem's fix above; `run-pipeline --dry-run` shows every node, "
                            "`cursus-local discover-connections` every connection")
    if not result.jobs:
        raise UserError("no node runs", file=str(dag.file), field="nodes",
                        fix="run at least one node: check --only/--from/--to, --skip and provide")
    return result


def _problem(where: str, message: str, fix: str) -> str:
    return f"{where}: {message}\n    fix: {fix}"


def _located(exc: UserError) -> str:
    where = ": ".join(p for p in (exc.file, exc.field) if p)
    return f"{where}: {exc.message}".replace("\n", "\n    ") if where else exc.message


def _missing_fix(dag: Dag, name: str) -> str:
    from .dag import missing_step_fix
    return missing_step_fix(dag, name)


def _wiring_problems(dag: Dag, report: ConnectionReport, checks: dict[str, NodeCheck]) -> None:
    """Connection problems of the nodes that run (inputs lost to a node that does not run among them)."""
    for p in [*report.unfed_required, *report.ambiguous, *report.unchecked, *report.empty_edges]:
        if checks[p.node].runs == "runs":
            checks[p.node].problems.append(_problem(f"{p.node}.{p.input}" if p.input else p.node,
                                                    p.message, p.fix))
    for edge in dag.edges:   # an edge's suite names one output: it must be one the edge carries
        if edge.checks and edge.checks.output:
            carried = sorted({c.output for c in report.connections
                              if (c.upstream, c.downstream) == (edge.upstream, edge.downstream)})
            if edge.checks.output not in carried:
                checks[edge.upstream].problems.append(_problem(
                    f"edge {edge.upstream} -> {edge.downstream}: checks.output",
                    f"{edge.checks.output!r} is not an output this edge carries",
                    f"use one of {', '.join(carried) or '(none: the edge carries nothing)'}"))


_FLAG_VALUE = re.compile(r"--(input|env) ([A-Za-z0-9_.-]+)=")


def _dag_fix(dag: Dag, name: str, fix: str) -> str:
    """A job builder's fix speaks in run-step's flags; say it in run-pipeline's, for this node."""
    fix = _FLAG_VALUE.sub(lambda m: f"--{m[1]} {name}.{m[2]}=", fix)
    local = dag.nodes[name].step.local if dag.nodes[name].step is not None else {}
    fix = re.sub(r"--job-arg ([A-Za-z0-9_-]+)=VALUE",
                 lambda m: f"--job-arg {name}.{m[1]}=VALUE (or `job_arguments: {{{m[1]}: VALUE}}` under "
                           f"nodes.{name} in a DAG YAML)" + _not_local(local, "job_arguments", m[1]), fix)
    fix = re.sub(r"--env ([A-Za-z0-9_.-]+)=VALUE",
                 lambda m: m[0] + _not_local(local, "env", m[1].partition(".")[2]), fix)
    fix = fix.replace("pass --code DIR with the folder holding the script, or set local.code",
                      f"pass --code DIR (the folder holding the script), or set `code:` in a DAG YAML "
                      f"(top level, or under nodes.{name})")
    fix = fix.replace("or set local.code", f"or set `code:` in a DAG YAML (under nodes.{name})")
    fix = re.sub(r"\(with --image or compute\.image\)", f"(with `image:` under nodes.{name} in a DAG YAML)", fix)
    return fix


def _not_local(local: dict, section: str, key: str) -> str:
    """Why the step file's `local:` value does not count here. A DAG says every value its nodes
    run with: `local:` is run-step's setup for trying one script (its sample data, a job type),
    and inheriting it would run a node with values nobody wrote in the DAG."""
    value = (local.get(section) or {}).get(key)
    if value is None:
        return ""
    return (f"; the step file's `local.{section}: {{{key}: {value}}}` is run-step's default only: "
            f"run-pipeline takes what the DAG says")


def static_compatibility(dag: Dag, report: ConnectionReport) -> list[dict]:
    """Producer output suite vs consumer input suite, for every connection that has both."""
    from ..data.compat import check_connection
    out = []
    for c in report.connections:
        up, down = dag.nodes[c.upstream].step, dag.nodes[c.downstream].step
        if up is None or down is None:
            continue
        produced = up.output_suites.get(c.output)
        needed = down.input_suites.get(c.input)
        if produced and needed:
            out.append(check_connection(produced, needed, producer=f"{c.upstream}.{c.output}",
                                        consumer=f"{c.downstream}.{c.input}"))
    return out
