"""generate-report: static HTML pages of the runs, opened in a real headless browser (Debian's
chromium, driven by Playwright through its `executable_path`: no browser download)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

CLI = [sys.executable, "-m", "cursus_local.cli"]
ARTIFACTS = Path(os.environ.get("CURSUS_LOCAL_ARTIFACTS") or REPO / "tests" / "artifacts")
RED = "rgb(214, 39, 40)"     # report/graph.py's RED, as the browser computes it
GREEN = "rgb(44, 160, 44)"


def generate(runs: Path, out: Path, *args, env=None):
    return subprocess.run([*CLI, "generate-report", "--runs", str(runs), "--out", str(out), *args],
                          capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed: `make tools` (or apt-get install chromium)"
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield browser
        browser.close()


def open_page(browser, path: Path):
    """The page, loaded from disk, and what went wrong on the way: console errors, uncaught
    exceptions, any request that is not for a file."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"exception: {e}"))
    page.on("request", lambda r: r.url.startswith("file://") or problems.append(f"request: {r.url}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems


def write_run(runs: Path, run_id: str, steps: dict, handoffs=(), **extra) -> Path:
    folder = runs / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps({
        "run_id": run_id, "run_dir": str(folder), "status": extra.pop("status", "failed"),
        "duration_seconds": 3.0, "bytes_copied": 0, "steps": steps, "provided": {}, "not_run": {},
        "handoffs": list(handoffs), "static_compatibility": [], **extra}))
    return folder


def step(name, status, **fields):
    return {"node": name, "status": status, "reason": "", "duration_seconds": 1.0, "exit_code": 0,
            "key": "", "cached_from": "", "outputs": {}, "blocked_outputs": [], "result_file": "",
            "not_run": "", "provided": {}, **fields}


def check(connection, side, status, failures=(), **fields):
    return {"connection": connection, "side": side, "suite": connection.split(" -> ")[-1], "status": status,
            "blocking": status == "FAIL", "data_path": "/data", "total_rows": 10, "sample_rows": 10,
            "seconds": 0.1, "failures": list(failures), "cached": False, **fields}


def failure(message, examples=(), column="amount"):
    return {"type": "expect_column_values_to_be_of_type", "column": column, "severity": "critical",
            "success": False, "split": "", "unexpected_count": 3, "unexpected_percent": 30.0,
            "unexpected_examples": list(examples), "observed_value": "str", "message": message}


def write_step_result(folder: Path, name: str, log_lines: list[str], exit_code: int = 1, **describe) -> Path:
    logs = folder / name / "logs"
    logs.mkdir(parents=True)
    (logs / "algo-1.log").write_text("\n".join(log_lines) + "\n")
    result = folder / name / "result.json"
    result.write_text(json.dumps({"step": name, "status": "Failed", "describe": describe, "exit_code": exit_code,
                                  "logs": {"algo-1": str(logs / "algo-1.log")}, "inputs": {}}))
    return result


# ----------------------------------------------------------------------------- no engine

EVIL_STEP = "<script>window.__pwned = 1</script>"
EVIL_LOG = '<img src=x onerror="window.__pwned = 2">'
EVIL_MESSAGE = "</script><script>window.__pwned = 3</script> is not a number"
EVIL_EXAMPLE = '"><svg onload="window.__pwned = 4">'


def test_names_log_lines_and_messages_from_results_are_shown_as_text_never_run(tmp_path, browser):
    runs = tmp_path / "runs"
    folder = runs / "20260101-000000-0bad"
    result = write_step_result(folder, "evil", ["Traceback (most recent call last):", EVIL_LOG],
                               ProcessingStartTime="2026-01-01T00:00:01+00:00",
                               ProcessingEndTime="2026-01-01T00:00:02+00:00")
    write_run(runs, folder.name, {
        "load": step("load", "passed"),
        EVIL_STEP: step(EVIL_STEP, "failed", exit_code=1, reason=EVIL_MESSAGE, result_file=str(result),
                        log_tail=["Traceback (most recent call last):", EVIL_LOG])},
        [check(f"load.out -> {EVIL_STEP}.in", "consumer", "FAIL", [failure(EVIL_MESSAGE, [EVIL_EXAMPLE])])])
    out = tmp_path / "reports"
    done = generate(runs, out)
    assert done.returncode == 0, done.stderr

    for page_file in (out / "runs" / f"{folder.name}.html", out / "runs" / folder.name / "check-1.html",
                      out / "index.html"):
        page, problems = open_page(browser, page_file)
        assert page.evaluate("window.__pwned") is None, page_file
        assert problems == [], page_file
        text = page.inner_text("body")
        assert EVIL_STEP in text, page_file
        if page_file.name != "index.html":
            assert EVIL_MESSAGE in text and EVIL_EXAMPLE in text
        page.close()
    page, _ = open_page(browser, out / "runs" / f"{folder.name}.html")
    text = page.inner_text("body")
    assert EVIL_STEP in text and EVIL_LOG in text                      # the log tail, as text
    assert EVIL_STEP in page.text_content(".dag svg")                  # the DAG's label, as text
    page.close()


def test_reads_results_of_every_age_and_counts_each_run_once(tmp_path):
    runs = tmp_path / "runs"
    # today's results.json: absolute paths, no times, no log tail, no count of expectations
    old = runs / "20260101-000000-0001"
    result = write_step_result(old, "train", ["loading", "ValueError: no label column"],
                               ProcessingStartTime="2026-01-01T00:00:01+00:00",
                               ProcessingEndTime="2026-01-01T00:00:04+00:00")
    write_run(runs, old.name, {"prep": step("prep", "passed"),
                               "train": step("train", "failed", exit_code=1, result_file=str(result))},
              [check("prep.data", "producer", "PASS")])
    # with what results.json is getting: a schema version, times, relative paths, the log tail, counts
    new = write_run(runs, "20260102-000000-0002", {
        "prep": step("prep", "passed", started_at="2026-01-02T00:00:00+00:00", ended_at="2026-01-02T00:00:02+00:00"),
        "train": step("train", "failed", exit_code=1, result_file="train/result.json",
                      started_at="2026-01-02T00:00:02+00:00", ended_at="2026-01-02T00:00:05+00:00",
                      log_tail=["epoch 1", "RuntimeError: the recorded tail"])},
        [check("prep.data -> train.data", "consumer", "FAIL", [failure("amount is text: write it as a number")],
               evaluated=7)],
        schema_version="1.0", started_at="2026-01-02T00:00:00+00:00", ended_at="2026-01-02T00:00:05+00:00")
    write_step_result(new, "train", ["from the log file"], FailureReason="AlgorithmError: read through a relative path")
    (runs / "latest").symlink_to(new.name)   # runs/latest: the same run, not another one
    out = tmp_path / "reports"
    done = generate(runs, out)
    assert done.returncode == 0, done.stderr
    assert "wrote 2 run pages" in done.stdout

    index = (out / "index.html").read_text()
    assert index.count('href="runs/') == 2
    old_page = (out / "runs" / f"{old.name}.html").read_text()
    assert "ValueError: no label column" in old_page        # read from the step's log file
    assert "2026-01-01 0" in old_page                        # times from result.json's describe
    new_page = (out / "runs" / f"{new.name}.html").read_text()
    assert "RuntimeError: the recorded tail" in new_page     # results.json's own tail wins
    assert "from the log file" not in new_page
    assert "read through a relative path" in new_page        # result_file relative to the run folder
    assert 'class="num">6</td><td class="num">1</td>' in new_page   # 7 evaluated: 6 passed, 1 failed
    assert "prep must hand `amount` to train as its suite expects" in new_page   # as test-flow words it
    assert "prep.data -&gt; train.data" in new_page

    done = generate(runs, tmp_path / "last", "--last", "1")
    assert done.returncode == 0 and sorted(p.name for p in (tmp_path / "last" / "runs").glob("*.html")) \
        == [f"{new.name}.html"]


def test_without_graphviz_it_says_how_to_install_it_and_writes_nothing(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "20260101-000000-0001", {"prep": step("prep", "passed")}, status="passed")
    bare = tmp_path / "bin"
    bare.mkdir()
    done = generate(runs, tmp_path / "reports", env={**os.environ, "PATH": str(bare)})
    assert done.returncode == 2
    assert "Graphviz" in done.stderr and "apt-get install graphviz" in done.stderr
    assert not (tmp_path / "reports").exists()


# ----------------------------------------------------------------------------- the real thing

@pytest.mark.docker
def test_report_of_the_broken_handoff_in_a_real_browser(tmp_path, browser):
    shutil.copytree(REPO / "scenarios" / "demo", tmp_path / "demo", ignore=shutil.ignore_patterns("runs"))
    shutil.copytree(REPO / "scenarios" / "broken_handoff", tmp_path / "broken_handoff",
                    ignore=shutil.ignore_patterns("runs"))
    runs = tmp_path / "runs"
    ran = subprocess.run([*CLI, "run-pipeline", str(tmp_path / "broken_handoff" / "dag.yaml"), "--runs-dir",
                          str(runs)], capture_output=True, text=True, timeout=600)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    (run_dir,) = [p for p in runs.iterdir() if (p / "results.json").is_file() and not p.is_symlink()]
    out = tmp_path / "reports"
    done = generate(runs, out)
    assert done.returncode == 0, done.stderr

    page, problems = open_page(browser, out / "runs" / f"{run_dir.name}.html")
    page.wait_for_selector("#timeline .main-svg")            # plotly drew the timeline

    def stroke(producer, consumer):
        return page.evaluate("""([a, b]) => {
            const edge = [...document.querySelectorAll('.dag g.edge')]
                .find(g => g.querySelector('title').textContent === a + '->' + b);
            return edge && getComputedStyle(edge.querySelector('path')).stroke;
        }""", [producer, consumer])

    assert stroke("feature_engineering", "scoring") == RED
    assert stroke("currency_conversion", "risk_table") == GREEN
    fixes = page.inner_text("#failure-1")
    assert "feature_engineering must hand `converted_amount` to scoring" in fixes
    assert "write it as a numeric column" in fixes
    assert "rows of features" in page.inner_text("#failure-1 pre.log")   # feature_engineering's log tail
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "broken_handoff_report.png"), full_page=True)
    assert problems == []
    page.close()

    page, problems = open_page(browser, out / "index.html")
    page.wait_for_selector("#step-duration .main-svg")
    assert page.locator(".js-plotly-plot").count() == 3
    assert problems == []
    page.screenshot(path=str(ARTIFACTS / "broken_handoff_index.png"), full_page=True)
    page.close()
