"""A run's DAG as SVG, drawn by Graphviz (`dot`): each step coloured by its status, each handoff
by its checks' verdict.

Step names, output and input names go in as DOT strings, escaped; Graphviz writes them into the
SVG as XML-escaped text, so the SVG can be put inline in a page as it is.
"""

from __future__ import annotations

import shutil
import subprocess

from ..errors import UserError
from ..status import StepStatus, Verdict
from .view import EXTERNAL, Connection, Run

GREEN, LIGHT_GREEN, RED, AMBER, GREY = "#2ca02c", "#8fd18a", "#d62728", "#e6a700", "#9e9e9e"
STEP_COLOURS = {StepStatus.PASSED: GREEN, StepStatus.CACHED: LIGHT_GREEN, StepStatus.FAILED: RED,
                StepStatus.BLOCKED: RED, StepStatus.SKIPPED: AMBER, StepStatus.STOPPED: AMBER}
VERDICT_COLOURS = {Verdict.PASS: GREEN, Verdict.WARN: AMBER, Verdict.FAIL: RED}
LEGEND = [("step passed / check PASS", GREEN), ("cached", LIGHT_GREEN), ("failed, blocked / FAIL", RED),
          ("skipped, stopped / WARN", AMBER), ("not run / not checked", GREY)]


def dot_command() -> str:
    """The path of Graphviz's `dot`, or a UserError saying how to install it."""
    found = shutil.which("dot")
    if not found:
        raise UserError("Graphviz's `dot` is not installed: it draws the DAG of each run", field="generate-report",
                        fix="install Graphviz (Debian: `apt-get install graphviz`; `make tools` does it), "
                            "then run generate-report again")
    return found


def svg(run: Run, dot: str) -> str:
    """The DAG of `run` as an <svg> element (no XML prolog), ready to put inline."""
    done = subprocess.run([dot, "-Tsvg"], input=dot_source(run), capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"dot failed on the DAG of run {run.id}: {done.stderr.strip()}")
    return done.stdout[done.stdout.index("<svg"):]


def dot_source(run: Run) -> str:
    lines = ['digraph dag {', '  rankdir=LR; bgcolor="transparent";',
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, penwidth=1.5];',
             '  edge [fontname="Helvetica", fontsize=9, penwidth=2];']
    steps = {s.name: s for s in run.steps}
    for s in run.steps:
        colour = GREY if s.not_run else STEP_COLOURS.get(s.status, GREY)
        label = s.name + ("\n" + (s.not_run or s.status))
        lines.append(f'  {_q(s.name)} [id={_q("step-" + s.name)}, class={_q("step " + s.status)}, '
                     f'label={_q(label)}, fillcolor={_q(colour + "55")}, color={_q(colour)}, '
                     f'tooltip={_q(f"{s.name}: {s.status} {s.reason}".strip())}];')
    pairs: dict[tuple[str, str], list[Connection]] = {}
    for c in run.connections:
        producer = f"{EXTERNAL} {c.output}" if c.producer == EXTERNAL else c.producer
        consumer = c.consumer or f"{c.producer}.{c.output} (read by no step)"
        for end in (producer, consumer):
            if end not in steps:
                lines.append(f'  {_q(end)} [shape=note, style=filled, fillcolor="#f4f4f4", color={_q(GREY)}, '
                             f'label={_q(c.output if end == producer else "output " + c.output)}];')
        pairs.setdefault((producer, consumer), []).append(c)
    for (producer, consumer), conns in pairs.items():
        verdict = Verdict.worst(c.verdict for c in conns if c.verdict) if any(c.verdict for c in conns) else None
        colour = VERDICT_COLOURS.get(verdict, GREY)
        label = "\n".join(c.output if c.output == c.input or not c.consumer else f"{c.output} → {c.input}"
                          for c in conns)
        handed = producer not in steps or not steps[producer].troubled
        style = "solid" if verdict or handed else "dashed"
        tooltip = f"{producer} → {consumer}: {verdict or 'not checked'}"
        lines.append(f'  {_q(producer)} -> {_q(consumer)} [class={_q("handoff " + (verdict or "unchecked"))}, '
                     f'color={_q(colour)}, fontcolor={_q(colour)}, style={style}, label={_q(label)}, '
                     f'tooltip={_q(tooltip)}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    """A DOT string: quotes and backslashes escaped (Graphviz reads `\\N`, `\\G`... in labels);
    a newline becomes a line break."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
