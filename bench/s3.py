"""S3 sampling benchmark: bytes on the wire for row samples of big objects, many small files, a
cached rerun and a changed object, against a moto server on loopback behind a counting TCP proxy
(a thread here) through which every request of the sampler goes.

    .venv/bin/python bench/s3.py [--gb 1.0]          (make bench-s3)

The data is generated here (NumPy) and uploaded to moto directly, not through the proxy.
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from boto3.s3.transfer import TransferConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))
from cursus_local.data import s3 as s3data  # noqa: E402

BUCKET = "bench"
ROWS = 1000


class CountingProxy:
    """TCP on 127.0.0.1 forwarding to `port`, counting the bytes each way."""

    def __init__(self, port: int):
        self.target, self.down, self.up = port, 0, 0
        self.lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.down = self.up = 0

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(client, upstream, "up"), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, "down"), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, way: str) -> None:
        try:
            while data := src.recv(2**16):
                with self.lock:
                    setattr(self, way, getattr(self, way) + len(data))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def moto_server() -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return proc, port
        except OSError:
            time.sleep(0.1)
    raise SystemExit("moto server did not start")


def client(port: int):
    c = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                     aws_access_key_id="bench", aws_secret_access_key="bench")
    c.ops = collections.Counter()
    c.meta.events.register("before-call.s3", lambda model, **_: c.ops.update([model.name]))
    return c


def table(n: int, rng: np.random.Generator) -> pa.Table:
    return pa.table({"id": np.arange(n, dtype=np.int64), "customer_id": rng.integers(0, 10**9, n),
                     "amount": rng.random(n) * 1000, "label": rng.integers(0, 2, n, dtype=np.int8),
                     "score": rng.random(n)})


def big_parquet(path: Path, size: int, rng) -> None:
    rows_per_gb = 40_000_000     # ~1 GiB with these five random columns (22M rows made 571 MiB)
    n, block = int(rows_per_gb * size / 2**30), 1_048_576
    with pq.ParquetWriter(path, table(1, rng).schema) as w:
        for start in range(0, n, block):
            w.write_table(table(min(block, n - start), rng), row_group_size=block)


def big_csv(path: Path, size: int, rng) -> None:
    import pyarrow.csv as pacsv
    block = pa.BufferOutputStream()
    pacsv.write_csv(table(200_000, rng), block)
    chunk = block.getvalue().to_pybytes()
    header, body = chunk.split(b"\n", 1)
    with open(path, "wb") as f:
        f.write(header + b"\n")
        while f.tell() < size:
            f.write(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=1.0, help="size of the big objects, in GiB")
    args = parser.parse_args()
    size = int(args.gb * 2**30)
    rng = np.random.default_rng(0)
    proc, port = moto_server()
    cache = tempfile.mkdtemp(prefix="cursus-s3-bench-")
    os.environ["CURSUS_LOCAL_CACHE"] = cache
    try:
        direct = client(port)
        direct.create_bucket(Bucket=BUCKET)
        proxy = CountingProxy(port)
        s3 = client(proxy.port)
        lines = []

        def run(uri: str, what: str, total: int, limit: float | None):
            proxy.reset()
            s3.ops.clear()
            reports = []
            start = time.perf_counter()
            s3data.fetch_uri(uri, rows=ROWS, s3=s3, on_report=reports.append)
            took = time.perf_counter() - start
            r = reports[0]
            share = proxy.down / total * 100
            verdict = "" if limit is None else ("  OK" if share < limit else f"  OVER {limit}%")
            lines.append(f"{what}: {r.row_count} rows, {proxy.down:,} B down / {proxy.up:,} B up "
                         f"on the wire = {share:.3f}% of {total:,} B; {dict(s3.ops)}; {took:.2f}s"
                         f"{' [' + r.note + ']' if r.note else ''}{verdict}")
            return r

        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            pq_path, csv_path = Path(tmp) / "big.parquet", Path(tmp) / "big.csv"
            big_parquet(pq_path, size, rng)
            big_csv(csv_path, size, rng)
            config = TransferConfig(multipart_chunksize=64 * 2**20, max_concurrency=2)
            direct.upload_file(str(pq_path), BUCKET, "pq/part-00000.parquet", Config=config)
            direct.upload_file(str(csv_path), BUCKET, "csv/part-00000.csv", Config=config)
            pq_size, csv_size = pq_path.stat().st_size, csv_path.stat().st_size
            rgs = pq.ParquetFile(pq_path).metadata.num_row_groups
            lines.append(f"data: Parquet {pq_size / 2**20:.0f} MiB ({rgs} row groups), CSV "
                         f"{csv_size / 2**20:.0f} MiB, made and uploaded in {time.perf_counter() - t0:.0f}s")
        run(f"s3://{BUCKET}/pq", f"{ROWS} rows of a {pq_size / 2**30:.2f} GiB Parquet object", pq_size, 1)
        run(f"s3://{BUCKET}/csv", f"{ROWS} rows of a {csv_size / 2**30:.2f} GiB CSV object", csv_size, 1)

        small = table(250, rng)
        import pyarrow.csv as pacsv
        buf = pa.BufferOutputStream()
        pacsv.write_csv(small, buf)
        body = buf.getvalue().to_pybytes()
        splits = {"train": 1400, "test": 300, "val": 300}
        for split, n in splits.items():
            for i in range(n):
                direct.put_object(Bucket=BUCKET, Key=f"small/{split}/part-{i:05d}.csv", Body=body)
        prefix = len(body) * sum(splits.values())
        r = run(f"s3://{BUCKET}/small", f"{ROWS} rows over 2,000 small files", prefix, 5)
        lines.append(f"  rows per split: { {s: sum(v for k, v in r.rows.items() if k.startswith(s + '/')) for s in splits} }")
        run(f"s3://{BUCKET}/small", "second run (cache, revalidated)", prefix, None)
        if s3.ops.get("GetObject") or set(s3.ops) != {"HeadObject"}:
            lines.append("  NOT ONLY REVALIDATION")
        used = sorted(r.taken)[0]
        direct.put_object(Bucket=BUCKET, Key=f"small/{used}", Body=body.replace(b"\n", b"\r\n"))
        r = run(f"s3://{BUCKET}/small", "after one object changed", prefix, None)
        lines.append("  refetched: " + ("yes" if not r.cached and s3.ops.get("GetObject") else "NO"))
        print("\n".join(lines))
    finally:
        proc.terminate()
        proc.wait(10)
        import shutil
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
