"""The test_scenarios.yaml model: what config.py reads and tester.py runs (the format: config.py).

It sits under both, and under inputs.py, so that each of them can name a Case without importing
the module that reads YAML."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..data.datasets import Layout
from ..jobs.contracts import Step
from .quality import QualityCheck

DEFAULT_VOLUMES = {"small": 1_000, "medium": 100_000, "large": 1_000_000}
DEFAULT_VOLUME = "small"


@dataclass
class Behavior:
    succeed: bool = True
    exit_code: int | None = None
    message: str | None = None
    label: str = ""

    def describe(self) -> str:
        if self.succeed:
            return f"pass ({self.label})" if self.label else "pass"
        return ", ".join(["fail"] + ([f"exit code {self.exit_code}"] if self.exit_code is not None
                                     else []) + ([f"message {self.message!r}"] if self.message else []))


@dataclass
class Case:
    """One run of the script: a data scenario, an S3 source or a performance test."""
    name: str
    rows: int
    params: dict[str, dict] = field(default_factory=dict)   # input -> synthetic parameters
    seed: int = 0
    env: dict[str, str] = field(default_factory=dict)
    job_arguments: dict[str, str] = field(default_factory=dict)
    code: Path | None = None
    layout: Layout | None = None
    input_layouts: dict[str, Layout] = field(default_factory=dict)   # per input, from `inputs:`
    behavior: Behavior = field(default_factory=Behavior)
    volume: str = ""
    max_seconds: float | None = None
    max_memory_mb: float | None = None
    s3_source: dict | None = None      # {pipeline_execution, step_name, output_name, input, max_bytes}


@dataclass
class UnitTest:
    name: str
    test_type: str
    cases: list[Case]


@dataclass
class DataFlowTest:
    name: str
    upstream: Step
    downstream: Step
    rows: int | None                   # None: the upstream's own sample data
    expect_compatible: bool = True
    seed: int = 0


@dataclass
class ScriptTests:
    script: str
    step: Step
    config: Path | None = None
    volumes: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_VOLUMES))
    seed: int = 0
    unit_tests: list[UnitTest] = field(default_factory=list)
    quality_checks: list[QualityCheck] = field(default_factory=list)
    performance_tests: list[Case] = field(default_factory=list)
    data_flow_tests: list[DataFlowTest] = field(default_factory=list)

    def of_type(self, test_type: str) -> list[UnitTest]:
        return [t for t in self.unit_tests if t.test_type == test_type]
