"""DAG loading (our YAML and Cursus `*.dag.json`), validation and order.

Our YAML; paths are relative to the DAG file:

    name: demo
    steps_dir: steps                      # where <step>.step.yaml files are; default "steps"
    code: scripts                         # where every node's entry point is (default: each step's)
    nodes:
      prep:
        step: tabular_preprocessing       # step name or path; default: the node name
        env: {LABEL_FIELD: label}
        job_arguments: {job_type: training}
        image: my/image:tag               # optional override
        inputs: {DATA: ../data/raw}       # external (non-DAG) inputs: a folder or s3://...
        outputs: {processed_data: s3://bucket/prefix}   # also uploaded there once the step completes
        code: ../other_scripts            # this node's entry point folder (beats the DAG's `code:`)
      convert: currency_conversion        # short for {step: currency_conversion}
      load:
        provide: {DATA: ../data/loaded}   # this output is given: the node does not run
      register: {skip: true}              # the node does not run (its dependants need `provide:`)
    edges:
      - prep -> convert                   # or [prep, convert]; "a -> b -> c" chains
      - from: prep                        # long form
        to: convert
        map: {processed_data: input_data} # output -> input (or [inputs]); the edge carries only these
        checks: {suite: suites/x.json, on: producer}   # handoff suite; on: producer|consumer|both

A Cursus `*.dag.json` is read as it is: {"dag": {"nodes": [...], "edges": [[a, b], ...]}}.
Our YAML may take its nodes and edges from one and add only local bindings, leaving it unchanged:

    cursus_dag: ../../shared/cursus/dags/xgboost_complete_e2e.dag.json
    steps_dir: ../../shared/cursus/interfaces
    code: scripts
    nodes:                                # only nodes of the Cursus DAG; only local bindings
      CradleDataLoading_training: {provide: {DATA: data/train}}
      Registration: {skip: true}
    edges:                                # only edges of the Cursus DAG, to add `map:` / `checks:`
      - {from: XGBoostTraining, to: Package, map: {model_output: model_input}}

Node names, the way Cursus reads them (`{canonical_step_name}_{job_type}`, split on the last
underscore by its DAG config factory): a node resolves to the step file named like it or whose
`step_type:` is the whole name (no job type); else to the one whose `step_type:` is the name before
its last underscore (then its first), and what follows is the job type, whatever it is
(`XGBoostModelEval_evaluation`, `TabularPreprocessing_delta`). A node of our YAML with an explicit
`step:` takes a job type from its name only for Cursus's job-type suffixes (JOB_TYPES). The job type
selects the interface's `variants:` entry (deep-merged over spec, contract and patterns, as Cursus's
StepInterface.from_yaml does) and becomes job_arguments.job_type when the step takes that argument.
Folders searched: the `steps_dirs` given (--steps-dir), the YAML's steps_dir, the DAG's folder,
`../interfaces`. A node whose step file is not found keeps `step=None` and `missing` says where we
looked; `Dag.require_steps()` raises.

Which nodes run: all, less those `skip`ped, those whose outputs are `provide`d, and those outside
`select(only, from_, to)`; `Dag.runs(name)` says, `Dag.not_run(name)` says why not.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import yamlfile
from ..errors import UserError
from ..fields import Fields
from ..jobs.contracts import STEP_SUFFIXES, Step, load_step, parse_step, require_channel, step_document, step_name_of

# Cursus's job-type suffixes (step_catalog/naming.py JOB_TYPE_SUFFIXES), used only where a node of
# our YAML names its step explicitly; a node resolved by name takes any suffix as its job type.
JOB_TYPES = ("training", "validation", "testing", "calibration", "inference", "evaluation", "batch",
             "export", "scoring")
CHECK_SIDES = ("producer", "consumer", "both")
NODE_KEYS = ("step", "env", "job_arguments", "image", "inputs", "outputs", "code", "provide", "skip",
             "framework_version")
EDGE_KEYS = ("from", "to", "map", "checks")
TOP_KEYS = ("name", "description", "steps_dir", "nodes", "edges", "code", "cursus_dag", "wheelhouse",
            "pip_offline")


@dataclass
class Node:
    name: str
    step: Step | None
    env: dict[str, str] = field(default_factory=dict)
    job_arguments: dict[str, str] = field(default_factory=dict)
    image: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)   # external: absolute folder or URI
    outputs: dict[str, str] = field(default_factory=dict)  # output -> s3:// URI it is uploaded to
    missing: str = ""                                     # why step is None
    code: str | None = None                               # entry point folder (absolute)
    provide: dict[str, str] = field(default_factory=dict)  # output -> given folder or URI
    skip: bool = False
    variant: str | None = None                            # the job type its name carries
    framework_version: str | None = None                  # the run's value of framework_version_field

    @property
    def job_type(self) -> str | None:
        return self.job_arguments.get("job_type") or self.variant

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
    output: str | None = None     # the one output of the edge it checks (default: all it carries)


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
    code: str | None = None                            # DAG-wide entry point folder (absolute)
    unselected: dict[str, str] = field(default_factory=dict)   # node -> why it is not selected
    cursus_file: Path | None = None                    # the Cursus .dag.json the nodes come from
    wheelhouse: str | None = None                      # host folder of wheels for every job (absolute)
    pip_offline: bool = False                          # with the wheelhouse: pip uses nothing else
    secret_env: tuple[str, ...] = ()                   # --secret-env: more names masked in every job

    def runs(self, name: str) -> bool:
        return not self.not_run(name)

    def not_run(self, name: str) -> str:
        """Why a node does not run ("" when it does): skipped, provided or not selected."""
        node = self.nodes[name]
        if node.skip:
            return "skipped (--skip / skip: true)"
        if node.provide:
            return "provided: " + ", ".join(f"{o}={p}" for o, p in node.provide.items())
        return self.unselected.get(name, "")

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
        """Raise when a node that runs (or whose outputs are provided) has no step file."""
        missing = [n for n in self.missing_steps if self.runs(n.name) or n.provide]
        if missing:
            raise UserError(f"{len(missing)} node(s) have no step file: "
                            + "; ".join(f"{n.name}: {n.missing}" for n in missing),
                            file=str(self.file), field="nodes",
                            fix=missing_step_fix(self, missing[0].name))

    def _reachable(self, name: str, neighbours) -> list[str]:
        seen, todo = set(), [name]
        while todo:
            for nxt in neighbours(todo.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return [n for n in self.topological_order() if n in seen]


def split_job_type(name: str) -> tuple[str, str | None]:
    """Cursus's reading of a node name: `TabularPreprocessing_training` -> (`TabularPreprocessing`,
    `training`), split on the last underscore; `XGBoostTraining` -> (`XGBoostTraining`, None)."""
    base, sep, suffix = name.rpartition("_")
    return (base, suffix) if sep and base and suffix else (name, None)


def name_readings(name: str) -> list[tuple[str, str | None]]:
    """(step type, job type) readings of a node name, in the order they are tried: the whole name,
    then split on the last underscore, then on the first (`Step_a_b` -> Step, `a_b`)."""
    readings = [(name, None), split_job_type(name)]
    first, sep, rest = name.partition("_")
    if sep and first and rest:
        readings.append((first, rest))
    return list(dict.fromkeys(r for r in readings if r[1] is not None or r[0] == name))


def missing_step_fix(dag: Dag, node: str) -> str:
    where = "nodes" if dag.file.suffix != ".json" else None
    return ("add the step file, pass --steps-dir DIR"
            + (f", or set `step:` under {where}.{node}" if where else
               f", or bind the node to a step file in our YAML (`cursus_dag: {dag.file.name}` and "
               f"`nodes: {{{node}: {{step: path/to/x.step.yaml}}}}`)")
            + f", or don't run it: --skip {node}")


def load_dag(path: str | Path, steps_dirs: tuple[str | Path, ...] | list = ()) -> Dag:
    """Load and validate a DAG file (our YAML, our YAML over a Cursus JSON, or Cursus JSON);
    errors name file, field and fix."""
    path = Path(path)
    fields = Fields(path)
    doc = _read(path)
    is_cursus = isinstance(doc, dict) and "dag" in doc
    cursus_file = None
    metadata: dict = {}
    if is_cursus:
        name, entries, edges, steps_dir = _parse_cursus(doc, fields)
        metadata = doc.get("metadata") or {}
    elif isinstance(doc, dict) and doc.get("cursus_dag") is not None:
        name, entries, edges, steps_dir, cursus_file, metadata = _parse_bindings(doc, fields)
    else:
        name, entries, edges, steps_dir = _parse_yaml(doc, fields)

    base = path.parent
    dirs = [Path(d) for d in steps_dirs] + ([base / steps_dir] if steps_dir else []) \
        + [base, base / ".." / "interfaces"]
    if cursus_file is not None:
        dirs += [cursus_file.parent, cursus_file.parent / ".." / "interfaces"]
    search_dirs = list(dict.fromkeys(d.resolve() for d in dirs if d.is_dir()))
    finder = _StepFinder(search_dirs, base)
    nodes = {n: _node(n, entry, finder, fields) for n, entry in entries.items()}

    _check_edges(edges, nodes, fields)
    code = wheelhouse = None
    pip_offline = False
    if not is_cursus and doc.get("code") is not None:
        code = _folder(doc.get("code"), "code", fields)
    if not is_cursus and doc.get("wheelhouse") is not None:
        wheelhouse = _folder(doc.get("wheelhouse"), "wheelhouse", fields)
    if not is_cursus and doc.get("pip_offline") is not None:
        pip_offline = doc["pip_offline"]
        if not isinstance(pip_offline, bool):
            fields.fail("pip_offline", f"expected true or false, got {pip_offline!r}", "write `pip_offline: true`")
        if pip_offline and wheelhouse is None:
            fields.fail("pip_offline", "pip_offline needs a wheelhouse", "add `wheelhouse: path/to/wheels`")
    dag = Dag(name, path, nodes, edges, search_dirs, metadata, code=code, cursus_file=cursus_file,
              wheelhouse=wheelhouse, pip_offline=pip_offline)
    _check_acyclic(dag, fields)
    _check_bindings(dag, fields)
    return dag


def select(dag: Dag, only: list[str] | tuple = (), from_: str | None = None,
           to: str | None = None) -> None:
    """Partial runs: `only` these nodes, `from_` a node (it and its descendants), `to` a node (it and
    its ancestors); together, what all of them allow. The others are marked not selected."""
    for flag, names in (("--only", list(only)), ("--from", [from_] if from_ else []),
                        ("--to", [to] if to else [])):
        for name in names:
            _known_node(dag, name, flag)
    keep = set(dag.nodes)
    if only:
        keep &= set(only)
    if from_:
        keep &= {from_, *dag.descendants(from_)}
    if to:
        keep &= {to, *dag.ancestors(to)}
    if not keep:
        raise UserError("the selection leaves no node to run", field="--only / --from / --to",
                        fix="pick nodes on one path: --from A --to B needs B downstream of A")
    flags = " ".join(f for f, v in (("--only", only), ("--from", from_), ("--to", to)) if v)
    dag.unselected = {n: f"not selected ({flags})" for n in dag.nodes if n not in keep}


def bind(dag: Dag, *, inputs: dict[str, str] | None = None, env: dict[str, str] | None = None,
         job_arguments: dict[str, str] | None = None, provide: dict[str, str] | None = None, skip: list[str] | tuple = (),
         code: str | Path | None = None, wheelhouse: str | Path | None = None,
         pip_offline: bool = False) -> None:
    """The one-off bindings of the command line, over the DAG file's: `--input NODE.NAME=PATH`,
    `--env NODE.KEY=VALUE`, `--job-arg NODE.NAME=VALUE`, `--provide NODE.OUTPUT=PATH`, `--skip NODE`, `--code DIR`,
    `--wheelhouse DIR`, `--pip-offline`. Paths are relative to the current folder."""
    if code is not None:
        if not Path(code).is_dir():
            raise UserError(f"--code {code}: no such folder", field="--code",
                            fix="pass the folder that holds the entry point scripts")
        dag.code = str(Path(code).resolve())
    if wheelhouse is not None:
        if not Path(wheelhouse).is_dir():
            raise UserError(f"--wheelhouse {wheelhouse}: no such folder", field="--wheelhouse",
                            fix="make one with `pip wheel -r requirements.txt -w DIR`")
        dag.wheelhouse = str(Path(wheelhouse).resolve())
    if pip_offline:
        dag.pip_offline = True
    for name in skip:
        dag.nodes[_known_node(dag, name, "--skip")].skip = True
    for flag, values in (("--input", inputs), ("--env", env), ("--job-arg", job_arguments),
                         ("--provide", provide)):
        for key, value in (values or {}).items():
            node_name, channel = _node_key(dag, key, flag)
            node = dag.nodes[node_name]
            if flag in ("--env", "--job-arg"):   # checked with the node's request in preflight
                (node.env if flag == "--env" else node.job_arguments)[channel] = value
                continue
            path = value if "://" in value else str(Path(value).resolve())
            if flag == "--input":
                _require_channel(node, "inputs", channel, flag, Fields(None), fix_flag=flag)
                node.inputs[channel] = path
            else:
                _require_channel(node, "outputs", channel, flag, Fields(None), fix_flag=flag)
                node.provide[channel] = path
    _check_bindings(dag, Fields(dag.file))


def _known_node(dag: Dag, name: str, flag: str) -> str:
    if name not in dag.nodes:
        import difflib
        close = difflib.get_close_matches(name, list(dag.nodes), n=1)
        raise UserError(f"{flag} {name}: no such node in {dag.file.name}", field=flag,
                        fix=f"did you mean {close[0]!r}?" if close else
                        f"use one of: {', '.join(dag.nodes)}")
    return name


def _node_key(dag: Dag, key: str, flag: str) -> tuple[str, str]:
    """`NODE.NAME` -> (node, name); the longest node name that fits wins (a name may hold dots)."""
    fits = [n for n in dag.nodes if key.startswith(n + ".") and len(key) > len(n) + 1]
    if not fits:
        node = key.partition(".")[0]
        if "." not in key:
            raise UserError(f"{flag} {key}: expected NODE.NAME", field=flag,
                            fix=f"write {flag} NODE.NAME=VALUE, e.g. {flag} {next(iter(dag.nodes))}.NAME=...")
        _known_node(dag, node, flag)
    node = max(fits, key=len)
    return node, key[len(node) + 1:]


# --- parsing -------------------------------------------------------------------------------------

def _read(path: Path) -> Any:
    if not path.is_file():
        raise UserError("no such DAG file", file=str(path),
                        fix="pass a DAG YAML file or a Cursus *.dag.json")
    text = path.read_text()
    if path.suffix != ".json":
        return yamlfile.load(text, file=str(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"not valid JSON: {exc}", file=str(path), fix="fix the syntax") from exc


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
    f.known_keys(value, ("suite", "on", "output"), where)
    suite, side, output = value.get("suite"), value.get("on", "producer"), value.get("output")
    if output is not None and (not isinstance(output, str) or not output):
        f.fail(f"{where}.output", f"expected an output name, got {output!r}",
               "name one output of the edge's upstream step, e.g. `output: DATA`")
    if not isinstance(suite, str) or not suite:
        f.fail(f"{where}.suite", "missing", "name the GX suite file: `suite: suites/x.json`")
    if side not in CHECK_SIDES:
        f.fail(f"{where}.on", f"expected one of {', '.join(CHECK_SIDES)}, got {side!r}",
               "write `on: producer` (check the output once, right after it is written)")
    suite_path = (f.path.parent / suite).resolve()
    if not suite_path.is_file():
        f.fail(f"{where}.suite", f"no such suite file: {suite_path}",
               "fix the path (relative to the DAG file) or create the suite")
    return Checks(suite_path, side, output)


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


def _parse_bindings(doc: dict, f: Fields):
    """Our YAML over a Cursus .dag.json: its nodes and edges, plus local bindings only."""
    f.known_keys(doc, TOP_KEYS, "")
    ref = doc.get("cursus_dag")
    if not isinstance(ref, str) or not ref:
        f.fail("cursus_dag", f"expected the path of a Cursus .dag.json, got {ref!r}",
               "write `cursus_dag: path/to/x.dag.json` (relative to this file)")
    cursus_file = (f.path.parent / ref).resolve()
    cursus = Fields(cursus_file)
    cdoc = _read(cursus_file)
    if not (isinstance(cdoc, dict) and "dag" in cdoc):
        f.fail("cursus_dag", f"{cursus_file} is not a Cursus DAG (no `dag:` section)",
               "name a Cursus *.dag.json file")
    name, entries, edges, _ = _parse_cursus(cdoc, cursus)
    nodes = f.mapping(doc.get("nodes"), "nodes", "write `nodes: {NodeName: {inputs: {...}, env: {...}}}`")
    for node, entry in nodes.items():
        if node not in entries:
            import difflib
            close = difflib.get_close_matches(str(node), list(entries), n=1)
            f.fail(f"nodes.{node}", f"no node {node!r} in {cursus_file.name}: bindings add to its nodes, "
                   "never new ones", f"did you mean {close[0]!r}?" if close else
                   f"use one of: {', '.join(entries)}")
        entry = entry or {}
        f.mapping(entry, f"nodes.{node}", f"write `{node}: {{inputs: {{...}}, env: {{...}}}}`")
        f.known_keys(entry, NODE_KEYS, f"nodes.{node}")
        entries[node] = entry
    extra = doc.get("edges") or []
    if not isinstance(extra, list):
        f.fail("edges", f"expected a list, got {type(extra).__name__}",
               "write `edges: [{from: A, to: B, map: {output: input}}]`")
    by_pair = {(e.upstream, e.downstream): i for i, e in enumerate(edges)}
    for i, item in enumerate(extra):
        for e in _yaml_edge(item, f"edges[{i}]", f):
            if (e.upstream, e.downstream) not in by_pair:
                f.fail(f"edges[{i}]", f"edge {e.upstream} -> {e.downstream} is not in {cursus_file.name}; "
                       "bindings may add `map:` or `checks:` to its edges, never new edges",
                       "name an edge of the Cursus DAG, or write your own DAG YAML with `nodes:` and `edges:`")
            e.where = f"edges[{i}]"
            edges[by_pair[(e.upstream, e.downstream)]] = e
    name = str(doc.get("name") or name)
    return name, entries, edges, doc.get("steps_dir"), cursus_file, cdoc.get("metadata") or {}


def _folder(value: Any, where: str, f: Fields) -> str:
    if not isinstance(value, str) or not value:
        f.fail(where, f"expected a folder, got {value!r}", f"write `{where.rsplit('.', 1)[-1]}: path/to/folder`")
    path = (f.path.parent / value).resolve()
    if not path.is_dir():
        f.fail(where, f"no such folder: {path}", "fix the path (relative to the DAG file)")
    return str(path)


def _node(name: str, entry: dict, finder: _StepFinder, f: Fields) -> Node:
    where = f"nodes.{name}"
    ref = entry.get("step")
    if ref is not None and (not isinstance(ref, str) or not ref):
        f.fail(f"{where}.step", f"expected a step name or path, got {ref!r}",
               "write `step: tabular_preprocessing` or `step: steps/x.step.yaml`")
    if ref:
        step, missing = finder.find(ref)
        suffix = split_job_type(name)[1]
        variant = suffix if suffix and suffix.lower() in JOB_TYPES else None
    else:
        step, missing, variant = finder.find_node(name)
    step = _with_variant(step, (entry.get("job_arguments") or {}).get("job_type") or variant)
    job_arguments = f.strings(entry.get("job_arguments"), f"{where}.job_arguments")
    takes_job_type = step is not None and any(a.source == "job_type" for a in step.job_arguments)
    if variant and takes_job_type:
        job_arguments.setdefault("job_type", variant)
    inputs = f.strings(entry.get("inputs"), f"{where}.inputs")
    provide = f.strings(entry.get("provide"), f"{where}.provide")
    outputs = f.strings(entry.get("outputs"), f"{where}.outputs")
    for output, uri in outputs.items():
        if not uri.startswith("s3://"):
            f.fail(f"{where}.outputs.{output}", f"expected an s3:// URI, got {uri!r}",
                   "write `outputs: {NAME: s3://BUCKET/PREFIX}`; a step's local outputs are in its run folder")
    skip = entry.get("skip", False)
    if not isinstance(skip, bool):
        f.fail(f"{where}.skip", f"expected true or false, got {skip!r}", "write `skip: true`")
    image = entry.get("image")
    if image is not None and (not isinstance(image, str) or not image):
        f.fail(f"{where}.image", f"expected an image URI, got {image!r}",
               "write `image: <repo>:<tag>` or remove it")
    version = entry.get("framework_version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (str, int, float))
                                or not str(version)):
        f.fail(f"{where}.framework_version", f"expected a framework version, got {version!r}",
               "write e.g. `framework_version: \"1.0-1\"` (quoted), or remove it")
    def place(v: str) -> str:
        return v if "://" in v else str((f.path.parent / v).resolve())

    return Node(
        name=name, step=step, missing=missing, image=image,
        env=f.strings(entry.get("env"), f"{where}.env"),
        job_arguments=job_arguments,
        inputs={k: place(v) for k, v in inputs.items()}, outputs=outputs,
        code=_folder(entry["code"], f"{where}.code", f) if entry.get("code") is not None else None,
        provide={k: place(v) for k, v in provide.items()}, skip=skip, variant=variant,
        framework_version=None if version is None else str(version),
    )


def _with_variant(step: Step | None, job_type: str | None) -> Step | None:
    """The step with its `variants[job_type]` contract and patterns deep-merged over the base, as
    Cursus's StepInterface.from_yaml does (the spec is merged by `Node.spec`); else as it is."""
    variants = step.raw.get("variants") if step is not None else None
    variant = variants.get(job_type) if isinstance(variants, dict) and job_type else None
    if not isinstance(variant, dict) or not (variant.get("contract") or variant.get("patterns")):
        return step
    doc = dict(step.raw)
    for section in ("contract", "patterns"):
        if isinstance(variant.get(section), dict):
            doc[section] = _merged(doc.get(section) or {}, variant[section])
    return parse_step(doc, step.file)


# --- finding step files --------------------------------------------------------------------------

def _normal(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


class _StepFinder:
    """Step files by path, by file name, or by Cursus `step_type:`, in the search folders."""

    def __init__(self, dirs: list[Path], base: Path):
        self.dirs, self.base = dirs, base
        self._types: dict[Path, str] = {}

    def find_node(self, name: str) -> tuple[Step | None, str, str | None]:
        """A node's step by its name, read as Cursus does (see the module doc): (step, why not, job type)."""
        for step_type, job_type in name_readings(name):
            step, _ = self.find(step_type, exact=True)
            if step is not None:
                return step, "", job_type
        looked = ", ".join(str(d) for d in self.dirs) or "(no existing folder)"
        types = " or ".join(f"`step_type: {t}`" for t, _ in name_readings(name))
        return None, f"no {name}.step.yaml and no step file with {types} in {looked}{self._close(name)}", None

    def find(self, ref: str, exact: bool = False) -> tuple[Step | None, str]:
        if "/" in ref or ref.endswith((".yaml", ".yml")):
            path = (self.base / ref).resolve()
            return (load_step(path), "") if path.is_file() else (None, f"no step file {path}")
        step_type = ref if exact else split_job_type(ref)[0]
        wanted = {_normal(ref), _normal(step_type)}
        for folder in self.dirs:
            files = sorted(p for s in STEP_SUFFIXES for p in folder.glob(f"*{s}") if p.is_file())
            by_name = [p for p in files if _normal(step_name_of(p)) in wanted]
            # a file is read only when its name does not say: a bad file nobody needs stays unread
            by_type = [] if by_name else [p for p in files if _normal(self._step_type(p)) in wanted]
            if len(by_type) > 1 and not by_name:
                raise UserError(f"{len(by_type)} step files declare step_type {step_type}: "
                                + ", ".join(p.name for p in by_type), file=str(folder),
                                fix="keep one of them in this folder, or set `step:` on the node")
            if by_name or by_type:
                return load_step((by_name or by_type)[0]), ""
        looked = ", ".join(str(d) for d in self.dirs) or "(no existing folder)"
        return None, (f"no {ref}.step.yaml and no step file with `step_type: {step_type}` "
                      f"in {looked}{self._close(ref)}")

    def _close(self, name: str) -> str:
        """"; did you mean 'x'?" for the step file name closest to `name` (names only: nothing is read)."""
        import difflib
        known = sorted({step_name_of(p) for folder in self.dirs for s in STEP_SUFFIXES
                        for p in folder.glob(f"*{s}") if p.is_file()})
        close = difflib.get_close_matches(name, known, n=1)
        return f"; did you mean {close[0]!r}?" if close else ""

    def _step_type(self, path: Path) -> str:
        if path not in self._types:
            try:
                doc = step_document(path)
            except UserError:
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
    """`map:`, `inputs:` and `outputs:` must name real channels, and no input may be fed twice
    explicitly."""
    for node in dag.nodes.values():
        explicit: dict[str, str] = {}
        for name in node.provide:
            _require_channel(node, "outputs", name, f"nodes.{node.name}.provide", f)
        for name in node.inputs:
            _require_channel(dag.nodes[node.name], "inputs", name, f"nodes.{node.name}.inputs", f)
            explicit[name] = f"nodes.{node.name}.inputs"
        for name in node.outputs:
            _require_channel(node, "outputs", name, f"nodes.{node.name}.outputs", f)
        for e in dag.in_edges(node.name):
            for output, inp in e.map or ():
                _require_channel(dag.nodes[e.upstream], "outputs", output, f"{e.where}.map", f)
                _require_channel(node, "inputs", inp, f"{e.where}.map.{output}", f)
                if inp in explicit:
                    f.fail(f"{e.where}.map", f"input {inp} of {node.name} is already fed by "
                           f"{explicit[inp]}", "feed each input from one place only")
                explicit[inp] = f"{e.where}.map"


def _require_channel(node: Node, kind: str, name: str, where: str, f: Fields,
                     fix_flag: str | None = None) -> None:
    if node.step is None:
        return                                 # unknown channels; reported as a missing step
    require_channel(node.step, kind, name, where, f, who=node.name, fix_flag=fix_flag)


def _merged(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        both_maps = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if both_maps else value
    return out
