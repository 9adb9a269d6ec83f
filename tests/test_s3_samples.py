"""S3 row samples against a real S3 API (moto server on loopback), with boto3 as in production:
ranged reads, every split in proportion, determinism per seed, a cache that revalidates, the
privacy rules (anonymising, audit log, owner-only cache, purge), and clean errors."""

from __future__ import annotations

import csv
import gzip
import http.server
import io
import json
import os
import stat
import threading
import time

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cursus_local.cli import s3 as cli_s3
from cursus_local.data import s3 as s3data
from cursus_local.data import s3_audit
from cursus_local.data.datasets import read_splits
from cursus_local.errors import UserError
from typer.testing import CliRunner

REGION = "us-east-1"
BUCKET = "samples"
SPLIT_ROWS = {"train": [3000, 3000, 3000, 3000], "test": [1500], "val": [1500]}   # rows per shard
SECRET = "SECRET-CUST"       # planted in every customer_id
DOMAIN = "planted.example"   # planted in every email


def _client(url: str, service: str = "s3"):
    return boto3.client(service, endpoint_url=url, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _rows(split: str, shard: int, n: int) -> list[dict]:
    return [{"id": f"{split}-{shard}-{r:05d}", "customer_id": f"{SECRET}-{shard}{r:05d}",
             "email": f"p{r}@{DOMAIN}", "name": f"Person {r}", "amount": round(r * 1.25, 2)}
            for r in range(n)]


def _csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _parquet(rows: list[dict], row_group: int) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), out, row_group_size=row_group)
    return out.getvalue()


@pytest.fixture(scope="module")
def data(moto):
    s3 = _client(moto)
    s3.create_bucket(Bucket=BUCKET)
    csvs = {f"{split}/part-{i:05d}.csv": _csv(_rows(split, i, n))
            for split, sizes in SPLIT_ROWS.items() for i, n in enumerate(sizes)}
    for rel, body in csvs.items():
        s3.put_object(Bucket=BUCKET, Key=f"csv/{rel}", Body=body)
    s3.put_object(Bucket=BUCKET, Key="csv/_SUCCESS", Body=b"")
    pq_body = _parquet(_rows("train", 0, 40000), 4000)
    s3.put_object(Bucket=BUCKET, Key="pq/train/part-00000.parquet", Body=pq_body)
    gz = gzip.compress(_csv(_rows("train", 0, 20000)))
    s3.put_object(Bucket=BUCKET, Key="gz/part-00000.csv.gz", Body=gz)
    return {"csv": csvs, "parquet": pq_body, "gz": gz}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CURSUS_LOCAL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def s3(moto):
    client = _client(moto)
    client.calls = []
    client.meta.events.register("before-call.s3", lambda model, **_: client.calls.append(model.name))
    return client


def _files(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _sample(s3, uri, **kw):
    reports = []
    path = s3data.fetch_uri(uri, s3=s3, on_report=reports.append, **kw)
    return path, reports[0]


# ---------------------------------------------------------------- row sampling


def test_csv_rows_spread_over_every_split_in_proportion(s3, data):
    path, report = _sample(s3, f"s3://{BUCKET}/csv", rows=300, seed=1)
    tables = read_splits(path)
    counts = {s: t.num_rows for s, t in tables.items()}
    # in proportion to each split's bytes: here 80/10/10 of the rows, give or take a row length
    assert sum(counts.values()) == 300 and abs(counts["train"] - 240) <= 6
    assert abs(counts["test"] - 30) <= 3 and abs(counts["val"] - 30) <= 3
    # ranged reads: a fraction of the prefix, whole source lines under the source's own header
    assert report.bytes < sum(map(len, data["csv"].values())) / 3
    for rel, body in _files(path).items():
        lines = body.splitlines(keepends=True)
        source = data["csv"][rel].splitlines(keepends=True)
        assert lines[0] == source[0] and set(lines[1:]) <= set(source[1:])
    # spread: rows from every train shard, not only from the start of the first
    assert len([r for r in report.taken if r.startswith("train/")]) == 4
    firsts = {int(v.split("-")[2]) for v in tables["train"].column("id").to_pylist()}
    assert max(firsts) > 1000


def test_same_seed_same_sample_other_seed_other_rows(s3, data, cache):
    first, _ = _sample(s3, f"s3://{BUCKET}/csv", rows=120, seed=7)
    again = _files(first)
    s3data.purge_cache()
    second, report = _sample(s3, f"s3://{BUCKET}/csv", rows=120, seed=7)
    assert not report.cached and _files(second) == again
    other, _ = _sample(s3, f"s3://{BUCKET}/csv", rows=120, seed=8)
    ids = {s: set(t.column("id").to_pylist()) for s, t in read_splits(other).items()}
    assert all(ids[s] != set(t.column("id").to_pylist()) for s, t in read_splits(second).items())


def test_parquet_rows_read_only_the_pages_needed(s3, data):
    path, report = _sample(s3, f"s3://{BUCKET}/pq", rows=500, seed=3)
    table = pq.read_table(path / "train/part-00000.parquet")
    assert table.num_rows == 500 and table.column_names == list(_rows("t", 0, 1)[0])
    assert report.bytes < len(data["parquet"]) / 4
    firsts = {pq.read_table(_sample(s3, f"s3://{BUCKET}/pq", rows=500, seed=seed)[0]
                            / "train/part-00000.parquet").column("id")[0].as_py() for seed in range(4)}
    assert len(firsts) > 1      # other seeds, other row groups


def test_gzip_text_is_streamed_from_its_start(s3, data):
    path, report = _sample(s3, f"s3://{BUCKET}/gz", rows=50)
    lines = gzip.decompress((path / "part-00000.csv.gz").read_bytes()).splitlines()
    assert lines == gzip.decompress(data["gz"]).splitlines()[:51]
    assert report.bytes < len(data["gz"])


def test_a_budget_too_small_names_mib_and_leaves_nothing_in_the_cache(s3, data, cache):
    with pytest.raises(UserError, match=r"more than the 0\.0 MiB budget") as e:
        s3data.fetch_uri(f"s3://{BUCKET}/csv", rows=300, max_bytes=20000, s3=s3)
    assert "--max-mb, in MiB" in str(e.value)
    assert [p.name for p in (cache / "s3").rglob("*") if p.is_file()] == ["audit.log"]


# ---------------------------------------------------------------- the cache


def test_reuse_revalidates_with_heads_and_refetches_a_changed_object(s3, data, tmp_path):
    uri = f"s3://{BUCKET}/csv"
    _sample(s3, uri, rows=60)
    s3.calls.clear()
    path, report = _sample(s3, uri, rows=60)
    assert report.cached and set(s3.calls) == {"HeadObject"}
    assert len(s3.calls) == len(report.taken)

    changed = _rows("test", 0, 1500)
    changed[-1]["name"] = "changed"
    s3.put_object(Bucket=BUCKET, Key="csv/test/part-00000.csv", Body=_csv(changed))
    try:
        s3.calls.clear()
        _, report = _sample(s3, uri, rows=60)
        assert not report.cached and "test/part-00000.csv changed in S3" in report.note
        assert "GetObject" in s3.calls
    finally:
        s3.put_object(Bucket=BUCKET, Key="csv/test/part-00000.csv", Body=data["csv"]["test/part-00000.csv"])

    s3.calls.clear()
    _, report = _sample(s3, uri, rows=60, offline=True)
    assert s3.calls == [] and "offline" in report.note
    with pytest.raises(UserError, match="offline, and no cached sample"):
        s3data.fetch_uri(uri, rows=61, offline=True, s3=s3)


def test_sample_is_hard_linked_and_the_cache_is_owner_only(s3, data, cache, tmp_path):
    path = s3data.fetch_uri(f"s3://{BUCKET}/csv", tmp_path / "local", rows=30, s3=s3)
    cached = next((cache / "s3").glob("*/*/data"))
    for rel in _files(path):
        assert (path / rel).stat().st_ino == (cached / rel).stat().st_ino
    assert stat.S_IMODE((cache / "s3").stat().st_mode) == 0o700


def test_an_edit_through_a_link_is_caught_and_the_sample_rebuilt(s3, data, cache, tmp_path):
    """Mode 400 does not stop root: an in-place edit of a linked file, mtime and size put back,
    changes the cached copy too. Its ctime gives it away: the next download rebuilds the entry."""
    uri, rel = f"s3://{BUCKET}/csv", "train/part-00000.csv"
    first = s3data.fetch_uri(uri, tmp_path / "t4", rows=100, seed=7, s3=s3)
    original = (first / rel).read_bytes()
    before = (first / rel).stat()
    time.sleep(0.02)   # ctime moves in clock ticks: the edit must not share the link's tick
    with open(first / rel, "r+b") as f:     # root: the read-only mode does not stop it
        f.seek(len(original) - 8)
        f.write(b"CORRUPT\n")
    os.utime(first / rel, ns=(before.st_atime_ns, before.st_mtime_ns))
    reports = []
    second = s3data.fetch_uri(uri, tmp_path / "t5", rows=100, seed=7, s3=s3, on_report=reports.append)
    assert (second / rel).read_bytes() == original
    assert not reports[0].cached
    assert f"cache entry rebuilt: {rel} changed on disk since it was sampled" in reports[0].summary()
    # the rebuilt entry, linked out, is served again as it is
    _, report = _sample(s3, uri, rows=100, seed=7)
    assert report.cached and "unchanged in S3" in report.note


def test_purge_and_prune_leave_no_sample(s3, data, cache, tmp_path):
    s3data.fetch_uri(f"s3://{BUCKET}/csv", rows=30, s3=s3)
    s3data.fetch_uri(f"s3://{BUCKET}/pq", rows=30, s3=s3)
    assert len(s3data.cache_entries()) == 2 and s3data.prune_cache(3600) == []
    assert len(s3data.prune_cache(0)) == 2
    s3data.fetch_uri(f"s3://{BUCKET}/csv", rows=30, s3=s3)
    result = CliRunner().invoke(cli_s3.app, ["s3-cache", "purge"])
    assert result.exit_code == 0 and "1 cached sample(s) deleted" in result.output
    assert [p.name for p in (cache / "s3").rglob("*")] == ["audit.log"]
    events = [e["event"] for e in s3_audit.read(cache / "s3")]
    assert events.count("prune") == 2 and events[-1] == "purge"


# ---------------------------------------------------------------- privacy


RULES = {"customer_id": "hash", "email": "drop", "name": "fake"}


@pytest.mark.parametrize("prefix", ["csv", "pq", "gz"])
def test_anonymised_columns_never_reach_disk_raw(s3, data, cache, tmp_path, prefix):
    path = s3data.fetch_uri(f"s3://{BUCKET}/{prefix}", tmp_path / "local", rows=200, anonymize=RULES,
                            salt=b"project salt", s3=s3)
    for folder in (cache, tmp_path / "local"):
        for file in (p for p in folder.rglob("*") if p.is_file()):
            raw = file.read_bytes()
            text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            assert SECRET.encode() not in text and DOMAIN.encode() not in text, file
            assert b"Person" not in text or file.name == "audit.log", file
    tables = list(read_splits(path).values())
    table = pa.concat_tables(tables)
    assert "email" not in table.column_names and table.num_rows == 200
    hashes = table.column("customer_id").to_pylist()
    assert len(set(hashes)) == 200 and all(len(h) == 32 for h in hashes)


def test_hash_is_stable_per_salt(s3, data):
    def hashes(salt):
        s3data.purge_cache()
        path = s3data.fetch_uri(f"s3://{BUCKET}/gz", rows=5, anonymize={"customer_id": "hash"}, salt=salt, s3=s3)
        return next(iter(read_splits(path).values())).column("customer_id").to_pylist()
    assert hashes(b"a") == hashes(b"a") != hashes(b"b")


def test_a_rule_for_a_missing_column_fails_and_keeps_nothing(s3, data, cache):
    with pytest.raises(UserError, match="no column customerid"):
        s3data.fetch_uri(f"s3://{BUCKET}/csv", rows=30, anonymize={"customerid": "hash"}, s3=s3)
    assert s3data.cache_entries() == [] and not list((cache / "s3").glob("*/*"))


def test_audit_log_records_every_read(s3, data, cache):
    _, report = _sample(s3, f"s3://{BUCKET}/csv", rows=90, anonymize={"email": "drop"}, salt=b"x")
    _sample(s3, f"s3://{BUCKET}/csv", rows=90, anonymize={"email": "drop"}, salt=b"x")  # cached: no read
    reads = [e for e in s3_audit.read(cache / "s3") if e["event"] == "read"]
    assert sorted(e["uri"] for e in reads) == sorted(f"s3://{BUCKET}/csv/{r}" for r in report.taken)
    assert sum(e["bytes"] for e in reads) == report.bytes and sum(e["rows"] for e in reads) == 90
    assert all(e["etag"] and e["user"] and e["time"] and e["anonymized"] == ["email"] for e in reads)
    assert stat.S_IMODE((cache / "s3" / "audit.log").stat().st_mode) == 0o600


def test_cli_anonymize_rules_from_flag_and_config(s3, data, cache, tmp_path, monkeypatch):
    monkeypatch.setattr(s3data, "_client", lambda service, region=None: s3)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s3_integration.yaml").write_text(
        "s3_integration:\n  data_sampling: {default_sample_size: 40, max_download_size: 2MiB, cache_duration: 1h}\n"
        "  anonymize: {customer_id: hash}\n")
    result = CliRunner().invoke(cli_s3.app, ["download-test-data", "--s3-path", f"s3://{BUCKET}/csv",
                                             "--local-path", "local", "--anonymize", "email=drop"])
    assert result.exit_code == 0, result.output
    assert "40 rows from" in result.output
    files = b"".join(_files(tmp_path / "local").values())
    assert SECRET.encode() not in files and DOMAIN.encode() not in files
    assert (tmp_path / ".cursus-local/anonymize.salt").stat().st_mode & 0o077 == 0


# ---------------------------------------------------------------- errors


class _Failing(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint on loopback whose every answer is HTTP 500."""
    hits = 0

    def _fail(self):
        type(self).hits += 1
        body = b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_POST = _fail

    def log_message(self, *args):
        pass


@pytest.fixture
def failing_endpoint(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    _Failing.hits = 0
    yield _Failing
    server.shutdown()


def test_http_500_is_retried_then_one_clear_line(failing_endpoint, cache, tmp_path):
    result = CliRunner().invoke(cli_s3.app, ["download-test-data", "--s3-path", f"s3://{BUCKET}/csv",
                                             "--local-path", str(tmp_path / "local"), "--rows", "10"])
    assert result.exit_code == 1, result.output
    assert "InternalError (HTTP 500)" in result.output and "after 3 attempt(s)" in result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    assert failing_endpoint.hits == 3        # botocore's standard retry mode: 3 attempts
    assert not list((cache / "s3").glob("*/*"))


def test_discover_s3_data_on_an_api_answering_500(moto, monkeypatch):
    """moto has no ListPipelineExecutionSteps: it answers HTTP 500, as a broken service would."""
    monkeypatch.setattr(s3data, "_client", lambda service, region=None: _client(moto, service))
    arn = f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/p/execution/x1"
    result = CliRunner().invoke(cli_s3.app, ["discover-s3-data", "--pipeline-execution", arn])
    assert result.exit_code in (1, 2), result.output
    assert "ListPipelineExecutionSteps answered" in result.output and "fix:" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, (SystemExit, type(None)))
