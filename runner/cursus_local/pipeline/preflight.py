"""Everything that can be known about a DAG run before a container starts.

`plan` wires every input (`connections.discover`) and builds every node's job request, once, with
the very folders the run will use: an upstream output is `<run>/<node>/output/<name>`, whether
the upstream runs or is taken from the cache. Every problem is collected and reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import UserError
from ..jobs.base import Job
from ..jobs.build import build
from ..jobs.processing import RunOptions, job_name_for
from .connections import ConnectionReport, discover
from .dag import Dag, Node


@dataclass
class Plan:
    report: ConnectionReport
    jobs: dict[str, Job]      # node -> its one request
    static: list[dict]                  # static compatibility of the suites, per connection


def output_folder(run_dir: Path, node: str, output: str) -> Path:
    return run_dir / node / "output" / output


def node_options(node: Node, report: ConnectionReport, output_of: Callable[[str, str], str]) -> RunOptions:
    """The run options of a DAG node; `output_of(step, output)` names an upstream output's folder."""
    inputs = dict(node.inputs)
    produced = set()
    for inp, c in report.feeds(node.name).items():
        if c.upstream in report.order:
            inputs[inp] = output_of(c.upstream, c.output)
            produced.add(inp)
    return RunOptions(inputs=inputs, env=dict(node.env), job_arguments=dict(node.job_arguments),
                      image=node.image, use_local_defaults=False, produced_inputs=frozenset(produced))


def plan(dag: Dag, run_dir: Path) -> Plan:
    """The run's plan; raises one UserError listing every problem: unfed or ambiguous inputs, and
    every node whose request could not be built or would be rejected."""
    dag.require_steps()
    report = discover(dag)
    problems = [f"{p.node}.{p.input}: {p.message}\n    fix: {p.fix}"
                for p in [*report.unfed_required, *report.ambiguous]]
    jobs = {}
    for name, node in dag.nodes.items():
        options = node_options(node, report, lambda up, out: str(output_folder(run_dir, up, out)))
        options.job_name = job_name_for(name)
        try:
            jobs[name] = build(node.step, options, run_dir / name / "output")
        except UserError as exc:   # its fix speaks in CLI flags: say where they go in a DAG
            problems.append(f"{name}: {exc}".replace("\n", "\n    ")
                            + f" (in the DAG: under nodes.{name}.inputs / env / job_arguments)")
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise UserError(f"{len(problems)} problem(s) found before running:\n{lines}",
                        file=str(dag.file), field="nodes / edges",
                        fix="see each problem's fix above; `cursus-local discover-connections` shows all")
    return Plan(report, jobs, static_compatibility(dag, report))


def static_compatibility(dag: Dag, report: ConnectionReport) -> list[dict]:
    """Producer output suite vs consumer input suite, for every connection that has both."""
    from ..data.compat import check_connection
    out = []
    for c in report.connections:
        produced = dag.nodes[c.upstream].step.output_suites.get(c.output)
        needed = dag.nodes[c.downstream].step.input_suites.get(c.input)
        if produced and needed:
            out.append(check_connection(produced, needed, producer=f"{c.upstream}.{c.output}",
                                        consumer=f"{c.downstream}.{c.input}"))
    return out
