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
    is_junk,
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


def test_metadata_json_beside_data_is_ignored_but_named_beside_json_data(tmp_path):
    (tmp_path / "part-00000.csv").write_text(CSV)
    (tmp_path / "metadata.json").write_text('{\n  "model": "xgb",\n  "params": {"eta": 0.1}\n}\n')
    assert read_table(tmp_path).num_rows == 3         # a .json beside CSV data is not data
    (tmp_path / "part-00000.csv").unlink()
    (tmp_path / "data.json").write_text(json.dumps([{"id": 1, "amount": 2.5}]))
    with pytest.raises(UserError) as e:               # beside JSON data: which is data is unclear
        read_table(tmp_path)
    assert "metadata.json" in str(e.value) and "not data" in e.value.fix


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


@pytest.mark.parametrize("rel, size, junk", [
    ("part-00000.csv", 10, False), ("train/part-00000.csv.gz", 10, False),
    ("part-00000.csv", 0, True), ("_SUCCESS", 0, True), (".part-00000.csv.crc", 8, True),
    ("part-00000.csv.md5", 8, True), ("_temporary/0/part-9.csv", 8, True), ("train/", 0, True),
])
def test_one_junk_rule_for_local_files_and_s3_keys(rel, size, junk):
    assert is_junk(rel, size) is junk


def write_cursus_splits(folder, fmt="csv"):
    """Splits as Cursus's tabular_preprocessing writes them: <split>/<split>_processed_data.<fmt>."""
    for split in ("train", "test", "val"):
        (folder / split).mkdir(parents=True)
        path = folder / split / f"{split}_processed_data.{fmt}"
        frame().to_parquet(path) if fmt == "parquet" else frame().to_csv(path, index=False)


def test_split_file_names_follow_each_split(tmp_path):
    write_cursus_splits(tmp_path / "sample")
    layout = detect_layout(tmp_path / "sample")
    assert (layout.file_pattern, layout.splits, layout.per_split) == (
        "{split}_processed_data.csv", ["test", "train", "val"], {})
    write_table(frame().assign(s=["train"] * 4 + ["test"] * 3 + ["val"] * 3), tmp_path / "out",
                layout, split_column="s")
    assert sorted(p.relative_to(tmp_path / "out").as_posix()
                  for p in (tmp_path / "out").rglob("*.csv")) == [
        "test/test_processed_data.csv", "train/train_processed_data.csv",
        "val/val_processed_data.csv"]


def test_split_name_is_replaced_only_as_a_whole_word(tmp_path):
    for split, name in (("a", "data.csv"), ("b", "data.csv")):
        (tmp_path / split).mkdir()
        (tmp_path / split / name).write_text(CSV)
    assert detect_layout(tmp_path).file_pattern == "data.csv"


def test_splits_in_different_formats_keep_their_own_layout(tmp_path):
    write_cursus_splits(tmp_path / "sample")
    (tmp_path / "sample" / "val" / "val_processed_data.csv").unlink()
    frame().to_parquet(tmp_path / "sample" / "val" / "part-00000.parquet")
    layout = detect_layout(tmp_path / "sample")
    assert (layout.format, layout.file_pattern) == ("csv", "{split}_processed_data.csv")
    assert (layout.per_split["val"].format, layout.per_split["val"].file_pattern) == (
        "parquet", "part-{i:05d}.parquet")
    write_table(frame().assign(s=["train"] * 5 + ["val"] * 5), tmp_path / "out", layout,
                split_column="s")
    assert read_table(tmp_path / "out" / "val" / "part-00000.parquet").num_rows == 5
    assert read_table(tmp_path / "out" / "train" / "train_processed_data.csv").num_rows == 5


@pytest.mark.parametrize("pattern, splits, message", [
    ("{part}.csv", ["train"], r"unknown placeholder \{part\}"),
    ("part-{}.csv", [], r"unknown placeholder \{\}"),
    ("part-{i:05q}.csv", [], "Unknown format code"),
    ("part-{i.csv", [], "expected '}'"),
    ("{split}.csv", [], r"\{split\} needs splits"),
    ("out/part-{i}.csv", [], "a file name, not a path"),
])
def test_bad_file_pattern_is_a_user_error_naming_the_placeholders(pattern, splits, message):
    with pytest.raises(UserError, match=message) as raised:
        Layout(file_pattern=pattern, splits=splits)
    assert raised.value.field == "file_pattern"
    assert "{i}" in raised.value.fix and "{split}" in raised.value.fix


def test_file_pattern_with_split_and_shard_number(tmp_path):
    layout = Layout(shards=2, splits=["train", "test"], file_pattern="{split}-{i:02d}.csv")
    write_table(frame().assign(s=["train", "test"] * 5), tmp_path, layout, split_column="s")
    assert sorted(p.name for p in tmp_path.rglob("*.csv")) == [
        "test-00.csv", "test-01.csv", "train-00.csv", "train-01.csv"]
    assert detect_layout(tmp_path).file_pattern == "{split}-{i:02d}.csv"
    with pytest.raises(UserError, match="2 shards need a numbered file pattern"):
        Layout(shards=2, splits=["train"], file_pattern="{split}.csv")
    with pytest.raises(UserError, match=r"\{split\}"):
        write_table(frame(), tmp_path / "flat", layout)    # no split to name the files by


def test_non_data_files_beside_split_folders_are_ignored(tmp_path):
    write_cursus_splits(tmp_path)
    (tmp_path / "metrics.json").write_text('{"auc": 0.91}')
    (tmp_path / "report.txt").write_text("all good\n")
    (tmp_path / "signature").write_text("id,amount,currency\n")
    (tmp_path / "_SUCCESS").write_text("")
    assert {k: v.num_rows for k, v in read_splits(tmp_path).items()} == {
        "test": 10, "train": 10, "val": 10}
    assert detect_layout(tmp_path).file_pattern == "{split}_processed_data.csv"


def test_data_file_beside_split_folders_is_named_in_the_error(tmp_path):
    write_cursus_splits(tmp_path)
    (tmp_path / "all_data.csv").write_text(CSV)
    with pytest.raises(UserError, match="all_data.csv") as raised:
        read_splits(tmp_path)
    assert raised.value.file == str(tmp_path / "all_data.csv")
    assert "split folder" in raised.value.fix


def test_non_data_files_beside_data_files_are_ignored(tmp_path):
    (tmp_path / "part-00000.csv").write_text(CSV)
    (tmp_path / "part-00001.csv.gz").write_bytes(gzip.compress(CSV.encode()))
    (tmp_path / "metrics.json").write_text('{"auc": 0.91}')
    (tmp_path / "report.txt").write_text("all good\n")
    (tmp_path / "metadata").write_text("varname,iscategory,datatype\nid,false,int64\n")
    assert read_table(tmp_path).num_rows == 6
    assert detect_layout(tmp_path).file_pattern == "part-{i:05d}.csv"   # the first shard's name
    (tmp_path / "extra").mkdir()
    for name in ("part-00000", "part-00001"):     # no extension: the content decides
        (tmp_path / "extra" / name).write_text(CSV)
    (tmp_path / "extra" / "report.txt").write_text("all good\n")
    assert read_table(tmp_path / "extra").num_rows == 6


def test_dictionary_encoded_parquet_reads_as_plain_values(tmp_path):
    table = pa.table({"c": pa.array(["a", "b", "a"]).dictionary_encode(), "n": [1, 2, 3]})
    pq.write_table(table, tmp_path / "part-00000.parquet")
    pq.write_table(pa.table({"c": ["c"], "n": [4]}), tmp_path / "part-00001.parquet")
    read = read_table(tmp_path)
    assert read.schema.field("c").type == pa.string()
    assert read.column("c").to_pylist() == ["a", "b", "a", "c"]


def test_empty_split_folder_is_a_split_of_the_layout_and_named_when_read(tmp_path):
    write_cursus_splits(tmp_path)
    (tmp_path / "test" / "test_processed_data.csv").unlink()
    (tmp_path / "test" / "_SUCCESS").write_text("")
    layout = detect_layout(tmp_path)
    assert (layout.splits, layout.file_pattern) == (["test", "train", "val"],
                                                    "{split}_processed_data.csv")
    with pytest.raises(UserError, match="no data files") as raised:   # checks: the split is empty
        read_splits(tmp_path)
    assert raised.value.file == str(tmp_path / "test")


@pytest.mark.parametrize("fields, field", [
    ({"shards": "2"}, "shards"), ({"shards": 0}, "shards"), ({"splits": "train,test"}, "splits"),
    ({"file_pattern": 5}, "file_pattern"),
])
def test_layout_fields_of_the_wrong_type_are_user_errors(fields, field):
    with pytest.raises(UserError) as raised:
        Layout(**fields)
    assert raised.value.field == field
