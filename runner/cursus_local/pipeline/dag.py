"""DAG loading (our YAML and Cursus `*.dag.json`), validation and order.

Our YAML; paths are relative to the DAG file:

    name: demo
    steps_dir: steps                      # where <step>.step.yaml files are; default "steps"
    nodes:
      prep:
        step: tabular_preprocessing       # step name or path; default: the node name
        env: {LABEL_FIELD: label}
        job_arguments: {job_type: training}
        image: my/image:tag               # optional override
        inputs: {DATA: ../data/raw}       # external (non-DAG) inputs: a folder or s3://...
      convert: currency_conversion        # short for {step: currency_conversion}
    edges:
      - prep -> convert                   # or [prep, convert]; "a -> b -> c" chains
      - from: prep                        # long form
        to: convert
        map: {processed_data: input_data} # output -> input (or [inputs]); the edge carries only these
        checks: {suite: suites/x.json, on: producer}   # handoff suite; on: producer|consumer|both

A Cursus `*.dag.json` is read as it is: {"dag": {"nodes": [...], "edges": [[a, b], ...]}}.

A node's step file: `<step>.step.yaml` (step = `step:` or the node name), else the file whose
`step_type:` matches the name without its job-type suffix (`TabularPreprocessing_training` ->
`TabularPreprocessing`). Folders searched: the `steps_dirs` given (--steps-dir), the YAML's
steps_dir, the DAG's folder, `../interfaces`. A node name ending in `_training`, `_calibration`,
`_validation` or `_testing` sets job_arguments.job_type unless given. A node whose step file is
not found keeps `step=None` and `missing` says where we looked; `Dag.require_steps()` raises.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from ..fields import Fields
from ..jobs.contracts import STEP_SUFFIXES, Step, load_step, step_name_of

JOB_TYPES = ("training", "calibration", "validation", "testing")
CHECK_SIDES = ("producer", "consumer", "both")
NODE_KEYS = ("step", "env", "job_arguments", "image", "inputs")
EDGE_KEYS = ("from", "to", "map", "checks")
TOP_KEYS = ("name", "description", "steps_dir", "nodes", "edges")


@dataclass
class Node:
    name: str
    step: Step | None
    env: dict[str, str] = field(default_factory=dict)
    job_arguments: dict[str, str] = field(default_factory=dict)
    image: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)   # external: absolute folder or URI
    missing: str = ""                                     # why step is None

    @property
    def job_type(self) -> str | None:
        return self.job_arguments.get("job_type")

    @property
    def spec(self) -> dict[str, Any]:
        """The step's Cursus `spec:` with the `variants:` entry for this job type merged in."""
        if self.step is None:
            return {}
        return _merged(self.step.spec, self._variant().get("spec") or {})

    @property
    def step_types(self) -> list[str]:
        """Names this node answers to in other steps' `compatible_sources`, most specific first."""
        if self.step is None:
            return []
        names = (self._variant().get("step_type"), self.step.step_type,
                 f"{self.step.sagemaker_step_type}Step")          # e.g. the generic "ProcessingStep"
        return [n for n in dict.fromkeys(names) if n]

    def _variant(self) -> dict[str, Any]:
        variants = self.step.raw.get("variants") if self.step else None
        variant = variants.get(self.job_type) if isinstance(variants, dict) else None
        return variant if isinstance(variant, dict) else {}


@dataclass(frozen=True)
class Checks:
    suite: Path
    on: str = "producer"


@dataclass
class Edge:
    upstream: str
    downstream: str
    map: tuple[tuple[str, str], ...] | None = None   # (output, input) pairs; None: discover them
    checks: Checks | None = None
    where: str = ""                                    # the field it came from, for messages


@dataclass
class Dag:
    name: str
    file: Path
    nodes: dict[str, Node]                             # in declaration order
    edges: list[Edge]
    search_dirs: list[Path] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def in_edges(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.downstream == name]

    def out_edges(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.upstream == name]

    def edge(self, upstream: str, downstream: str) -> Edge:
        return next(e for e in self.edges if (e.upstream, e.downstream) == (upstream, downstream))

    def parents(self, name: str) -> list[str]:
        return [e.upstream for e in self.in_edges(name)]

    def children(self, name: str) -> list[str]:
        return [e.downstream for e in self.out_edges(name)]

    def descendants(self, name: str) -> list[str]:
        return self._reachable(name, self.children)

    def ancestors(self, name: str) -> list[str]:
        return self._reachable(name, self.parents)

    def topological_order(self) -> list[str]:
        """Kahn's algorithm; among ready nodes, declaration order wins (stable, deterministic)."""
        index = {n: i for i, n in enumerate(self.nodes)}
        waiting = {n: len(self.parents(n)) for n in self.nodes}
        ready = [(index[n], n) for n, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            _, name = heapq.heappop(ready)
            order.append(name)
            for child in self.children(name):
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, (index[child], child))
        return order

    def levels(self) -> list[list[str]]:
        """Nodes grouped so that each group needs only earlier groups: run a group in parallel."""
        level: dict[str, int] = {}
        for name in self.topological_order():
            level[name] = max((level[p] + 1 for p in self.parents(name)), default=0)
        groups: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for name in self.topological_order():
            groups[level[name]].append(name)
        return groups

    @property
    def missing_steps(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.step is None]

    def require_steps(self) -> None:
        """Raise when any node has no step file (running needs them all)."""
        missing = self.missing_steps
        if missing:
            raise UserError(f"{len(missing)} node(s) have no step file: "
                            + "; ".join(f"{n.name}: {n.missing}" for n in missing),
                            file=str(self.file), field="nodes",
                            fix="add the step files, pass --steps-dir DIR, or set `step:` on the node")

    def _reachable(self, name: str, neighbours) -> list[str]:
        seen, todo = set(), [name]
        while todo:
            for nxt in neighbours(todo.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return [n for n in self.topological_order() if n in seen]


def split_job_type(name: str) -> tuple[str, str | None]:
    """`TabularPreprocessing_training` -> (`TabularPreprocessing`, `training`)."""
    for job_type in JOB_TYPES:
        if name.lower().endswith("_" + job_type):
            return name[: -len(job_type) - 1], job_type
    return name, None


def load_dag(path: str | Path, steps_dirs: tuple[str | Path, ...] | list = ()) -> Dag:
    """Load and validate a DAG file (our YAML or Cursus JSON); errors name file, field and fix."""
    path = Path(path)
    fields = Fields(path)
    doc = _read(path)
    is_cursus = isinstance(doc, dict) and "dag" in doc
    parse = _parse_cursus if is_cursus else _parse_yaml
    name, entries, edges, steps_dir = parse(doc, fields)

    base = path.parent
    dirs = [Path(d) for d in steps_dirs] + ([base / steps_dir] if steps_dir else []) \
        + [base, base / ".." / "interfaces"]
    search_dirs = list(dict.fromkeys(d.resolve() for d in dirs if d.is_dir()))
    finder = _StepFinder(search_dirs, base)
    nodes = {n: _node(n, entry, finder, fields) for n, entry in entries.items()}

    _check_edges(edges, nodes, fields)
    metadata = (doc.get("metadata") or {}) if is_cursus else {}
    dag = Dag(name, path, nodes, edges, search_dirs, metadata)
    _check_acyclic(dag, fields)
    _check_bindings(dag, fields)
    return dag


# --- parsing -------------------------------------------------------------------------------------

def _read(path: Path) -> Any:
    if not path.is_file():
        raise UserError("no such DAG file", file=str(path),
                        fix="pass a DAG YAML file or a Cursus *.dag.json")
    text = path.read_text()
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}",
                        file=str(path), fix="fix the syntax") from exc


def _parse_yaml(doc: Any, f: Fields):
    f.mapping(doc, "(top level)", "a DAG file is a mapping with `nodes:` and `edges:`", required=True)
    f.known_keys(doc, TOP_KEYS, "")
    nodes = doc.get("nodes")
    f.mapping(nodes, "nodes", "write `nodes:` as `name: {step: ..., env: {...}}`", required=True)
    if not nodes:
        f.fail("nodes", "no nodes", "add at least one node under `nodes:`")
    nodes = {str(k): {"step": v} if isinstance(v, str) else v or {} for k, v in nodes.items()}
    for name, entry in nodes.items():
        f.mapping(entry, f"nodes.{name}", f"write `{name}: {{step: ..., env: {{...}}}}`")
        f.known_keys(entry, NODE_KEYS, f"nodes.{name}")
    edges = doc.get("edges") or []
    if not isinstance(edges, list):
        f.fail("edges", f"expected a list, got {type(edges).__name__}", "write `edges: [a -> b, ...]`")
    parsed = [e for i, item in enumerate(edges) for e in _yaml_edge(item, f"edges[{i}]", f)]
    return str(doc.get("name") or f.path.stem), nodes, parsed, str(doc.get("steps_dir") or "steps")


def _yaml_edge(item: Any, where: str, f: Fields) -> list[Edge]:
    if isinstance(item, str):
        ends = [part.strip() for part in item.split("->")]
        if len(ends) < 2 or not all(ends):
            f.fail(where, f"expected `a -> b`, got {item!r}", "write `- a -> b` or `- [a, b]`")
        return [Edge(a, b, where=where) for a, b in zip(ends, ends[1:])]
    if isinstance(item, list):
        if len(item) != 2 or not all(isinstance(x, str) and x for x in item):
            f.fail(where, f"expected [upstream, downstream], got {item!r}", "write `- [a, b]`")
        return [Edge(item[0], item[1], where=where)]
    f.mapping(item, where, "write `- a -> b`, `- [a, b]` or `- {from: a, to: b, map: {...}}`",
              required=True)
    f.known_keys(item, EDGE_KEYS, where)
    for end in ("from", "to"):
        if not isinstance(item.get(end), str) or not item[end]:
            f.fail(f"{where}.{end}", "dangling edge: missing or empty",
                   "give both ends: `{from: upstream, to: downstream}`")
    return [Edge(item["from"], item["to"], _edge_map(item.get("map"), f"{where}.map", f),
                 _checks(item.get("checks"), f"{where}.checks", f), where)]


def _edge_map(value: Any, where: str, f: Fields) -> tuple[tuple[str, str], ...] | None:
    if value is None:
        return None
    f.mapping(value, where, "write `map: {upstream_output: downstream_input}`")
    pairs = []
    for output, inputs in value.items():
        for inp in inputs if isinstance(inputs, list) else [inputs]:
            if not isinstance(inp, str) or not inp:
                f.fail(f"{where}.{output}", f"expected an input name, got {inp!r}",
                       f"write `{output}: <downstream input name>`")
            pairs.append((str(output), inp))
    return tuple(pairs)


def _checks(value: Any, where: str, f: Fields) -> Checks | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"suite": value}
    f.mapping(value, where, "write `checks: {suite: suites/x.json, on: producer}`")
    f.known_keys(value, ("suite", "on"), where)
    suite, side = value.get("suite"), value.get("on", "producer")
    if not isinstance(suite, str) or not suite:
        f.fail(f"{where}.suite", "missing", "name the GX suite file: `suite: suites/x.json`")
    if side not in CHECK_SIDES:
        f.fail(f"{where}.on", f"expected one of {', '.join(CHECK_SIDES)}, got {side!r}",
               "write `on: producer` (check the output once, right after it is written)")
    suite_path = (f.path.parent / suite).resolve()
    if not suite_path.is_file():
        f.fail(f"{where}.suite", f"no such suite file: {suite_path}",
               "fix the path (relative to the DAG file) or create the suite")
    return Checks(suite_path, side)


def _parse_cursus(doc: Any, f: Fields):
    dag = doc.get("dag")
    f.mapping(dag, "dag", 'write `"dag": {"nodes": [...], "edges": [[a, b], ...]}`', required=True)
    nodes = dag.get("nodes")
    if not isinstance(nodes, list) or not nodes or not all(isinstance(n, str) and n for n in nodes):
        f.fail("dag.nodes", f"expected a non-empty list of node names, got {nodes!r}",
               'write `"nodes": ["TabularPreprocessing_training", ...]`')
    duplicates = sorted({n for n in nodes if nodes.count(n) > 1})
    if duplicates:
        f.fail("dag.nodes", f"duplicate node(s): {', '.join(duplicates)}", "list each node once")
    edges = dag.get("edges") or []
    if not isinstance(edges, list):
        f.fail("dag.edges", f"expected a list, got {type(edges).__name__}", 'write `"edges": [[a, b]]`')
    parsed = []
    for i, item in enumerate(edges):
        if not isinstance(item, list) or len(item) != 2 or not all(isinstance(x, str) for x in item):
            f.fail(f"dag.edges[{i}]", f"expected [upstream, downstream], got {item!r}",
                   'write `["Upstream", "Downstream"]`')
        parsed.append(Edge(item[0], item[1], where=f"dag.edges[{i}]"))
    name = (doc.get("metadata") or {}).get("name") or f.path.name.split(".")[0]
    return str(name), {n: {} for n in nodes}, parsed, None


def _node(name: str, entry: dict, finder: _StepFinder, f: Fields) -> Node:
    where = f"nodes.{name}"
    ref = entry.get("step") or name
    if not isinstance(ref, str):
        f.fail(f"{where}.step", f"expected a step name or path, got {ref!r}",
               "write `step: tabular_preprocessing` or `step: steps/x.step.yaml`")
    step, missing = finder.find(ref)
    job_arguments = f.strings(entry.get("job_arguments"), f"{where}.job_arguments")
    job_type = split_job_type(name)[1]
    if job_type:
        job_arguments.setdefault("job_type", job_type)
    inputs = f.strings(entry.get("inputs"), f"{where}.inputs")
    image = entry.get("image")
    if image is not None and (not isinstance(image, str) or not image):
        f.fail(f"{where}.image", f"expected an image URI, got {image!r}",
               "write `image: <repo>:<tag>` or remove it")
    return Node(
        name=name, step=step, missing=missing, image=image,
        env=f.strings(entry.get("env"), f"{where}.env"),
        job_arguments=job_arguments,
        inputs={k: v if "://" in v else str((f.path.parent / v).resolve()) for k, v in inputs.items()},
    )


# --- finding step files --------------------------------------------------------------------------

def _normal(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


class _StepFinder:
    """Step files by path, by file name, or by Cursus `step_type:`, in the search folders."""

    def __init__(self, dirs: list[Path], base: Path):
        self.dirs, self.base = dirs, base
        self._types: dict[Path, str] = {}

    def find(self, ref: str) -> tuple[Step | None, str]:
        if "/" in ref or ref.endswith((".yaml", ".yml")):
            path = (self.base / ref).resolve()
            return (load_step(path), "") if path.is_file() else (None, f"no step file {path}")
        step_type = split_job_type(ref)[0]
        wanted = {_normal(ref), _normal(step_type)}
        for folder in self.dirs:
            files = sorted(p for s in STEP_SUFFIXES for p in folder.glob(f"*{s}"))
            by_name = [p for p in files if _normal(step_name_of(p)) in wanted]
            by_type = [p for p in files if _normal(self._step_type(p)) in wanted]
            if len(by_type) > 1 and not by_name:
                raise UserError(f"{len(by_type)} step files declare step_type {step_type}: "
                                + ", ".join(p.name for p in by_type), file=str(folder),
                                fix="keep one of them in this folder, or set `step:` on the node")
            if by_name or by_type:
                return load_step((by_name or by_type)[0]), ""
        looked = ", ".join(str(d) for d in self.dirs) or "(no existing folder)"
        return None, (f"no {ref}.step.yaml and no step file with `step_type: {step_type}` "
                      f"in {looked}")

    def _step_type(self, path: Path) -> str:
        if path not in self._types:
            try:
                doc = yaml.safe_load(path.read_text())
            except yaml.YAMLError:
                doc = None            # reported if this file is ever the one chosen
            self._types[path] = str(doc.get("step_type") or "") if isinstance(doc, dict) else ""
        return self._types[path]


# --- validation ----------------------------------------------------------------------------------

def _check_edges(edges: list[Edge], nodes: dict[str, Node], f: Fields) -> None:
    seen: dict[tuple[str, str], str] = {}
    for e in edges:
        for end in (e.upstream, e.downstream):
            if end not in nodes:
                f.fail(e.where, f"edge {e.upstream} -> {e.downstream}: unknown node {end!r}",
                       f"declare {end!r} under nodes, or fix the name (known: {', '.join(nodes)})")
        if e.upstream == e.downstream:
            f.fail(e.where, f"self loop: {e.upstream} -> {e.downstream}", "remove this edge")
        pair = (e.upstream, e.downstream)
        if pair in seen:
            f.fail(e.where, f"duplicate edge {e.upstream} -> {e.downstream} (also {seen[pair]})",
                   "keep one entry; put `map:` and `checks:` on it")
        seen[pair] = e.where


def _check_acyclic(dag: Dag, f: Fields) -> None:
    if len(dag.topological_order()) == len(dag.nodes):
        return
    state: dict[str, str] = {}                 # "visiting" | "done"

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = "visiting"
        for child in dag.children(name):
            if state.get(child) == "visiting":
                return path[path.index(child):] + [child]
            if child not in state and (cycle := visit(child, path + [child])):
                return cycle
        state[name] = "done"
        return None

    for start in dag.nodes:
        if start not in state and (cycle := visit(start, [start])):
            f.fail("edges", f"cycle: {' -> '.join(cycle)}",
                   f"remove one of the edges on this path (e.g. {cycle[-2]} -> {cycle[-1]})")


def _check_bindings(dag: Dag, f: Fields) -> None:
    """`map:` and `inputs:` must name real channels, and no input may be fed twice explicitly."""
    for node in dag.nodes.values():
        explicit: dict[str, str] = {}
        for name in node.inputs:
            _require_channel(dag.nodes[node.name], "inputs", name, f"nodes.{node.name}.inputs", f)
            explicit[name] = f"nodes.{node.name}.inputs"
        for e in dag.in_edges(node.name):
            for output, inp in e.map or ():
                _require_channel(dag.nodes[e.upstream], "outputs", output, f"{e.where}.map", f)
                _require_channel(node, "inputs", inp, f"{e.where}.map.{output}", f)
                if inp in explicit:
                    f.fail(f"{e.where}.map", f"input {inp} of {node.name} is already fed by "
                           f"{explicit[inp]}", "feed each input from one place only")
                explicit[inp] = f"{e.where}.map"


def _require_channel(node: Node, kind: str, name: str, where: str, f: Fields) -> None:
    if node.step is None:
        return                                 # unknown channels; reported as a missing step
    channels = getattr(node.step, kind)
    if name not in channels:
        f.fail(where, f"{node.name} ({node.step.file.name}) has no {kind[:-1]} {name!r}",
               f"use one of: {', '.join(channels) or '(none)'}")


def _merged(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        both_maps = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if both_maps else value
    return out
