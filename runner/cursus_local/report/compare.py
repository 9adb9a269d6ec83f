"""What regressed between two result files (results.json, unit_tests.json or export-results'):

- a check (handoff check, data-flow connection, unit scenario, quality check) that passed and now
  fails, and a step that passed and now does not;
- a step (or scenario) slower than `slower_than` times its baseline, when the current run takes at
  least `min_seconds` (tiny durations are noise);
- a quality score that went down;
- a step or check that disappeared.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..status import StepStatus, Verdict


@dataclass(frozen=True)
class Regression:
    kind: str        # failing | slower | quality | missing
    what: str        # "step load", "check producer prep.data", ...
    baseline: str
    current: str


def compare(baseline: dict, current: dict, *, slower_than: float = 1.5,
            min_seconds: float = 2.0) -> list[Regression]:
    before, after = _facts(baseline), _facts(current)
    found = []
    for what, (ok, _seconds, _score, shown) in before.items():
        if what not in after:
            found.append(Regression("missing", what, shown, "(gone)"))
            continue
        now_ok, now_seconds, now_score, now_shown = after[what]
        if ok and not now_ok:
            found.append(Regression("failing", what, shown, now_shown))
        seconds = before[what][1]
        if seconds and now_seconds and now_seconds >= min_seconds and now_seconds > slower_than * seconds:
            found.append(Regression("slower", what, f"{seconds:.1f}s",
                                    f"{now_seconds:.1f}s (x{now_seconds / seconds:.1f})"))
        score = before[what][2]
        if score is not None and now_score is not None and now_score < score:
            found.append(Regression("quality", what, f"{score:.3f}", f"{now_score:.3f}"))
    return found


def _facts(doc: dict) -> dict[str, tuple[bool, float | None, float | None, str]]:
    """what -> (passed, seconds, quality score, status as shown) of everything a run checked."""
    facts = {}
    for name, step in (doc.get("steps") or {}).items():
        if step.get("not_run"):
            continue
        facts[f"step {name}"] = (StepStatus(step["status"]).ok, step.get("duration_seconds") or None, None,
                                 step["status"])
    for h in doc.get("handoffs") or []:
        evaluated = h.get("evaluated")
        score = (1 - len(h["failures"]) / evaluated) if evaluated else None
        facts[f"check {h['side']} {h['connection']}"] = (h["status"] != Verdict.FAIL, None, score, h["status"])
    for flow in (doc.get("data_flow_tests") or {}).get("results", []):
        key = f"data flow {flow.get('name') or flow['connection']}"
        facts.setdefault(key, (flow["status"] != Verdict.FAIL, None, None, flow["status"]))
    bodies = doc.get("script_unit_tests") or []
    for body in bodies if isinstance(bodies, list) else [bodies]:
        script = body["script_name"]
        for section in ("synthetic_tests", "s3_integration_tests", "performance_tests"):
            for e in body.get(section, {}).get("results", []):
                what = f"{script} {section.removesuffix('_tests')} {e.get('scenario') or e.get('name')}"
                if e.get("test"):
                    what = f"{script} {e['test']}/{e['scenario']}"
                facts[what] = (e["status"] != Verdict.FAIL, e.get("duration_seconds"),
                               e.get("output_quality_score"), e["status"])
                for check, status in (e.get("quality_checks") or {}).items():
                    facts[f"{what} {check}"] = (status != Verdict.FAIL, None, None, status)
    return facts
