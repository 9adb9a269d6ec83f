"""Reading data the way scripts write it: real files in tmp_path."""

import bz2
import gzip
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cursus_local.data.datasets import (
    Layout,
    detect_layout,
    read_splits,
    read_table,
    sample,
    write_table,
)
from cursus_local.errors import UserError

CSV = "id,amount,currency\n1,12.5,USD\n2,3.0,EUR\n3,7.25,GBP\n"


def frame(rows=10):
    return pd.DataFrame({"id": range(rows), "amount": [i * 1.5 for i in range(rows)],
                         "currency": ["USD", "EUR"] * (rows // 2)})


def test_csv_file_is_typed(tmp_path):
    (tmp_path / "data.csv").write_text(CSV)
    table = read_table(tmp_path / "data.csv")
    assert table.column_names == ["id", "amount", "currency"]
    assert [str(t) for t in table.schema.types] == ["int64", "double", "string"]


def test_folder_of_shards_skips_markers_and_hidden_files(tmp_path):
    (tmp_path / "part-00000.csv").write_text(CSV)
    (tmp_path / "part-00001.csv").write_text("id,amount,currency\n4,1,USD\n")  # int amount: unified
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".part-00000.csv.crc").write_bytes(b"\x00\x01")
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    table = read_table(tmp_path)
    assert table.num_rows == 4
    assert str(table.schema.field("amount").type) == "double"


@pytest.mark.parametrize("name,opener", [("d.csv.gz", gzip.open), ("d.csv.bz2", bz2.open),
                                         ("part-00000", gzip.open)])  # no extension: magic bytes
def test_compressed_csv(tmp_path, name, opener):
    with opener(tmp_path / name, "wt") as f:
        f.write(CSV)
    assert read_table(tmp_path).num_rows == 3
    assert detect_layout(tmp_path).compression == ("bz2" if name.endswith("bz2") else "gzip")


def test_tsv_headerless_csv_json_lines_json_array_parquet(tmp_path):
    (tmp_path / "a.tsv").write_text(CSV.replace(",", "\t"))
    (tmp_path / "b.csv").write_text("1,2.5,x\n2,3.5,y\n")
    (tmp_path / "c.jsonl").write_text('{"id": 1, "amount": 2.5}\n{"id": 2, "amount": null}\n')
    (tmp_path / "d.json").write_text(json.dumps([{"id": 1, "amount": 2.5}]))
    pq.write_table(pa.Table.from_pandas(frame()), tmp_path / "e.parquet")
    assert read_table(tmp_path / "a.tsv").column_names == ["id", "amount", "currency"]
    assert detect_layout(tmp_path / "a.tsv").format == "tsv"
    headerless = read_table(tmp_path / "b.csv")
    assert headerless.num_rows == 2 and headerless.column_names == ["f0", "f1", "f2"]
    assert detect_layout(tmp_path / "b.csv").header is False
    assert read_table(tmp_path / "c.jsonl").column("amount").null_count == 1
    assert read_table(tmp_path / "d.json").num_rows == 1
    assert read_table(tmp_path / "e.parquet", columns=["id"]).column_names == ["id"]


def test_unparseable_metadata_file_is_named(tmp_path):
    (tmp_path / "part-00000.csv").write_text(CSV)
    (tmp_path / "metadata.json").write_text('{\n  "model": "xgb",\n  "params": {"eta": 0.1}\n}\n')
    with pytest.raises(UserError) as e:
        read_table(tmp_path)
    assert "metadata.json" in str(e.value)


def test_binary_file_is_named(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"\x80\x04\x95\x00\x00binary")
    with pytest.raises(UserError, match="model.bin.*not a data file"):
        read_table(tmp_path)


def test_shards_with_different_columns_name_both_files(tmp_path):
    (tmp_path / "part-00000.csv").write_text(CSV)
    (tmp_path / "part-00001.csv").write_text("id,amount,label\n4,1.0,0\n")
    with pytest.raises(UserError) as e:
        read_table(tmp_path)
    text = str(e.value)
    assert "part-00000.csv" in text and "part-00001.csv" in text
    assert "['currency']" in text and "['label']" in text


def test_shards_with_clashing_types_name_the_column(tmp_path):
    (tmp_path / "part-00000.csv").write_text(CSV)
    (tmp_path / "part-00001.csv").write_text("id,amount,currency\n4,12.50 USD,USD\n")
    with pytest.raises(UserError, match="type of column 'amount'.*double.*string"):
        read_table(tmp_path)


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read_table(tmp_path / "nope")
    (tmp_path / "_SUCCESS").write_text("")
    with pytest.raises(UserError, match="no data files"):
        read_table(tmp_path)


def test_splits(tmp_path):
    for split in ("train", "test", "val"):
        (tmp_path / split).mkdir()
        (tmp_path / split / "part-00000.csv").write_text(CSV)
    splits = read_splits(tmp_path)
    assert sorted(splits) == ["test", "train", "val"]
    assert read_table(tmp_path).num_rows == 9
    assert read_splits(tmp_path / "train").keys() == {""}
    assert detect_layout(tmp_path).splits == ["test", "train", "val"]


@pytest.mark.parametrize("layout", [
    Layout(),
    Layout(format="tsv", compression="gzip", shards=3),
    Layout(format="csv", header=False, compression="zstd", shards=2),
    Layout(format="parquet", shards=2),
    Layout(format="json", compression="bz2"),
])
def test_write_then_detect_and_read_round_trip(tmp_path, layout):
    paths = write_table(frame(), tmp_path, layout)
    assert len(paths) == layout.shards
    detected = detect_layout(tmp_path)
    assert (detected.format, detected.compression, detected.shards, detected.header) == (
        layout.format, layout.compression, layout.shards, layout.header)
    assert detected.file_pattern == layout.file_pattern
    table = read_table(tmp_path)
    assert table.num_rows == 10
    if layout.header:
        assert table.column("amount").to_pylist() == frame()["amount"].tolist()


def test_write_splits(tmp_path):
    df = frame().assign(split=["train"] * 6 + ["test"] * 2 + ["val"] * 2)
    write_table(df, tmp_path, Layout(splits=["train", "val", "test"]), split_column="split")
    splits = read_splits(tmp_path)
    assert {k: v.num_rows for k, v in splits.items()} == {"train": 6, "test": 2, "val": 2}
    assert "split" not in splits["train"].column_names


def test_sample_is_deterministic():
    table = pa.table({"x": range(10_000)})
    a, info = sample(table, 100, seed=1)
    b, _ = sample(table, 100, seed=1)
    c, _ = sample(table, 100, seed=2)
    assert a.equals(b) and not a.equals(c)
    assert (info.total_rows, info.sample_rows) == (10_000, 100)
    whole, info = sample(table, 20_000)
    assert whole is table and info.method == "all rows"
