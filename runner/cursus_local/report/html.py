"""`generate-report`: static HTML pages of the runs in a runs folder.

    <out>/index.html                   every run, with success-rate and duration trends
    <out>/runs/<run>.html              one run: its DAG, timeline, handoff checks, failures
    <out>/runs/<run>/check-<n>.html    one validation: the expectations that failed, with examples
    <out>/assets/plotly-<v>.min.js     the charting library, once for all pages

Nothing is fetched when a page opens: the DAG (Graphviz SVG), the styles and the chart data are
in the page; plotly.js (from the `plotly` package, 4.8 MB) is one file beside the pages, read
through a relative path, instead of being inlined into each of them.

Everything that comes from results (names, messages, log lines, examples) is escaped by Jinja's
autoescape; chart data goes through `tojson`, which escapes `<`, `>` and `&` inside <script>.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from ..errors import UserError
from ..status import StepStatus
from . import graph
from .view import Run, find_runs, load_run

SUCCESS_WINDOW = 10   # runs in the rolling success rate


@dataclass
class Written:
    index: Path
    runs: int
    checks: int
    seconds: float


def generate(runs_dir: Path, out: Path, last: int | None = None) -> Written:
    started = time.perf_counter()
    runs_dir, out = Path(runs_dir), Path(out)
    if not runs_dir.is_dir():
        raise UserError(f"no folder {runs_dir}", field="--runs", fix="name the runs folder of a pipeline "
                        "(`runs/` beside its dag.yaml, or its --runs-dir)")
    folders = find_runs(runs_dir, last)
    if not folders:
        raise UserError(f"no run in {runs_dir} (no subfolder holds a results.json)", field="--runs",
                        fix="run `cursus-local run-pipeline DAG` first, or name the folder it wrote its runs to")
    dot = graph.dot_command()
    env = _templates()
    script = _plotly_asset(out)
    runs = [load_run(f) for f in folders]
    checks = 0
    for folder, run in zip(folders, runs):
        page = out / "runs" / f"{folder.name}.html"
        _write(page, env.get_template("run.html").render(
            run=run, name=folder.name, svg=_markup(graph.svg(run, dot)), legend=graph.LEGEND,
            timeline=timeline(run), plotly=f"../{script}", StepStatus=StepStatus))
        for check in run.checks:
            _write(out / "runs" / folder.name / f"check-{check.number}.html", env.get_template("check.html").render(
                run=run, name=folder.name, check=check))
        checks += len(run.checks)
    index = out / "index.html"
    _write(index, env.get_template("index.html").render(
        runs=list(zip([f.name for f in folders], runs)), runs_dir=str(runs_dir), trends=trends(runs),
        step_rates=step_rates(runs), plotly=script))
    return Written(index, len(runs), checks, time.perf_counter() - started)


# ----------------------------------------------------------------------------- charts (plotly.js figures)

def timeline(run: Run) -> dict | None:
    """A Gantt chart of the steps that ran in this run, in seconds from its start."""
    ran = [s for s in run.steps if s.started and s.ended]
    if not ran:
        return None
    origin = run.started or min(s.started for s in ran)
    data = []
    for status in dict.fromkeys(s.status for s in ran):
        group = [s for s in ran if s.status == status]
        data.append({"type": "bar", "orientation": "h", "name": status, "y": [s.name for s in group],
                     "base": [round((s.started - origin).total_seconds(), 3) for s in group],
                     "x": [round(max((s.ended - s.started).total_seconds(), 0.01), 3) for s in group],
                     "marker": {"color": graph.STEP_COLOURS.get(status, graph.GREY)},
                     "hovertemplate": "%{y}: %{x:.2f}s from %{base:.2f}s<extra>%{fullData.name}</extra>"})
    layout = {"barmode": "overlay", "height": 90 + 28 * len(ran), "margin": {"l": 10, "r": 10, "t": 10, "b": 40},
              "xaxis": {"title": {"text": "seconds since the run started"}, "rangemode": "tozero"},
              "yaxis": {"autorange": "reversed", "automargin": True,
                        "categoryorder": "array", "categoryarray": [s.name for s in ran]},
              "legend": {"orientation": "h"}}
    return {"data": data, "layout": layout}


def trends(runs: list[Run]) -> dict:
    """Run duration, step durations and the rolling success rate, run by run."""
    # x: the run ids (unique, and they sort by time); the start time shows on hover
    x = [r.id for r in runs]
    when = [r.started.strftime("%Y-%m-%d %H:%M:%S") if r.started else r.id for r in runs]
    passed = [r.status == "passed" for r in runs]
    rates = [round(100 * sum(passed[max(0, i + 1 - SUCCESS_WINDOW):i + 1]) / min(i + 1, SUCCESS_WINDOW), 1)
             for i in range(len(runs))]
    axis = {"type": "category", "title": {"text": "run"}, "automargin": True}
    step_names = list(dict.fromkeys(s.name for r in runs for s in r.steps))
    steps = [{"type": "scatter", "mode": "lines+markers", "name": name, "x": x, "customdata": when,
              "y": [next((s.duration if s.duration and not s.cached and not s.not_run else None
                          for s in r.steps if s.name == name), None) for r in runs],
              "hovertemplate": "%{x} (%{customdata}): %{y:.1f}s<extra>%{fullData.name}</extra>"} for name in step_names]
    common = {"margin": {"l": 50, "r": 10, "t": 30, "b": 60}, "height": 320, "xaxis": axis}
    return {
        "duration": {"data": [{"type": "bar", "x": x, "y": [r.duration for r in runs], "customdata": when,
                               "marker": {"color": [graph.GREEN if p else graph.RED for p in passed]},
                               "hovertemplate": "%{customdata}: %{y:.1f}s<extra></extra>"}],
                     "layout": {**common, "title": {"text": "run duration (s)"}, "yaxis": {"rangemode": "tozero"}}},
        "steps": {"data": steps, "layout": {**common, "title": {"text": "step duration (s), steps that ran"},
                                            "yaxis": {"rangemode": "tozero"}}},
        "success": {"data": [{"type": "scatter", "mode": "lines+markers", "x": x, "y": rates, "customdata": when,
                              "line": {"color": graph.GREEN},
                              "hovertemplate": "%{customdata}: %{y}%<extra></extra>"}],
                    "layout": {**common, "title": {"text": f"success rate, last {SUCCESS_WINDOW} runs (%)"},
                               "yaxis": {"range": [0, 105]}}},
    }


def step_rates(runs: list[Run]) -> list[tuple[str, int, int]]:
    """(step, runs it passed or was cached in, runs it was part of), per step."""
    rates: dict[str, list[int]] = {}
    for r in runs:
        for s in r.steps:
            if not s.not_run:
                counts = rates.setdefault(s.name, [0, 0])
                counts[0] += s.status in (StepStatus.PASSED, StepStatus.CACHED)
                counts[1] += 1
    return [(name, ok, total) for name, (ok, total) in rates.items()]


# ----------------------------------------------------------------------------- files

def _templates():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
    env = Environment(loader=PackageLoader("cursus_local.report", "templates"),
                      autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["seconds"] = lambda v: "-" if v is None else f"{v:.1f}s"
    env.filters["when"] = lambda v: v.strftime("%Y-%m-%d %H:%M:%S") if v else "-"
    return env


def _plotly_asset(out: Path) -> str:
    """plotly.min.js from the installed `plotly` package, copied once beside the pages; its path
    relative to `out`. The name carries the version: an upgrade writes a new file."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the `plotly` package is not installed: its plotly.min.js draws the charts",
                        field="generate-report", fix="pip install plotly (a dependency of cursus-local)")
    source = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    name = f"assets/plotly-{version('plotly')}.min.js"
    target = out / name
    if not target.is_file() or target.stat().st_size != source.stat().st_size:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return name


def _markup(svg: str):
    """Graphviz's SVG, trusted as it is: every name in it was escaped by Graphviz (see graph)."""
    from markupsafe import Markup
    return Markup(svg)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
