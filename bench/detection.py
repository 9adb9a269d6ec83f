"""Detection benchmark: do the handoff checks catch what breaks the demo pipeline, and only that?

    .venv/bin/python bench/detection.py [--no-full] [--json FILE]      (make bench-detection)

A catalog of breaks, each applied to one producer's output in the demo pipeline: the producer's
script runs unchanged, then the break changes what it wrote. Harmful breaks must be caught (a
critical handoff check fails, naming the producer, the column or split, and the cause); benign
controls must not fail the run. Two sets of suites:

- drafted: `suggest-suite` on the outputs of two good runs (raw data from this file's generator,
  seeds 1 and 2, with an ISO `order_date` column); the drafted suites are the steps' output
  suites, and no hand-written suite is used;
- own: the demo's own suites (`scenarios/demo/suites`), on the demo's own data (no date column,
  so the date break does not apply).

How a break is applied: every break is checked in-process, on a copy of the good run's output
with the break applied, through the sequencer's own check path (`Sequencer._suites_for` and
`_validate`: every suite the real run checks on that folder, producer and consumer side). The
breaks marked `full` also run the whole pipeline with the producer's script wrapped (its source,
then the break on its output folder, inside its container), and the table shows that the real
run reports the same catch. Controls: column order, an extra column, shuffled rows, two shards, a
marker file, a few rows filtered, and a rerun on new random data from the same generator (a full
run). The drafted suites are given each step's inputs in the good runs, so a step that passes
rows through gets a row ratio, checked (as the sequencer does) against what it read in the run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "scenarios" / "demo"
CLI = str(Path(sys.executable).with_name("cursus-local"))
sys.path.insert(0, str(REPO / "runner"))

TP = ("tabular_preprocessing", "processed_data")
CC = ("currency_conversion", "processed_data")
FE = ("feature_engineering", "features")
RT = ("risk_table", "risk_tables")

# Runs inside the producer's container (its pandas) as well as here: plain pandas and stdlib.
PRELUDE = '''
import gzip, shutil
from pathlib import Path
import pandas as pd

def csvs(folder):
    return sorted(Path(folder).rglob("*.csv"))

def rewrite(folder, change, **to_csv):
    for f in csvs(folder):
        change(pd.read_csv(f)).to_csv(f, index=False, **to_csv)

def set_column(df, column, values):
    df[column] = values
    return df
'''


@dataclass
class Break:
    name: str
    producer: tuple[str, str]
    harmful: bool
    why: str
    code: str                  # defines apply(folder)
    full: bool = False         # also run the whole pipeline with the script wrapped
    needs_date: bool = False


def brk(name, producer, why, code, *, harmful=True, full=False, needs_date=False) -> Break:
    return Break(name, producer, harmful, why, textwrap.dedent(code), full, needs_date)


CATALOG = [
    brk("empty_output", CC, "header only: consumers process 0 rows and exit 0",
        "def apply(f): rewrite(f, lambda df: df.iloc[0:0])", full=True),
    brk("rows_to_a_tenth", CC, "nine rows in ten lost",
        "def apply(f): rewrite(f, lambda df: df.iloc[: len(df) // 10])"),
    brk("split_missing", TP, "val/ gone: nothing downstream validates",
        "def apply(f): shutil.rmtree(Path(f) / 'val')", full=True),
    brk("split_renamed", TP, "train/ renamed training/: risk_table reads train/",
        "def apply(f): (Path(f) / 'train').rename(Path(f) / 'training')"),
    brk("column_dropped", CC, "converted_amount gone: feature_engineering fails",
        "def apply(f): rewrite(f, lambda df: df.drop(columns=['converted_amount']))"),
    brk("column_renamed", CC, "label renamed target: consumers read `label`",
        "def apply(f): rewrite(f, lambda df: df.rename(columns={'label': 'target'}))"),
    brk("amount_as_text", FE, "converted_amount as display text '12.50 USD'",
        "def apply(f): rewrite(f, lambda df: set_column(df, 'converted_amount', "
        "df['converted_amount'].map('{:.2f} USD'.format)))"),
    brk("decimal_comma", CC, "converted_amount written with a decimal comma",
        "def apply(f): rewrite(f, lambda df: set_column(df, 'converted_amount', "
        "df['converted_amount'].map(lambda v: str(v).replace('.', ','))))"),
    brk("nulls_in_amount", CC, "a third of converted_amount missing",
        "def apply(f): rewrite(f, lambda df: set_column(df, 'converted_amount', "
        "df['converted_amount'].where(df.index % 3 != 0)))"),
    brk("probability_x100", RT, "risk in percent: scores 100x too large",
        "def apply(f): rewrite(f, lambda df: set_column(df, 'risk', df['risk'] * 100))"),
    brk("label_minus_one", TP, "0/1 label rewritten -1/1: negative risks",
        "def apply(f): rewrite(f, lambda df: set_column(df, 'label', df['label'].replace(0, -1)))"),
    brk("label_as_text", TP, "label as yes/no: the risk table's mean fails",
        "def apply(f): rewrite(f, lambda df: set_column(df, 'label', "
        "df['label'].map({0: 'no', 1: 'yes'})))"),
    brk("unseen_category", FE, "a category the risk table never saw: null risk in scoring",
        "def apply(f): rewrite(f, lambda df: set_column(df, 'category', "
        "df['category'].where(df.index % 5 != 0, 'electronics')))", full=True),
    brk("date_format_changed", CC, "order_date ISO -> MM/DD/YYYY",
        "def apply(f): rewrite(f, lambda df: set_column(df, 'order_date', "
        "pd.to_datetime(df['order_date']).dt.strftime('%m/%d/%Y')))", needs_date=True),
    brk("amount_negative", CC, "converted_amount sign flipped: log1p fails",
        "def apply(f): rewrite(f, lambda df: set_column(df, 'converted_amount', "
        "-df['converted_amount']))"),
    brk("amount_in_cents", CC, "converted_amount in cents: 100x",
        "def apply(f): rewrite(f, lambda df: set_column(df, 'converted_amount', "
        "df['converted_amount'] * 100))"),
    brk("quantity_zero", CC, "zero quantities: amount_per_item becomes inf",
        "def apply(f): rewrite(f, lambda df: set_column(df, 'quantity', "
        "df['quantity'].where(df.index % 4 != 0, 0)))"),
    brk("shard_written_twice", FE, "every row twice: duplicated order ids",
        "def apply(f):\n    for c in csvs(f): shutil.copy(c, c.with_name('part-00001.csv'))"),
    brk("utf16_file", CC, "UTF-16 CSV: pandas.read_csv fails",
        "def apply(f): rewrite(f, lambda df: df, encoding='utf-16')", full=True),
    brk("latin1_text", CC, "a Latin-1 text column: pandas.read_csv fails on UTF-8",
        "def apply(f): rewrite(f, lambda df: set_column(df, 'note', 'réduction'), "
        "encoding='latin-1')"),
    brk("renamed_without_extension", CC, "part-00000.csv -> part-00000: glob('*.csv') finds nothing",
        "def apply(f):\n    for c in csvs(f): c.rename(c.with_suffix(''))"),
    brk("semicolon_delimiter", CC, "';' as delimiter: one column to pandas",
        "def apply(f): rewrite(f, lambda df: df, sep=';')"),
    brk("gzip_named_csv", CC, "gzip bytes in part-00000.csv: read_csv goes by the name",
        "def apply(f):\n    for c in csvs(f): c.write_bytes(gzip.compress(c.read_bytes()))"),
    brk("header_missing", CC, "no header line: columns read as data",
        "def apply(f): rewrite(f, lambda df: df, header=False)"),
    brk("truncated_file", CC, "file cut mid-row",
        "def apply(f):\n    for c in csvs(f): c.write_bytes(c.read_bytes()[: c.stat().st_size // 2 + 3])"),
    brk("parquet_instead_of_csv", CC, "written as Parquet: glob('*.csv') finds nothing",
        "def apply(f):\n    for c in csvs(f):\n        pd.read_csv(c).to_parquet(c.with_suffix('.parquet'))\n"
        "        c.unlink()"),
    brk("category_all_null", FE, "category empty: every risk null",
        "def apply(f): rewrite(f, lambda df: set_column(df, 'category', None))"),
    brk("risk_table_row_lost", RT, "a category missing from the risk table: its rows get the mean",
        "def apply(f): rewrite(f, lambda df: df.iloc[1:])"),
    brk("rows_dropped_30pct", CC, "a pass-through step loses 3 rows in 10 (every split kept, "
        "above its floor): only the row ratio to its input sees it",
        "def apply(f): rewrite(f, lambda df: df.iloc[: len(df) * 7 // 10])", full=True),
    # benign controls: consumers read columns by name and concatenate every *.csv
    brk("column_reorder", CC, "columns in another order", harmful=False, full=True,
        code="def apply(f): rewrite(f, lambda df: df[list(reversed(df.columns))])"),
    brk("extra_column", CC, "one extra column", harmful=False,
        code="def apply(f): rewrite(f, lambda df: set_column(df, 'batch_id', 7))"),
    brk("rows_shuffled", CC, "rows in another order", harmful=False,
        code="def apply(f): rewrite(f, lambda df: df.sample(frac=1.0, random_state=1))"),
    brk("two_shards", CC, "each split in two files", harmful=False,
        code="def apply(f):\n    for c in csvs(f):\n        df = pd.read_csv(c)\n"
             "        df.iloc[: len(df) // 2].to_csv(c, index=False)\n"
             "        df.iloc[len(df) // 2:].to_csv(c.with_name('part-00001.csv'), index=False)"),
    brk("success_marker", CC, "a _SUCCESS marker beside the data", harmful=False,
        code="def apply(f):\n    for c in csvs(f): c.with_name('_SUCCESS').write_text('')"),
    brk("few_rows_filtered", CC, "a cleaning rule drops 1 row in 50: within the step's ratio",
        harmful=False, code="def apply(f): rewrite(f, lambda df: df[df.index % 50 != 0])"),
]
NEW_DATA = "new_random_data"   # the benign control that reruns on a new generator seed


def raw_data(seed: int, rows: int = 600, with_date: bool = True) -> pd.DataFrame:
    """Raw orders like the demo's data/raw, from a seeded generator."""
    rng = np.random.default_rng(seed)
    currency = rng.choice(["USD", "EUR", "GBP", "JPY"], rows, p=[0.41, 0.29, 0.19, 0.11]).astype(object)
    currency[rng.random(rows) < 0.033] = None
    df = pd.DataFrame({
        "order_id": np.arange(1, rows + 1),
        "marketplace_id": rng.integers(1, 5, rows),
        "currency_code": currency,
        "amount": np.clip(rng.lognormal(4.0, 0.75, rows), 1, None).round(2),
        "quantity": rng.integers(1, 10, rows),
        "category": rng.choice(["books", "toys", "garden", "tools"], rows),
        "label": (rng.random(rows) < 0.22).astype(int),
    })
    if with_date:
        df["order_date"] = (np.datetime64("2024-01-01") + rng.integers(0, 366, rows)
                            .astype("timedelta64[D]")).astype(str)
    return df


def write_raw(df: pd.DataFrame, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    half = len(df) // 2
    df.iloc[:half].to_csv(folder / "part-00000.csv", index=False)
    df.iloc[half:].to_csv(folder / "part-00001.csv", index=False)
    return folder


# ---------------------------------------------------------------- scenario copies and runs


def copy_demo(dest: Path) -> Path:
    shutil.copytree(DEMO, dest, ignore=shutil.ignore_patterns("runs", "__pycache__"))
    return dest


def set_suites(scenario: Path, suites: dict[str, dict] | None) -> None:
    """Each step file's suites: {node: {"outputs": {...}}}; None keeps the demo's own."""
    if suites is None:
        return
    for step_file in (scenario / "steps").glob("*.step.yaml"):
        doc = yaml.safe_load(step_file.read_text())
        node = step_file.name.removesuffix(".step.yaml")
        doc.pop("suites", None)
        if suites.get(node):
            doc["suites"] = suites[node]
        step_file.write_text(yaml.safe_dump(doc, sort_keys=False))


def run_pipeline(scenario: Path, runs: Path, raw: Path | None = None) -> dict:
    args = [CLI, "run-pipeline", str(scenario / "dag.yaml"), "--runs-dir", str(runs), "--jobs", "2"]
    if raw is not None:
        args += ["--input", f"tabular_preprocessing.DATA={raw}"]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode == 2:
        raise SystemExit(f"run-pipeline refused its input:\n{done.stderr}")
    found = sorted(runs.glob("2*/results.json"), key=lambda p: p.stat().st_mtime)   # not runs/latest
    from cursus_local.results import read_run_file
    return read_run_file(found[-1])   # paths made absolute again


def output_of(result: dict, producer: tuple[str, str]) -> Path:
    return Path(result["steps"][producer[0]]["outputs"][producer[1]])


def inputs_of(result: dict, node: str, scenario: Path) -> dict[str, Path]:
    """The data inputs (not the code) a step read in a run, from its result.json."""
    contract = yaml.safe_load((scenario / "steps" / f"{node}.step.yaml").read_text())["contract"]
    read = json.loads(Path(result["steps"][node]["result_file"]).read_text())["inputs"]
    return {name: Path(path) for name, path in read.items() if name in contract["inputs"]}


def draft_suites(good: list[dict], folder: Path, scenario: Path) -> dict[str, dict]:
    """suggest-suite on every step output of the good runs, given the step's inputs in each run
    (for a row ratio), as the steps' output suites."""
    from cursus_local.data.suggest import suggest_suite, write_suite

    suites: dict[str, dict] = {}
    for node, step in good[0]["steps"].items():
        inputs = [inputs_of(run, node, scenario) for run in good]
        for output in step["outputs"]:
            paths = [Path(run["steps"][node]["outputs"][output]) for run in good]
            path = write_suite(suggest_suite(paths, name=f"{node}.{output}", inputs=inputs),
                               folder / f"{node}.{output}.json")
            suites.setdefault(node, {"outputs": {}})["outputs"][output] = str(path)
    return suites


def wrapped_script(scenario: Path, b: Break) -> None:
    """The producer's script, then the break on its output folder (inside its container)."""
    node, output = b.producer
    step = yaml.safe_load((scenario / "steps" / f"{node}.step.yaml").read_text())
    script = scenario / "scripts" / step["contract"]["entry_point"]
    target = step["contract"]["outputs"][output]["path"]
    script.write_text(script.read_text() + "\n\n# detection bench: the script ran; now its output "
                      f"breaks ({b.name})\n" + PRELUDE + b.code + f"\napply({target!r})\n")


# ---------------------------------------------------------------- checking a broken output


def apply_break(b: Break, folder: Path) -> None:
    scope: dict = {}
    exec(PRELUDE + b.code, scope)   # noqa: S102 - the catalog's own code
    scope["apply"](folder)


class Checker:
    """The checks the sequencer runs on one producer output, by its own code path."""

    def __init__(self, scenario: Path, work: Path):
        from cursus_local.pipeline.dag import load_dag
        from cursus_local.pipeline.preflight import plan
        from cursus_local.pipeline.sequencer import Sequencer

        self.dag = load_dag(scenario / "dag.yaml")
        self.seq = Sequencer(self.dag, None, runs_dir=work / "runs", use_cache=False)
        self.seq.plan = plan(self.dag, work / "runs" / "plan")

    def check(self, producer: tuple[str, str], folder: Path, inputs: dict[str, Path]) -> list:
        """`inputs`: what the producer read in the run (for its output suites' row ratio)."""
        from cursus_local.data.layout_checks import StepInputs

        node, output = producer
        read = StepInputs(node, inputs)   # as `_check_outputs` hands them: producer side only
        todo = [(*t, read) for t in self.seq._suites_for(self.dag.nodes[node], output, "producer")]
        for c in self.seq.plan.report.connections:
            if (c.upstream, c.output) == producer:
                todo += [(*t, None) for t in
                         self.seq._suites_for(self.dag.nodes[c.downstream], c.input, "consumer")]
        self.seq.handoffs.clear()
        return [self.seq._validate(label, suite, side, folder, step_inputs)
                for label, suite, side, step_inputs in todo]


def verdict_of(handoffs: list) -> tuple[bool, str, int]:
    """(caught, what the first critical failure says, warnings) of a list of HandoffChecks/dicts."""
    as_dicts = [h if isinstance(h, dict) else h.__dict__ for h in handoffs]
    warnings = sum(1 for h in as_dicts for f in h["failures"] if f["severity"] != "critical")
    for h in as_dicts:
        if h["blocking"]:
            f = next(f for f in h["failures"] if f["severity"] == "critical")
            where = "/".join(x for x in (f.get("split"), f.get("column")) if x)
            return True, f"{h['connection']} [{h['side']}] {where}: {f['message'][:110]}", warnings
    return False, "", warnings


@dataclass
class Mode:
    name: str
    scenario: Path
    runs: Path
    base: dict
    raw: Path | None
    with_date: bool
    checker: Checker = field(init=False)


def prepare(name: str, work: Path, drafted: bool) -> Mode:
    scenario = copy_demo(work / name / "demo")
    runs = work / name / "runs"
    if drafted:
        set_suites(scenario, {})   # good runs with no suites at all
        good = [run_pipeline(scenario, runs, write_raw(raw_data(seed), work / name / f"raw{seed}"))
                for seed in (1, 2)]
        set_suites(scenario, draft_suites(good, work / name / "suites", scenario))
        raw = work / name / "raw1"
    else:
        raw = None
    base = run_pipeline(scenario, runs, raw)
    mode = Mode(name, scenario, runs, base, raw, drafted)
    mode.checker = Checker(scenario, work / name)
    return mode


def evaluate(mode: Mode, b: Break, work: Path, full: bool) -> dict:
    row = {"break": b.name, "harmful": b.harmful, "producer": ".".join(b.producer)}
    if b.needs_date and not mode.with_date:
        return {**row, "applies": False}
    folder = work / mode.name / "broken" / b.name
    shutil.copytree(output_of(mode.base, b.producer), folder)
    apply_break(b, folder)
    caught, message, warnings = verdict_of(mode.checker.check(
        b.producer, folder, inputs_of(mode.base, b.producer[0], mode.scenario)))
    row.update(applies=True, caught=caught, message=message, warnings=warnings)
    if full and b.full:
        scenario = copy_demo(work / mode.name / f"full-{b.name}")
        shutil.copytree(mode.scenario / "steps", scenario / "steps", dirs_exist_ok=True)
        wrapped_script(scenario, b)
        result = run_pipeline(scenario, mode.runs, mode.raw)
        row["full_caught"], row["full_message"], _ = verdict_of(result["handoffs"])
        row["full_status"] = result["status"]
    return row


def new_data_control(mode: Mode, work: Path) -> dict:
    raw = write_raw(raw_data(3, with_date=mode.with_date), work / mode.name / "raw3")
    result = run_pipeline(mode.scenario, mode.runs, raw)
    caught, message, warnings = verdict_of(result["handoffs"])
    return {"break": NEW_DATA, "harmful": False, "producer": "(all steps, full run)",
            "applies": True, "caught": caught or result["status"] != "passed",
            "message": message or ("" if result["status"] == "passed" else result["status"]),
            "warnings": warnings, "full_caught": caught, "full_status": result["status"]}


def report(mode: Mode, rows: list[dict]) -> dict:
    harmful = [r for r in rows if r["applies"] and r["harmful"]]
    benign = [r for r in rows if r["applies"] and not r["harmful"]]
    caught = sum(r["caught"] for r in harmful)
    alarms = sum(r["caught"] for r in benign)
    print(f"\n== suites: {mode.name} (baseline run: {mode.base['status']})")
    print(f"{'break':28} {'producer':37} {'result':13} {'full run':9} first critical failure")
    for r in rows:
        if not r["applies"]:
            print(f"{r['break']:28} {r['producer']:37} {'n/a':13}")
            continue
        result = ("caught" if r["caught"] else "MISSED") if r["harmful"] else (
            "FALSE ALARM" if r["caught"] else "ok")
        full = ("" if "full_caught" not in r else "caught" if r["full_caught"] else
                r["full_status"])
        print(f"{r['break']:28} {r['producer']:37} {result:13} {full:9} {r['message']}")
        if r.get("full_caught") and r.get("full_message") != r["message"]:
            print(f"{'':90}full run: {r['full_message']}")
    print(f"harmful caught: {caught}/{len(harmful)} ({100 * caught / max(len(harmful), 1):.1f}%)   "
          f"false alarms: {alarms}/{len(benign)}")
    return {"suites": mode.name, "baseline": mode.base["status"], "rows": rows,
            "harmful_caught": caught, "harmful": len(harmful), "false_alarms": alarms,
            "benign": len(benign)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-full", action="store_true", help="in-process checks only (no wrapped runs)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--only", choices=("drafted", "own"), help="one set of suites")
    args = parser.parse_args()
    started = time.perf_counter()
    summaries = []
    with tempfile.TemporaryDirectory(prefix="cursus-detection-") as tmp:
        work = Path(tmp)
        for name in ("drafted", "own"):
            if args.only and name != args.only:
                continue
            t0 = time.perf_counter()
            mode = prepare(name, work, drafted=name == "drafted")
            prepared = time.perf_counter() - t0
            rows = [evaluate(mode, b, work, not args.no_full) for b in CATALOG]
            rows.append(new_data_control(mode, work))
            summary = report(mode, rows)
            summary["seconds"] = round(time.perf_counter() - t0, 1)
            print(f"time: {summary['seconds']} s ({prepared:.1f} s for the good and baseline runs)")
            summaries.append(summary)
    total = time.perf_counter() - started
    print(f"\ntotal time: {total:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"modes": summaries, "seconds": round(total, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
