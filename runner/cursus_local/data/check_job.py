"""A handoff check as a job of its own: the entry point of an exported pipeline's check steps.

    python -m cursus_local.data.check_job --data DIR --suite FILE [--suite FILE ...] --out DIR
                                          [--message FILE]

validates the data folder against each suite (`checks.validate`, as a local run's handoff checks do),
writes the CheckResults to `<out>/results.json` and prints one line per suite and per failed
expectation. The exit code is what a pipeline step acts on: 1 when a critical expectation failed
(the steps that read the data must not start, as a blocking check stops them locally), 2 for a
malformed suite or bad arguments, 0 otherwise (warnings included). `--message` gets a one-line
summary of a failure: at /opt/ml/output/message it is the processing job's ExitMessage.

It runs in the `cursus-local/runner` image, which carries cursus-local and Great Expectations.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import UserError
from ..results import jsonable
from .checks import CheckResult, validate

RESULTS = "results.json"
MESSAGE_LIMIT = 1024   # the service keeps the first KiB of the ExitMessage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cursus_local.data.check_job",
                                     description="Validate a data folder against GX suites.")
    parser.add_argument("--data", required=True, type=Path, help="the folder (or file) to check")
    parser.add_argument("--suite", required=True, type=Path, action="append", help="a suite JSON file")
    parser.add_argument("--out", required=True, type=Path, help=f"where {RESULTS} goes")
    parser.add_argument("--message", type=Path, help="where a failure's one-line summary goes")
    args = parser.parse_args(argv)
    try:
        results = [validate(suite, args.data) for suite in args.suite]
    except UserError as exc:
        print(exc, file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / RESULTS).write_text(json.dumps(jsonable([r.to_dict() for r in results]), indent=2) + "\n")
    for result in results:
        print(_summary(result))
        for failure in result.failures:
            print(f"  {failure.severity}: {failure.type} {failure.column or ''} {failure.message}".rstrip())
    blocking = [r for r in results if r.blocking]
    if blocking and args.message:
        args.message.parent.mkdir(parents=True, exist_ok=True)
        text = "critical handoff check failed: " + "; ".join(_summary(r) for r in blocking)
        args.message.write_text(text[:MESSAGE_LIMIT])
    return 1 if blocking else 0


def _summary(result: CheckResult) -> str:
    failed = ", ".join(sorted({f"{f.type}({f.column})" if f.column else f.type
                               for f in result.failures if f.severity == "critical"}))
    return (f"{result.suite}: {result.status} on {result.data_path} ({result.total_rows} rows)"
            + (f", critical: {failed}" if failed else ""))


if __name__ == "__main__":
    sys.exit(main())
