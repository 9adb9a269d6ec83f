"""`s3_integration.yaml`, as the design note shapes it: the settings of S3 samples, and the S3
paths `validate-s3-access` checks.

    s3_integration:
      aws_config: {region: us-east-1, profile: sagemaker-execution}
      test_data_sources:                      # read: listed and read
        - pipeline_name: production-pipeline
          execution_pattern: latest           # newest succeeded execution; or a glob on its
                                              # display name or id; or an execution ARN
          steps:
            - {step_name: tabular-preprocessing, outputs: [processed_data]}   # outputs: default all
        - s3_path: s3://bucket/prefix/        # a prefix (or object) named directly
      output_paths: [s3://bucket/test-outputs/]   # written to: listed, read and written
      data_sampling: {default_sample_size: 1000, max_download_size: 100MB, cache_duration: 24h}
      anonymize: {customer_id: hash, email: drop, name: fake}

Sizes take their unit as written: KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..fields import Fields
from ..yamlfile import load
from .s3_anonymize import check_rules
from .s3_cache import parse_duration

FILE = "s3_integration.yaml"
UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


@dataclass
class DataSource:
    """One entry of `test_data_sources`: a pipeline's step outputs, or an S3 path named directly."""
    s3_path: str | None = None
    pipeline_name: str | None = None
    execution_pattern: str = "latest"
    steps: dict[str, list[str]] = field(default_factory=dict)   # step -> outputs ([]: all of them)
    where: str = ""            # where it is in the file, for messages


@dataclass
class S3Settings:
    rows: int = 1000
    max_bytes: int = 100 * 2**20
    cache_duration: float = 24 * 3600
    anonymize: dict[str, str] = field(default_factory=dict)
    region: str | None = None
    profile: str | None = None
    project: Path = field(default_factory=Path.cwd)   # where the salt lives
    file: Path | None = None
    sources: list[DataSource] = field(default_factory=list)
    output_paths: list[str] = field(default_factory=list)


def parse_size(value, fields: Fields, name: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(value))
    if not m or m[2].upper() not in UNITS:
        fields.fail(name, f"not a size: {value!r}", "write e.g. 100MB or 100MiB")
    return int(float(m[1]) * UNITS[m[2].upper()])


def load_settings(path: str | Path | None) -> S3Settings:
    """The settings in `path`, else in ./s3_integration.yaml when there is one, else the defaults."""
    if path is None:
        if not Path(FILE).is_file():
            return S3Settings()
        path = FILE
    path = Path(path)
    fields = Fields(path)
    if not path.is_file():
        fields.fail("(file)", "no such file", "give the path of an s3_integration.yaml")
    doc = fields.mapping(load(path.read_text(), file=str(path)), "(file)", "write `s3_integration:` at the top")
    fields.known_keys(doc, ["s3_integration"], "")
    top = fields.mapping(doc.get("s3_integration"), "s3_integration", "write its settings under it")
    fields.known_keys(top, ["aws_config", "test_data_sources", "output_paths", "data_sampling", "anonymize"],
                      "s3_integration")
    aws = fields.mapping(top.get("aws_config"), "s3_integration.aws_config", "write `region:` and `profile:`")
    fields.known_keys(aws, ["region", "profile"], "s3_integration.aws_config")
    sampling = fields.mapping(top.get("data_sampling"), "s3_integration.data_sampling",
                              "write e.g. `default_sample_size: 1000`")
    where = "s3_integration.data_sampling"
    fields.known_keys(sampling, ["default_sample_size", "max_download_size", "cache_duration"], where)
    settings = S3Settings(project=path.resolve().parent, file=path, region=aws.get("region"),
                          profile=aws.get("profile"))
    if "default_sample_size" in sampling:
        settings.rows = fields.positive_int(sampling["default_sample_size"], f"{where}.default_sample_size", 1000)
    if "max_download_size" in sampling:
        settings.max_bytes = parse_size(sampling["max_download_size"], fields, f"{where}.max_download_size")
    if "cache_duration" in sampling:
        settings.cache_duration = parse_duration(sampling["cache_duration"], field=f"{where}.cache_duration",
                                                 file=str(path))
    settings.sources = [_source(fields, raw, f"s3_integration.test_data_sources[{i}]")
                        for i, raw in enumerate(fields.entries(top, "test_data_sources", "s3_integration"))]
    settings.output_paths = [_s3_path(fields, raw, f"s3_integration.output_paths[{i}]")
                             for i, raw in enumerate(fields.entries(top, "output_paths", "s3_integration"))]
    settings.anonymize = check_rules(top.get("anonymize") or {}, file=str(path), field="s3_integration.anonymize")
    return settings


SOURCE_FIX = ("write `- {pipeline_name: NAME, execution_pattern: latest, steps: [{step_name: STEP, "
              "outputs: [OUTPUT]}]}` or `- s3_path: s3://BUCKET/PREFIX`")


def _source(fields: Fields, raw, where: str) -> DataSource:
    raw = fields.mapping(raw, where, SOURCE_FIX, required=True)
    fields.known_keys(raw, ["s3_path", "pipeline_name", "execution_pattern", "steps"], where)
    if ("s3_path" in raw) == ("pipeline_name" in raw):
        fields.fail(where, "give either `pipeline_name` or `s3_path`", SOURCE_FIX)
    if "s3_path" in raw:
        if set(raw) != {"s3_path"}:
            fields.fail(where, "`s3_path` takes no pipeline settings", "remove them, or use `pipeline_name`")
        return DataSource(s3_path=_s3_path(fields, raw["s3_path"], f"{where}.s3_path"), where=where)
    source = DataSource(pipeline_name=_text(fields, raw["pipeline_name"], f"{where}.pipeline_name"),
                        execution_pattern=_text(fields, raw.get("execution_pattern", "latest"),
                                                f"{where}.execution_pattern"), where=where)
    for i, step in enumerate(fields.entries(raw, "steps", where)):
        at = f"{where}.steps[{i}]"
        step = fields.mapping(step, at, "write `- {step_name: STEP, outputs: [OUTPUT]}`", required=True)
        fields.known_keys(step, ["step_name", "outputs"], at)
        outputs = fields.entries(step, "outputs", at)
        source.steps[_text(fields, step.get("step_name"), f"{at}.step_name")] = [
            _text(fields, o, f"{at}.outputs[{j}]") for j, o in enumerate(outputs)]
    return source


def _text(fields: Fields, value, field_name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        fields.fail(field_name, f"expected a name, got {value!r}", f"write `{field_name.rsplit('.', 1)[-1]}: NAME`")
    return value.strip()


def _s3_path(fields: Fields, value, field_name: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?", value):
        fields.fail(field_name, f"not an S3 URI: {value!r}", "write s3://BUCKET/PREFIX")
    return value
