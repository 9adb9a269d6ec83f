"""JUnit XML from a result file, for a CI's test tab.

A pipeline run is one testsuite: one testcase per step (classname `<pipeline>.<step>`, name `run`)
and one per handoff check (classname of the step it belongs to: the producer for its own output
suite, the consumer for an input or edge suite; name `check <side> <connection>`). A failed step's
failure carries its reason and its log tail; a failed check's, each failed expectation with its
examples. Skipped, blocked and provided (not run) nodes are `skipped`.

A unit test run is one testsuite per script: one testcase per scenario, performance test and data
flow, classname `<script>.<kind>`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from ..status import StepStatus, Verdict

EXAMPLES = 5


def write(doc: dict, path: Path) -> Path:
    """The JUnit XML of a result file's content `doc`, written atomically to `path`."""
    root = ET.Element("testsuites")
    suites = [_pipeline_suite(doc)] if "steps" in doc else _unit_suites(doc)
    for suite in suites:
        root.append(suite)
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, 0)) for s in suites)))
    root.set("time", _seconds(sum(float(s.get("time", 0)) for s in suites)))
    ET.indent(root)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
    return path


def _suite(name: str, cases: list[ET.Element], doc: dict, seconds: float) -> ET.Element:
    suite = ET.Element("testsuite", name=name, tests=str(len(cases)),
                       failures=str(sum(c.find("failure") is not None for c in cases)), errors="0",
                       skipped=str(sum(c.find("skipped") is not None for c in cases)), time=_seconds(seconds))
    if doc.get("started_at"):
        suite.set("timestamp", doc["started_at"].removesuffix("Z")[:19])   # xs:dateTime without zone
    suite.extend(cases)
    return suite


def _case(classname: str, name: str, seconds: float | None = None) -> ET.Element:
    return ET.Element("testcase", classname=classname, name=name, time=_seconds(seconds or 0))


def _fail(case: ET.Element, message: str, body: list[str], kind: str = "failure") -> ET.Element:
    element = ET.SubElement(case, kind, message=_one_line(message), type=kind)
    element.text = "\n".join([message, *body])
    return case


def _skip(case: ET.Element, message: str) -> ET.Element:
    ET.SubElement(case, "skipped", message=_one_line(message))
    return case


# ----------------------------------------------------------------------------- pipeline runs

def _pipeline_suite(doc: dict) -> ET.Element:
    pipeline = doc.get("pipeline") or "pipeline"
    cases = []
    for name, step in doc["steps"].items():
        cases.append(_step_case(f"{pipeline}.{name}", step))
        cases += [_check_case(f"{pipeline}.{name}", h) for h in doc["handoffs"] if check_owner(h) == name]
    return _suite(pipeline, cases, doc, doc.get("duration_seconds") or 0)


def _step_case(classname: str, step: dict) -> ET.Element:
    case = _case(classname, "run", step.get("duration_seconds"))
    status, reason = StepStatus(step["status"]), step.get("reason") or ""
    if step.get("not_run"):
        return _skip(case, f"{step['not_run']}: {reason}".rstrip(": "))
    if status in (StepStatus.SKIPPED, StepStatus.BLOCKED):
        return _skip(case, f"{status}: {reason}".rstrip(": "))
    if not status.ok:
        tail = step.get("log_tail") or []
        body = ([f"exit code {step['exit_code']}"] if step.get("exit_code") is not None else []) + \
            ([f"last {len(tail)} log lines:", *tail] if tail else [])
        return _fail(case, f"{status}: {reason}".rstrip(": "), body)
    return case


def check_owner(check: dict) -> str:
    """The step a handoff check belongs to: the consumer for its input (and edge) suites, the
    producer for its own output suite."""
    connection = check["connection"]
    if check["side"] == "producer" or "->" not in connection:
        return connection.split(".", 1)[0].strip()
    return connection.split("->", 1)[1].strip().split(".", 1)[0]


def _check_case(classname: str, check: dict) -> ET.Element:
    case = _case(classname, f"check {check['side']} {check['connection']}", check.get("seconds"))
    if check["status"] != Verdict.FAIL:
        return case
    failures = check.get("failures") or []
    first = next((f for f in failures if f.get("severity") == "critical"), failures[0] if failures else {})
    body = []
    for f in failures:
        body.append(f"[{f.get('severity')}] {f.get('column') or '(table)'}: {f.get('message') or f.get('type')}")
        if f.get("examples"):
            body.append(f"  examples: {json.dumps(f['examples'][:EXAMPLES], default=str)}")
    body.append(f"suite {check.get('suite')} on {check.get('data_path')}")
    return _fail(case, first.get("message") or f"{check['connection']} failed its check", body)


# ----------------------------------------------------------------------------- unit test runs

def _unit_suites(doc: dict) -> list[ET.Element]:
    bodies = doc["script_unit_tests"]
    bodies = bodies if isinstance(bodies, list) else [bodies]
    suites = []
    for body in bodies:
        script, cases = body["script_name"], []
        for key, kind in (("synthetic_tests", "synthetic"), ("s3_integration_tests", "s3_integration")):
            for e in body.get(key, {}).get("results", []):
                cases.append(_unit_case(f"{script}.{kind}", f"{e['test']}/{e['scenario']}", e))
        for e in body.get("performance_tests", {}).get("results", []):
            cases.append(_unit_case(f"{script}.performance", e["name"], e))
        suites.append(_suite(script, cases, doc, body.get("duration_seconds") or 0))
    flows = doc.get("data_flow_tests", {}).get("results", [])
    if flows:
        cases = [_unit_case("data_flow", f.get("name") or f["connection"], f, issues=f.get("issues")) for f in flows]
        suites.append(_suite("data_flow_tests", cases, doc, 0))
    return suites


def _unit_case(classname: str, name: str, entry: dict, issues: list[str] | None = None) -> ET.Element:
    case = _case(classname, name, entry.get("duration_seconds"))
    if entry["status"] != Verdict.FAIL:
        return case
    body = list(issues or [])
    for check, detail in (entry.get("quality_details") or {}).items():
        if detail.get("status") == Verdict.FAIL:
            body.append(f"{check}: {detail.get('failing_rows')} failing rows")
            rows = [r for f in detail.get("failures", []) for r in f.get("example_rows", [])][:EXAMPLES]
            body += [f"  {json.dumps(r, default=str)}" for r in rows]
    tail = entry.get("log_tail") or []
    body += [f"last {len(tail)} log lines:", *tail] if tail else []
    return _fail(case, entry.get("reason") or "; ".join(issues or []) or "failed", body)


def _seconds(value: float) -> str:
    return f"{float(value):.3f}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500]
