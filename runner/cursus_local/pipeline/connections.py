"""Which upstream output feeds which downstream input, found before any container starts.

Each input of a node is fed by the first of these that applies:
  1. an incoming edge's explicit `map:` (such an edge carries only the pairs it names);
  2. an external binding under `nodes.<node>.inputs`;
  3. the best automatic match over the other incoming edges, scored
       exact name 90 > an output alias 80 > semantic keywords 40 + 5 a keyword (at most 70),
       +5 when the upstream's step_type is in the input's `compatible_sources`;
     each output feeds one input this way (a required input first); a tie at the top is ambiguous;
  4. last resort (20): the node's only unfed required input takes the only output of a parent.
Keywords are the input's name plus its `semantic_keywords`; they match the output's name,
aliases and `semantic_keywords`, whole or word by word (`processed_data` -> processed, data).

Types, as Cursus's UnifiedDependencyResolver has them (`_are_types_compatible`): when both the
dependency and the output declare a `type:`, an output whose type the dependency does not accept
scores 0 and is never a candidate (3 and 4 alike), so a `model_artifacts` output never feeds a
`hyperparameters` input. An explicit `map:` is the user's word and is not second-guessed.
Like Cursus's assembler (2.9.31), an output feeds at most one input of a node, required inputs
first. Cursus wires `DummyDataLoading.METADATA -> TabularPreprocessing.DATA_SECONDARY` too (its
score 0.84 > 0.5: same type, compatible source, then the best remaining name), and so do we.

An edge between two known steps that carries no connection is reported (`empty_edges`): an edge
that only orders two steps says so with `map: {}`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from .dag import Dag, Edge, Node, missing_step_fix

EXPLICIT, EXACT, ALIAS, LAST_RESORT = 100, 90, 80, 20
SEMANTIC_BASE, PER_KEYWORD, SEMANTIC_MAX, COMPATIBLE_BONUS = 40, 5, 70, 5

# dependency type -> the output types it accepts (Cursus's resolver, compatibility_matrix)
ACCEPTS = {
    "model_artifacts": {"model_artifacts"},
    "training_data": {"processing_output", "training_data"},
    "processing_output": {"processing_output", "training_data"},
    "hyperparameters": {"hyperparameters", "custom_property"},
    "payload_samples": {"payload_samples", "processing_output"},
    "custom_property": {"custom_property"},
}


def types_compatible(dependency_type: str | None, output_type: str | None) -> bool:
    """Whether an output of `output_type` may feed a dependency of `dependency_type`; a side that
    declares no type (our own step files) constrains nothing."""
    if not dependency_type or not output_type:
        return True
    return output_type == dependency_type or output_type in ACCEPTS.get(dependency_type, set())


@dataclass(frozen=True)
class Connection:
    upstream: str
    output: str
    downstream: str
    input: str
    how: str
    score: int


@dataclass(frozen=True)
class Problem:
    node: str
    input: str            # "" when about the whole node
    message: str
    fix: str


@dataclass
class ConnectionReport:
    connections: list[Connection] = field(default_factory=list)
    external: list[Connection] = field(default_factory=list)      # upstream "(external)", output = path
    unfed_required: list[Problem] = field(default_factory=list)
    ambiguous: list[Problem] = field(default_factory=list)
    unchecked: list[Problem] = field(default_factory=list)        # may be fed by a node with no step file
    missing_steps: list[Problem] = field(default_factory=list)
    skipped_edges: list[tuple[str, str]] = field(default_factory=list)
    empty_edges: list[Problem] = field(default_factory=list)      # known steps, nothing carried
    order: list[str] = field(default_factory=list)                # nodes, topological

    @property
    def ok(self) -> bool:
        return not (self.unfed_required or self.ambiguous or self.unchecked or self.missing_steps
                    or self.empty_edges)

    def feeds(self, node: str) -> dict[str, Connection]:
        """input -> what feeds it (edge connections and external bindings) for one node."""
        return {c.input: c for c in self.connections + self.external if c.downstream == node}

    def to_dict(self) -> dict:
        out = {k: [asdict(x) for x in getattr(self, k)] for k in
               ("connections", "external", "unfed_required", "ambiguous", "unchecked", "missing_steps",
                "empty_edges")}
        out["skipped_edges"] = [list(e) for e in self.skipped_edges]
        out["ok"] = self.ok
        return out


def discover(dag: Dag) -> ConnectionReport:
    report = ConnectionReport(order=dag.topological_order())
    report.missing_steps = [Problem(n.name, "", n.missing, missing_step_fix(dag, n.name))
                            for n in dag.missing_steps]
    report.skipped_edges = [(e.upstream, e.downstream) for e in dag.edges
                            if dag.nodes[e.upstream].step is None or dag.nodes[e.downstream].step is None]
    for name in report.order:
        if dag.nodes[name].step is not None:
            _NodeFeeds(dag, dag.nodes[name], report).resolve()
    carried = {(c.upstream, c.downstream) for c in report.connections}
    for e in dag.edges:
        known = dag.nodes[e.upstream].step and dag.nodes[e.downstream].step
        if known and (e.upstream, e.downstream) not in carried and e.map != ():
            report.empty_edges.append(Problem(
                e.downstream, "", f"edge {e.upstream} -> {e.downstream} ({e.where}) carries nothing: no output "
                f"of {e.upstream} ({_outputs(dag, e.upstream)}) fits an input of {e.downstream} "
                f"({', '.join(dag.nodes[e.downstream].step.inputs) or 'none'})",
                edge_fix(dag, e.upstream, e.downstream)))
    return report


def running_only(report: ConnectionReport, dag: Dag) -> ConnectionReport:
    """The report for the nodes that run (not skipped, provided or left out of a selection): their
    problems only, plus every required input that a node which does not run would have fed, unless
    that output is provided."""
    for kind in ("unfed_required", "ambiguous", "unchecked", "missing_steps", "empty_edges"):
        setattr(report, kind, [p for p in getattr(report, kind) if dag.runs(p.node)])
    for c in report.connections:
        node = dag.nodes[c.downstream]
        if not dag.runs(c.downstream) or dag.runs(c.upstream) or c.output in dag.nodes[c.upstream].provide:
            continue
        if c.input in required_inputs(node):
            report.unfed_required.append(Problem(
                c.downstream, c.input,
                f"fed by {c.upstream}.{c.output}, and {c.upstream} does not run ({dag.not_run(c.upstream)})",
                f"--provide {c.upstream}.{c.output}=PATH (or `provide: {{{c.output}: PATH}}` under "
                f"nodes.{c.upstream} in a DAG YAML), or let {c.upstream} run"))
    return report


def required_inputs(node: Node) -> set[str]:
    """The inputs a node needs: `required` in its spec's dependencies, else in its contract."""
    deps = node.spec.get("dependencies") or {}
    return {name for name, spec in node.step.inputs.items()
            if bool((deps.get(name) or {}).get("required", spec.required))}


def _outputs(dag: Dag, node: str) -> str:
    step = dag.nodes[node].step
    return ", ".join(step.outputs) or "none" if step else "unknown: no step file"


def edge_fix(dag: Dag, upstream: str, downstream: str, inp: str = "<input>") -> str:
    """How to say what an edge carries, in the file the user can edit."""
    entry = f"{{from: {upstream}, to: {downstream}, map: {{<output>: {inp}}}}}"
    if dag.file.suffix == ".json":   # the Cursus file stays as it is: a bindings YAML beside it
        return (f"in a DAG YAML with `cursus_dag: {dag.file.name}`, add under `edges:` {entry} "
                "(`map: {}` if the edge only orders the two steps)")
    return f"give the edge a map: {entry} (`map: {{}}` if it only orders the two steps)"


class _NodeFeeds:
    """Works out what feeds each input of one node, adding to the report."""

    def __init__(self, dag: Dag, node: Node, report: ConnectionReport):
        self.dag, self.node, self.report = dag, node, report
        deps = node.spec.get("dependencies") or {}
        self.deps = {name: deps.get(name) or {} for name in node.step.inputs}
        self.required = {name: bool(self.deps[name].get("required", spec.required))
                         for name, spec in node.step.inputs.items()}
        edges = dag.in_edges(node.name)
        self.auto_edges = [e for e in edges if e.map is None and dag.nodes[e.upstream].step]
        self.mapped_edges = [e for e in edges if e.map is not None]
        self.unknown_parents = [e.upstream for e in edges
                                if e.map is None and not dag.nodes[e.upstream].step]
        self.fed: dict[str, Connection] = {}
        self.used: set[tuple[str, str]] = set()        # (upstream, output) already feeding an input
        self.ambiguous: set[str] = set()

    def resolve(self) -> None:
        for e in self.mapped_edges:
            for output, inp in e.map:
                self._connect(Connection(e.upstream, output, self.node.name, inp, "explicit map", EXPLICIT))
        for inp, source in self.node.inputs.items():
            self.report.external.append(Connection("(external)", source, self.node.name, inp,
                                                   f"nodes.{self.node.name}.inputs", 0))
        self._match_automatically()
        self._last_resort()
        self._report_unfed()

    def _free(self, inp: str) -> bool:
        return inp not in self.fed and inp not in self.node.inputs and inp not in self.ambiguous

    def _connect(self, c: Connection) -> None:
        self.fed[c.input] = c
        self.used.add((c.upstream, c.output))
        self.report.connections.append(c)

    def _match_automatically(self) -> None:
        candidates = [c for e in self.auto_edges for c in self._candidates(e)]
        for score in sorted({c.score for c in candidates}, reverse=True):
            group = [c for c in candidates if c.score == score and self._free(c.input)
                     and (c.upstream, c.output) not in self.used]
            by_input = _group(group, lambda c: c.input)
            for inp, tied in by_input.items():
                if len(tied) > 1:
                    self._ambiguous(inp, tied)
            clear = [c for c in group if self._free(c.input)]
            for _, claims in _group(clear, lambda c: (c.upstream, c.output)).items():
                winners = [c for c in claims if self.required[c.input]] or claims
                if len(winners) > 1:
                    for c in winners:
                        self._ambiguous(c.input, winners)
                else:
                    self._connect(winners[0])

    def _candidates(self, edge: Edge):
        upstream = self.dag.nodes[edge.upstream]
        out_specs = upstream.spec.get("outputs") or {}
        for output in upstream.step.outputs:
            spec = out_specs.get(output) or {}
            aliases = spec.get("aliases") or []
            terms = _terms([output, *aliases, *(spec.get("semantic_keywords") or [])])
            for inp in filter(self._free, self.node.step.inputs):
                dep = self.deps[inp]
                if not types_compatible(dep.get("type"), spec.get("type")):
                    continue   # Cursus scores this pair 0
                if output == inp:
                    score, how = EXACT, "exact name"
                elif inp.lower() in {a.lower() for a in aliases}:
                    score, how = ALIAS, f"alias {inp}"
                else:
                    keywords = dict.fromkeys(k.lower() for k in [inp, *(dep.get("semantic_keywords") or [])])
                    hits = [k for k in keywords if k in terms]
                    if not hits:
                        continue
                    score = min(SEMANTIC_BASE + PER_KEYWORD * len(hits), SEMANTIC_MAX)
                    how = "semantic: " + ", ".join(hits)
                compatible = [t for t in upstream.step_types if t in (dep.get("compatible_sources") or [])]
                if compatible:
                    score, how = score + COMPATIBLE_BONUS, f"{how}; compatible source {compatible[0]}"
                yield Connection(edge.upstream, output, self.node.name, inp, how, score)

    def _last_resort(self) -> None:
        unfed = [i for i in self.node.step.inputs if self.required[i] and self._free(i)]
        sources = [(e.upstream, next(iter(outputs))) for e in self.auto_edges
                   if len(outputs := self.dag.nodes[e.upstream].step.outputs) == 1]
        sources = [s for s in sources if s not in self.used and len(unfed) == 1 and types_compatible(
            self.deps[unfed[0]].get("type"),
            ((self.dag.nodes[s[0]].spec.get("outputs") or {}).get(s[1]) or {}).get("type"))]
        if len(unfed) != 1 or not sources:
            return
        how = "last resort: the parent's only output -> the only unfed required input"
        candidates = [Connection(up, out, self.node.name, unfed[0], how, LAST_RESORT) for up, out in sources]
        if len(candidates) > 1:
            self._ambiguous(unfed[0], candidates)
        else:
            self._connect(candidates[0])

    def _ambiguous(self, inp: str, tied: list[Connection]) -> None:
        if inp in self.ambiguous:
            return
        self.ambiguous.add(inp)
        options = ", ".join(f"{c.upstream}.{c.output} -> {c.input} ({c.how})" for c in tied)
        pick = next(c for c in tied if c.input == inp)
        self.report.ambiguous.append(Problem(
            self.node.name, inp, f"{len(tied)} equally good matches (score {pick.score}): {options}",
            edge_fix(self.dag, pick.upstream, self.node.name, inp).replace("<output>", pick.output)
            if self.dag.file.suffix == ".json" else
            f"add `map: {{<output>: {inp}}}` to the edge you mean, e.g. `map: {{{pick.output}: {inp}}}` "
            f"on edge {pick.upstream} -> {self.node.name}"))

    def _report_unfed(self) -> None:
        name = self.node.name
        for inp in self.node.step.inputs:
            if not (self.required[inp] and self._free(inp)):
                continue
            if self.unknown_parents:
                parents = ", ".join(self.unknown_parents)
                self.report.unchecked.append(Problem(
                    name, inp, f"required; may be fed by {parents} (no step file)",
                    f"add the step file for {parents} (or --steps-dir DIR), or feed it: "
                    f"--input {name}.{inp}=PATH"))
                continue
            edges = self.auto_edges + self.mapped_edges
            bind = (f"--input {name}.{inp}=PATH" if self.dag.file.suffix == ".json"
                    else f"bind it under nodes.{name}.inputs (or --input {name}.{inp}=PATH)")
            if self.dag.file.suffix == ".json":
                via_edge = " or ".join(f"{edge_fix(self.dag, e.upstream, name, inp)} "
                                       f"(outputs: {_outputs(self.dag, e.upstream)})" for e in edges)
            else:
                via_edge = " or ".join(
                    f"add `map: {{<output>: {inp}}}` to edge {e.upstream} -> {name} "
                    f"(outputs: {_outputs(self.dag, e.upstream)})" for e in edges)
            self.report.unfed_required.append(Problem(
                name, inp, "required input: nothing feeds it",
                f"{via_edge}, or {bind}" if edges else
                (bind if self.dag.file.suffix == ".json"
                 else f"bind it under nodes.{name}.inputs (e.g. `{inp}: ../data/{inp.lower()}`) or pass "
                      f"--input {name}.{inp}=PATH, or add an edge from the step that produces it")))


def _terms(names: list[str]) -> set[str]:
    """Names in lower case, whole and split into words (snake_case, kebab-case, CamelCase)."""
    terms = set()
    for name in names:
        terms.add(name.lower())
        words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).replace("-", "_").split("_")
        terms.update(w.lower() for w in words if w)
    return terms


def _group(items, key) -> dict:
    groups: dict = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups
