"""Script unit testing benchmarks, called by bench.py: `report() -> [(label, figure)]`.

- synthetic generation speed: 1,000,000 rows x 10 columns from a suite, in memory and as CSV;
- the whole demo `test-suite` (every script in scenarios/demo/test_scenarios.yaml), as a user
  runs it: a fresh process, real containers, real GX (target: under a minute).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "scenarios" / "demo"
ROWS = 1_000_000
TARGET_SECONDS = 60


def _expect(kind: str, **kwargs) -> dict:
    return {"type": f"expect_{kind}", "kwargs": kwargs}


# Ten columns of every kind synthetic.py generates: ids, ranges, sets, regex, nulls, dates, bools.
SUITE = {"name": "bench", "expectations": [
    _expect("column_values_to_be_unique", column="order_id"),
    _expect("column_values_to_be_in_set", column="marketplace_id", value_set=[1, 2, 3, 4]),
    _expect("column_values_to_be_in_set", column="currency_code", value_set=["USD", "EUR", "GBP"]),
    _expect("column_values_to_not_be_null", column="currency_code", mostly=0.9),
    _expect("column_values_to_be_between", column="amount", min_value=0, max_value=10_000),
    _expect("column_values_to_be_between", column="quantity", min_value=1, max_value=9),
    _expect("column_values_to_be_of_type", column="category", type_="str"),
    _expect("column_values_to_match_regex", column="sku", regex=r"^[A-Z]{3}-\d{4}$"),
    _expect("column_values_to_be_of_type", column="is_gift", type_="bool"),
    _expect("column_values_to_be_between", column="ordered_at", min_value="2024-01-01",
            max_value="2024-12-31"),
    _expect("column_values_to_be_of_type", column="score", type_="float64"),
    _expect("column_values_to_not_be_null", column="score", mostly=0.95),
]}


def bench_generation(work: Path) -> list[tuple[str, str]]:
    from cursus_local.data import synthetic

    synthetic.generate(SUITE, rows=1000, seed=0)   # imports and first-call costs, once
    started = time.perf_counter()
    table = synthetic.generate(SUITE, rows=ROWS, seed=0)
    in_memory = time.perf_counter() - started
    assert table.num_columns == 10 and table.num_rows == ROWS
    started = time.perf_counter()
    synthetic.generate_to(work / "generated", SUITE, ROWS, seed=0)
    as_csv = time.perf_counter() - started
    return [(f"synthetic data, {ROWS:,} rows x 10 columns, in memory",
             f"{ROWS / in_memory:,.0f} rows/s ({in_memory:.2f}s)"),
            (f"synthetic data, {ROWS:,} rows x 10 columns, written as CSV",
             f"{ROWS / as_csv:,.0f} rows/s ({as_csv:.2f}s)")]


def bench_demo_suite(work: Path) -> list[tuple[str, str]]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "cursus_local.cli", "test-suite",
                           "--runs-dir", str(work / "runs")], cwd=DEMO, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    # one file for the invocation, every script's report in it
    reports = [json.loads((work / "runs" / "latest" / "unit_tests.json").read_text())]
    bodies = [b for r in reports for b in (r["script_unit_tests"] if isinstance(r["script_unit_tests"], list)
                                           else [r["script_unit_tests"]])]
    runs = sum(len(b.get(k, {}).get("results", [])) for b in bodies
               for k in ("synthetic_tests", "s3_integration_tests", "performance_tests"))
    runs += sum(2 * len(r.get("data_flow_tests", {}).get("results", [])) for r in reports)
    verdict = "passed" if proc.returncode == 0 else f"exit code {proc.returncode}"
    target = "within" if seconds < TARGET_SECONDS else "OVER"
    return [(f"demo test-suite ({len(bodies)} scripts, {runs} container runs)",
             f"{seconds:.1f}s wall, {verdict} ({target} the {TARGET_SECONDS}s target)")]


def report() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory(prefix="cursus-bench-unit-") as tmp:
        work = Path(tmp)
        return bench_generation(work) + bench_demo_suite(work)


if __name__ == "__main__":
    for label, figure in report():
        print(f"{label:60}  {figure}")
