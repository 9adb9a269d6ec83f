"""ci-templates/: each checked by a linter made for its format (actionlint for GitHub Actions, GitLab's
CI schema through check-jsonschema, shellcheck for the shared script when installed), and each
calling what the issue's nightly needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

BIN = Path(sys.executable).parent
GITHUB = REPO / "ci-templates/github/cursus-local-nightly.yml"
GITLAB = REPO / "ci-templates/gitlab/.gitlab-ci.yml"
NIGHTLY = REPO / "ci-templates/nightly.sh"


def lint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO)


def test_the_github_workflow_passes_actionlint():
    proc = lint(str(BIN / "actionlint"), "-no-color", str(GITHUB))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_is_not_a_rubber_stamp(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(GITHUB.read_text().replace("steps.images.outputs.cache-hit",
                                                 "steps.nope.outputs.cache-hit"))
    assert lint(str(BIN / "actionlint"), "-no-color", str(broken)).returncode == 1


@pytest.mark.parametrize("template, schema", [(GITLAB, "vendor.gitlab-ci"), (GITHUB, "vendor.github-workflows")])
def test_each_template_is_valid_against_its_formats_schema(template, schema):
    proc = lint(str(BIN / "check-jsonschema"), "--builtin-schema", schema, str(template))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_gitlab_schema_check_catches_a_mistake(tmp_path):
    doc = yaml.safe_load(GITLAB.read_text())
    doc["cursus-local-nightly"]["artifacts"]["when"] = "sometimes"
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text(yaml.safe_dump(doc))
    assert lint(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(broken)).returncode == 1


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck not installed (make tools installs it)")
def test_the_shared_nightly_script_passes_shellcheck():
    proc = lint("shellcheck", str(NIGHTLY))
    assert proc.returncode == 0, proc.stdout


def test_both_templates_build_test_run_publish_and_compare():
    github = yaml.safe_load(GITHUB.read_text())
    steps = github["jobs"]["nightly"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    uses = [s.get("uses", "") for s in steps]
    assert "make images" in runs and "docker load" in runs              # images, with a layer cache
    assert runs.index("make test-fast") < runs.index("ci-templates/nightly.sh")
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    baseline = [s for s in steps if s.get("with", {}).get("path") == "baseline"]
    assert [s["uses"].split("@")[0] for s in baseline] == ["actions/cache/restore", "actions/cache/save"]
    assert baseline[1]["if"] == "success()"                              # only a good night is kept

    gitlab = yaml.safe_load(GITLAB.read_text())["cursus-local-nightly"]
    script = "\n".join(gitlab["before_script"] + gitlab["script"])
    assert "make images" in script and script.index("make test-fast") < script.index("nightly.sh")
    assert gitlab["artifacts"]["reports"]["junit"] == "reports/junit/*.xml"
    assert {c["key"]: c["when"] for c in gitlab["cache"]}["cursus-local-baseline"] == "on_success"

    nightly = NIGHTLY.read_text()
    for command in ("run-pipeline", "--junit-xml", "export-results", "compare-results", "generate-report"):
        assert command in nightly
