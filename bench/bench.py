"""Benchmarks (not tests): wall time of cursus-local against bare `docker run`, and more.

    .venv/bin/python bench/bench.py [--repeat 3] [--rows 1000000]

Each figure is the median of --repeat runs, measured in this same run, on this machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"cursus-local benchmarks (median of {args.repeat}; docker CLI: {DOCKER})\n")
    with tempfile.TemporaryDirectory(prefix="cursus-bench-") as tmp:
        work = Path(tmp)
        rows = [("trivial step", *bench_step(work, "trivial", TRIVIAL, args.repeat)),
                (f"{args.rows:,}-row CSV step", *bench_step(work, "large", LARGE, args.repeat, args.rows))]
    print(f"{'run-step':28} {'cursus-local':>13} {'docker run':>11} {'overhead':>9} {'ratio':>6}")
    for label, ours, bare in rows:
        print(f"{label:28} {ours:12.2f}s {bare:10.2f}s {ours - bare:+8.2f}s {ours / bare:6.2f}")


if __name__ == "__main__":
    main()
