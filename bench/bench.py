"""Benchmarks (not tests): wall time of cursus-local against bare `docker run`, and more.

    .venv/bin/python bench/bench.py [--repeat 3] [--rows 1000000] [--only step|pipeline|e2e|checks|unit|cache|report|sagemaker]

Each figure is the median of --repeat runs, measured in this same run, on this machine.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
IMAGE = "cursus-local/sklearn-processing:1.2-1"
CLI = [str(Path(sys.executable).with_name("cursus-local"))]
DOCKER = shutil.which("docker") or "docker"

TRIVIAL = "print('ok')\n"
LARGE = """
    import pandas as pd
    from pathlib import Path
    df = pd.read_csv("/opt/ml/processing/input/data/data.csv")
    df["converted_amount"] = df["amount"] * 1.08
    df.to_csv("/opt/ml/processing/output/part-00000.csv", index=False)
    print(len(df), "rows")
"""


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_time(cmd: list[str], repeat: int) -> float:
    return statistics.median(timed(cmd) for _ in range(repeat))


def make_step(folder: Path, name: str, script: str) -> Path:
    (folder / "code").mkdir(parents=True)
    (folder / "code" / f"{name}.py").write_text(textwrap.dedent(script))
    (folder / "data").mkdir()
    (folder / "out").mkdir()
    step = folder / f"{name}.step.yaml"
    step.write_text(textwrap.dedent(f"""\
        contract:
          entry_point: {name}.py
          inputs: {{data: {{path: /opt/ml/processing/input/data}}}}
          outputs: {{out: {{path: /opt/ml/processing/output}}}}
        local: {{code: code, inputs: {{data: data}}, outputs: {{out: out}}}}
        """))
    return step


def bench_step(work: Path, name: str, script: str, repeat: int, rows: int = 0) -> tuple[float, float]:
    folder = work / name
    step = make_step(folder, name, script)
    if rows:
        rng = np.random.default_rng(0)
        pd.DataFrame({"id": np.arange(rows), "amount": rng.gamma(2, 40, rows).round(2),
                      "currency_code": rng.choice(["USD", "EUR", "GBP"], rows)}).to_csv(
            folder / "data" / "data.csv", index=False)
    ours = CLI + ["run-step", str(step), "--quiet", "--runs-dir", str(folder / "runs")]
    bare = [DOCKER, "run", "--rm",
            "-v", f"{folder / 'code'}:/opt/ml/processing/input/code:ro",
            "-v", f"{folder / 'data'}:/opt/ml/processing/input/data:ro",
            "-v", f"{folder / 'out'}:/opt/ml/processing/output",
            "--entrypoint", "python3", IMAGE, f"/opt/ml/processing/input/code/{name}.py"]
    timed(bare)   # warm the page cache and the image layers for both
    return median_time(ours, repeat), median_time(bare, repeat)


def run_pipeline(dag: Path, *args: str) -> tuple[float, dict]:
    start = time.perf_counter()
    subprocess.run(CLI + ["run-pipeline", str(dag), *args], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    runs = Path(args[args.index("--runs-dir") + 1]) if "--runs-dir" in args else dag.parent / "runs"
    latest = max(runs.glob("2*/results.json"), key=lambda p: p.stat().st_mtime)
    from cursus_local.results import read_run_file
    return seconds, read_run_file(latest)   # paths made absolute again


def scaled_demo(work: Path, rows: int) -> Path:
    """A copy of the demo scenario whose raw input has `rows` rows (same distribution)."""
    folder = work / f"demo-{rows}"
    shutil.copytree(REPO / "scenarios" / "demo", folder, ignore=shutil.ignore_patterns("runs"))
    raw = pd.concat([pd.read_csv(f) for f in sorted((folder / "data" / "raw").glob("*.csv"))])
    big = raw.sample(n=rows, replace=True, random_state=0).reset_index(drop=True)
    big["order_id"] = np.arange(1, rows + 1)
    for old in (folder / "data" / "raw").glob("*.csv"):
        old.unlink()
    big.to_csv(folder / "data" / "raw" / "part-00000.csv", index=False)
    return folder / "dag.yaml"


def bare_chain(dag_file: Path, run_dir: Path) -> list[list[str]]:
    """The same jobs as `run-pipeline --jobs 1`, as plain `docker run`s in DAG order: each built
    from its node's request (image, mounts, env, entrypoint, arguments) by the same preflight."""
    from cursus_local.pipeline.dag import load_dag
    from cursus_local.pipeline.preflight import plan

    dag = load_dag(dag_file)
    jobs = plan(dag, run_dir).jobs
    commands = []
    for node in dag.topological_order():
        job, request = jobs[node], jobs[node].request
        cmd = [DOCKER, "run", "--rm"]
        for item in request["ProcessingInputs"]:
            source, target = job.local_inputs[item["InputName"]], item["S3Input"]["LocalPath"]
            if source.is_file():   # one S3 object lands as LocalPath/<its name>
                target = f"{target.rstrip('/')}/{source.name}"
            cmd += ["-v", f"{source}:{target}:ro"]
        for out in request["ProcessingOutputConfig"]["Outputs"]:
            job.local_outputs[out["OutputName"]].mkdir(parents=True, exist_ok=True)
            cmd += ["-v", f"{job.local_outputs[out['OutputName']]}:{out['S3Output']['LocalPath']}"]
        for key, value in request["Environment"].items():
            cmd += ["-e", f"{key}={value}"]
        entrypoint = request["AppSpecification"]["ContainerEntrypoint"]
        cmd += ["--entrypoint", entrypoint[0], request["AppSpecification"]["ImageUri"], *entrypoint[1:],
                *request["AppSpecification"].get("ContainerArguments", [])]
        commands.append(cmd)
    return commands


def bench_chain(work: Path, repeat: int) -> list[tuple[str, str]]:
    """The demo pipeline (cold, --jobs 1, checks included) against the bare chain of its jobs."""
    dag = shutil.copytree(REPO / "scenarios" / "demo", work / "demo-chain",
                          ignore=shutil.ignore_patterns("runs")) / "dag.yaml"

    def bare():
        run_dir = Path(tempfile.mkdtemp(dir=work))
        start = time.perf_counter()
        for cmd in bare_chain(dag, run_dir):
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    bare()   # warm the page cache for both
    ours = statistics.median(run_pipeline(dag, "--no-cache", "--jobs", "1")[0] for _ in range(repeat))
    plain = statistics.median(bare() for _ in range(repeat))
    return [("demo pipeline vs bare docker run chain, --jobs 1",
             f"{ours:.2f}s vs {plain:.2f}s (ratio {ours / plain:.2f})")]


E2E = REPO / "scenarios" / "cursus_e2e"


def bench_e2e(work: Path, repeat: int) -> list[tuple[str, str]]:
    """Cursus's e2e DAG (scenarios/cursus_e2e), cold and cached; then its Training step through
    `run-step` against a bare `docker run` of the same script, image, channels and hyperparameters
    (the bare run also tars /opt/ml/model, as the service does)."""
    if not (REPO.parent / "shared" / "cursus").is_dir():
        return [("cursus e2e", "skipped: ../shared/cursus is not beside this repo")]
    runs = work / "e2e-runs"
    cold, first = run_pipeline(E2E / "dag.yaml", "--no-cache", "--jobs", "2", "--runs-dir", str(runs))
    cached, again = run_pipeline(E2E / "dag.yaml", "--jobs", "2", "--runs-dir", str(runs))
    ran = {s["status"] for s in again["steps"].values()}
    assert first["status"] == again["status"] == "passed" and ran <= {"cached", "skipped"}, ran

    from cursus_local.jobs.contracts import load_step
    from cursus_local.jobs.processing import RunOptions
    from cursus_local.jobs.training import build_training_job, split_hyperparameters, to_cmd_args

    interface = REPO.parent / "shared" / "cursus" / "interfaces" / "xgboost_training.step.yaml"
    data = first["steps"]["TabularPreprocessing_training"]["outputs"]["processed_data"]
    bound = {"input_path": data, "hyperparameters_s3_uri": str(E2E / "hyperparams" / "hyperparameters.json")}
    ours = CLI + ["run-step", str(interface), "--quiet", "--code", str(E2E / "scripts"),
                  "--job-arg", "job_type=training", "--runs-dir", str(work / "train-runs"),
                  *[f"--input={k}={v}" for k, v in bound.items()]]
    job = build_training_job(load_step(interface), RunOptions(
        inputs=bound, job_arguments={"job_type": "training"}, code_dir=str(E2E / "scripts")), work / "t")
    model = work / "bare-model"
    model.mkdir()
    hyper = split_hyperparameters(job.request)[0]   # decoded, as the toolkit passes them
    code = shutil.copytree(E2E / "scripts", work / "bare-code")   # the code folder as the SDK ships it
    shutil.copytree(E2E / "hyperparams", code / "hyperparams")
    bare = [DOCKER, "run", "--rm", "-w", "/opt/ml/code", "-v", f"{code}:/opt/ml/code:ro",
            "-v", f"{model}:/opt/ml/model", "-e", "SM_MODEL_DIR=/opt/ml/model"]
    for channel in job.channels:
        bare += ["-v", f"{job.channel_source(channel)}:/opt/ml/input/data/{channel}:ro",
                 "-e", f"SM_CHANNEL_{channel.upper()}=/opt/ml/input/data/{channel}"]
    bare += [job.image, "sh", "-c", f"python3 {job.entry_point} {' '.join(map(shlex.quote, to_cmd_args(hyper)))}"
             " && tar -czf /tmp/model.tar.gz -C /opt/ml/model . && mv /tmp/model.tar.gz /opt/ml/model/"]
    timed(bare)   # warm both
    train_ours, train_bare = median_time(ours, repeat), median_time(bare, repeat)
    return [("cursus e2e (9 steps, Training included), --jobs 2: cold", f"{cold:.2f}s"),
            ("cursus e2e: cached", f"{cached:.2f}s"),
            ("training step: run-step vs bare docker run", f"{train_ours:.2f}s vs {train_bare:.2f}s "
             f"(+{train_ours - train_bare:.2f}s, ratio {train_ours / train_bare:.2f})")]


def bench_pipeline(work: Path, rows: int) -> list[tuple[str, str]]:
    out = []
    for label, dag in (("demo pipeline (600 rows)", shutil.copytree(
            REPO / "scenarios" / "demo", work / "demo", ignore=shutil.ignore_patterns("runs")) / "dag.yaml"),
            (f"demo pipeline ({rows:,} rows)", scaled_demo(work, rows))):
        cold1, r1 = run_pipeline(dag, "--no-cache", "--jobs", "1")
        cold2, r2 = run_pipeline(dag, "--no-cache", "--jobs", "2")
        cached, r3 = run_pipeline(dag, "--jobs", "2")
        assert {s["status"] for s in r3["steps"].values()} == {"cached"}, r3["steps"]
        def branch(r):   # wall time from the first branch step's start to the last one's end
            spans = [json.loads(Path(r["steps"][n]["result_file"]).read_text())["describe"]
                     for n in ("feature_engineering", "risk_table")]
            start = min(datetime.fromisoformat(d["ProcessingStartTime"]) for d in spans)
            end = max(datetime.fromisoformat(d["ProcessingEndTime"]) for d in spans)
            return (end - start).total_seconds()
        out += [(f"{label}: cold, --jobs 1", f"{cold1:.2f}s"),
                (f"{label}: cold, --jobs 2", f"{cold2:.2f}s (speed-up x{cold1 / cold2:.2f})"),
                (f"{label}: cached", f"{cached:.2f}s"),
                (f"{label}: the two branches, wall", f"{branch(r1):.2f}s with --jobs 1, "
                 f"{branch(r2):.2f}s with --jobs 2 (x{branch(r1) / branch(r2):.2f})"),
                (f"{label}: bytes copied between steps", f"{r1['bytes_copied'] + r2['bytes_copied'] + r3['bytes_copied']}")]
    return out


def bench_checks(work: Path, rows: int) -> list[tuple[str, str]]:
    from cursus_local.data import checks
    folder = work / "checks"
    folder.mkdir()
    rng = np.random.default_rng(0)
    pd.DataFrame({"order_id": np.arange(rows), "marketplace_id": rng.integers(1, 5, rows),
                  "currency_code": rng.choice(["USD", "EUR", "GBP", "JPY"], rows),
                  "amount": rng.gamma(2, 40, rows).round(2), "quantity": rng.integers(1, 10, rows),
                  "category": rng.choice(["books", "toys", "garden", "tools"], rows),
                  "label": rng.integers(0, 2, rows), "converted_amount": rng.gamma(2, 40, rows).round(2),
                  }).to_csv(folder / "part-00000.csv", index=False)
    suite = REPO / "scenarios" / "demo" / "suites" / "currency_conversion.processed_data.json"
    checks.validate(suite, folder, max_rows=1000)          # GX import and context, once
    full = checks.validate(suite, folder, max_rows=None)
    sampled = checks.validate(suite, folder)
    n = len(checks.load_suite(suite)["expectations"])
    return [(f"GX check, {rows:,} rows, {n} expectations, all rows",
             f"read {full.read_seconds:.2f}s + validate {full.validate_seconds:.2f}s"),
            (f"GX check, {rows:,} rows, default sample ({sampled.sample_rows:,} rows)",
             f"read {sampled.read_seconds:.2f}s + validate {sampled.validate_seconds:.2f}s")]


def bench_cache(work: Path, files: int = 20_000, size: int = 100_000) -> list[tuple[str, str]]:
    """The step cache's seal on a 2 GB, 20,000-file output: what it costs to record (once, when the
    step completes), to check (each time the output is reused) and to serve from cache, against
    reading the whole output (what a cache key of it costs) and copying it (the rejected way).
    Each figure starts from a process that has read nothing (the digests it keeps are cleared)."""
    from cursus_local.pipeline import cache

    step = work / "cache" / "run-1" / "step"
    output = step / "output" / "data"
    block = np.random.default_rng(0).bytes(size)
    for i in range(files):
        path = output / f"part-{i // 1000:02d}" / f"{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(i.to_bytes(8, "little") + block[8:])
    total = files * size

    def clock(action) -> float:
        cache.DIGESTS.clear()
        start = time.perf_counter()
        action()
        return time.perf_counter() - start

    key_cold = clock(lambda: cache.tree_hash(output))
    seal_make = clock(lambda: cache.Seal.make(step, "key", "run-1", {"data": output}).save(step))
    cache.DIGESTS.clear()
    cache.Seal.make(step, "key", "run-1", {"data": output})      # as in a run: the seal, then the key
    start = time.perf_counter()
    cache.tree_hash(output)
    key_after_seal = time.perf_counter() - start
    verify = clock(lambda: cache.Seal.load(step).verify(step, "step"))
    serve = clock(lambda: cache.Seal.load(step).link(step, work / "cache" / "run-2" / "step", "step"))
    shutil.rmtree(work / "cache" / "run-2")      # a link removed: every file's ctime changed
    reread = clock(lambda: cache.Seal.load(step).verify(step, "step"))
    copy = clock(lambda: shutil.copytree(step, work / "cache" / "run-3" / "step"))
    shutil.rmtree(work / "cache")
    label = f"cache, {total / 1e9:.1f} GB in {files:,} files"
    return [(f"{label}: cache key, read in full (as before the seal)", f"{key_cold:.2f}s"),
            (f"{label}: seal when the step completes (reads it once)", f"{seal_make:.2f}s"),
            (f"{label}: cache key after the seal (stat only)", f"{key_after_seal:.2f}s"),
            (f"{label}: check before reuse (stat only, resume)", f"{verify:.2f}s"),
            (f"{label}: serve from cache (check + hard link + reseal)", f"{serve:.2f}s"),
            (f"{label}: check after a link elsewhere changed every ctime (re-read)", f"{reread:.2f}s"),
            (f"{label}: a copy instead of links (not done)", f"{copy:.2f}s")]


def bench_report(work: Path, count: int = 100) -> list[tuple[str, str]]:
    """generate-report over `count` runs: copies (hard links, a results.json of their own) of one real
    run of scenarios/demo and one of scenarios/broken_handoff, alternating, a minute apart."""
    import os

    source = work / "report-src"
    for name in ("demo", "broken_handoff"):
        run_pipeline(REPO / "scenarios" / name / "dag.yaml", "--runs-dir", str(source))
    originals = sorted(p.parent for p in source.glob("2*/results.json"))
    runs = work / "report-runs"
    for i in range(count):
        original = originals[i % len(originals)]
        run_id = f"20260101-{i // 60:02d}{i % 60:02d}00-{i:04x}"
        shutil.copytree(original, runs / run_id, copy_function=os.link)
        doc = json.loads((original / "results.json").read_text())
        (runs / run_id / "results.json").unlink()
        (runs / run_id / "results.json").write_text(json.dumps({**doc, "run_id": run_id, "started_at": None}))
    out = work / "report-out"
    seconds = timed([*CLI, "generate-report", "--runs", str(runs), "--out", str(out)])
    pages = list(out.rglob("*.html"))
    size = sum(p.stat().st_size for p in pages)
    return [(f"generate-report, {count} runs ({len(pages)} pages, {size / 1e6:.1f} MB + plotly.js once)",
             f"{seconds:.2f}s")]


def bench_sagemaker(work: Path, repeat: int, files: int = 5_000, size: int = 1_024) -> list[tuple[str, str]]:
    """--backend sagemaker against a moto server on loopback (S3 and SageMaker APIs over HTTP):
    content-addressed uploads of many small files (first time, then all found in S3), and the time
    from `cursus-local run-step` starting to CreateProcessingJob (moto's CreationTime, same clock)."""
    import os

    import boto3
    sys.path.insert(0, str(Path(__file__).parent))
    from s3 import moto_server

    from cursus_local.backends.sagemaker import SageMakerBackend, Uploads

    proc, port = moto_server()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "CURSUS_LOCAL_CACHE": str(work / "cache")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        boto3.client("s3").create_bucket(Bucket="bench")
        folder = work / "small-files"
        block = np.random.default_rng(0).bytes(size)
        for i in range(files):
            path = folder / f"part-{i // 500:02d}" / f"{i:05d}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(i.to_bytes(8, "little") + block[8:])
        backend = SageMakerBackend("arn:aws:iam::123456789012:role/bench", "bench")
        first, again = Uploads(), Uploads()
        start = time.perf_counter()
        backend.upload(folder, first)
        upload_s = time.perf_counter() - start
        start = time.perf_counter()
        backend.upload(folder, again)
        skip_s = time.perf_counter() - start
        assert first.files == files and again.files == 0
        sm = boto3.client("sagemaker")
        to_create, whole = [], []
        for i in range(repeat):
            runs = work / f"sm-runs-{i}"
            began = time.time()
            subprocess.run([*CLI, "run-step", "currency_conversion", "--backend", "sagemaker", "--bucket", "bench",
                            "--role", "arn:aws:iam::123456789012:role/bench", "--runs-dir", str(runs), "-q"],
                           cwd=REPO / "scenarios" / "demo", env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            whole.append(time.time() - began)
            [result] = runs.glob("*/currency_conversion/result.json")
            name = json.loads(result.read_text())["job_name"]
            created = sm.describe_processing_job(ProcessingJobName=name)["CreationTime"].timestamp()
            to_create.append(created - began)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(10)
    label = f"sagemaker (moto), {files:,} files of {size} B"
    return [(f"{label}: first upload", f"{files / upload_s:,.0f} files/s ({upload_s:.2f}s)"),
            (f"{label}: again (all found in S3, 0 bytes sent)", f"{files / skip_s:,.0f} files/s ({skip_s:.2f}s)"),
            ("sagemaker (moto): run-step start -> CreateProcessingJob (demo step, 2nd+ run uploads 0 B)",
             f"{statistics.median(to_create):.2f}s (whole command {statistics.median(whole):.2f}s)")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pipeline-rows", type=int, default=300_000)
    parser.add_argument("--only", choices=["step", "pipeline", "e2e", "checks", "unit", "cache", "report",
                                           "sagemaker"],
                        action="append")
    args = parser.parse_args()
    wanted = set(args.only or ["step", "pipeline", "e2e", "checks", "unit", "cache", "report", "sagemaker"])
    print(f"cursus-local benchmarks (median of {args.repeat}; docker CLI: {DOCKER})\n")
    with tempfile.TemporaryDirectory(prefix="cursus-bench-") as tmp:
        work = Path(tmp)
        if "step" in wanted:
            rows = [("trivial step", *bench_step(work, "trivial", TRIVIAL, args.repeat)),
                    (f"{args.rows:,}-row CSV step", *bench_step(work, "large", LARGE, args.repeat, args.rows))]
            print(f"{'run-step':28} {'cursus-local':>13} {'docker run':>11} {'overhead':>9} {'ratio':>6}")
            for label, ours, bare in rows:
                print(f"{label:28} {ours:12.2f}s {bare:10.2f}s {ours - bare:+8.2f}s {ours / bare:6.2f}")
            print()
        figures = []
        if "pipeline" in wanted:
            figures += bench_chain(work, args.repeat)
            figures += bench_pipeline(work, args.pipeline_rows)
        if "e2e" in wanted:
            figures += bench_e2e(work, args.repeat)
        if "checks" in wanted:
            figures += bench_checks(work, args.rows)
        if "cache" in wanted:
            figures += bench_cache(work)
        if "report" in wanted:
            figures += bench_report(work)
        if "sagemaker" in wanted:
            figures += bench_sagemaker(work, args.repeat)
        if "unit" in wanted and (Path(__file__).with_name("unit.py")).is_file():
            sys.path.insert(0, str(Path(__file__).parent))
            import unit
            figures += unit.report()
        width = max((len(label) for label, _ in figures), default=0)
        for label, figure in figures:
            print(f"{label:{width}}  {figure}")


if __name__ == "__main__":
    main()
