"""Secrets never reach a file or the console: values under secret names (environment, job
arguments, names marked with --secret-env) and credentials inside URLs, end to end through
`cursus-local run-step`, while the container still gets every real value."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_step
from cursus_local.redact import Secrets, is_secret_name

CLI = [sys.executable, "-m", "cursus_local.cli"]
DB_PASS = "hunter2-db-pass-6f1c"
URL_PASS = "url-pw-9d2e7a"
DATABASE_URL = f"postgres://u:{URL_PASS}@db/x"
TOKEN = "tok-4b8e0c13aa"
MARKED = "marked-value-51fe"
SECRETS = (DB_PASS, URL_PASS, TOKEN, MARKED)

SCRIPT = """
    import os, sys
    from pathlib import Path
    token = sys.argv[sys.argv.index("--api-token") + 1]
    got = [os.environ["DB_PASS"], os.environ["DATABASE_URL"], token, os.environ["MY_THING"]]
    # the container has the real values (the script needs them): checked here, written as a verdict
    real = got == [%r, %r, %r, %r]
    Path("/opt/ml/processing/output/real.txt").write_text(str(real))
    print("connecting with", *got, "argv", sys.argv)
    print("oops", os.environ["DB_PASS"], file=sys.stderr)
    Path("/opt/ml/output/message").write_text(f"failed to log in with {token} at {got[1]} ({got[0]}, {got[3]})")
    sys.exit(1)
""" % (DB_PASS, DATABASE_URL, TOKEN, MARKED)


def cli(args, cwd):
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def leaks(folder: Path, *texts: str) -> list[str]:
    """Where a secret value shows: files under `folder` and the given texts."""
    found = []
    for path in [p for p in folder.rglob("*") if p.is_file()]:
        data = path.read_bytes().decode(errors="replace")
        found += [f"{path.relative_to(folder)}: {s}" for s in SECRETS if s in data]
    found += [f"console: {s}" for text in texts for s in SECRETS if s in text]
    return found


def step_file(tmp_path):
    return write_step(tmp_path, "creds", SCRIPT, {
        "outputs": {"out": {"path": "/opt/ml/processing/output"}},
        "job_arguments": [{"flag": "--api-token", "source": "api_token"}]})


@pytest.mark.docker
def test_secrets_are_masked_in_every_file_and_on_the_console(tmp_path):
    runs = tmp_path / "runs"
    proc = cli(["run-step", str(step_file(tmp_path)), "--runs-dir", str(runs),
                "--env", f"DB_PASS={DB_PASS}", "--env", f"DATABASE_URL={DATABASE_URL}",
                "--env", f"MY_THING={MARKED}", "--secret-env", "MY_THING",
                "--job-arg", f"api_token={TOKEN}"], tmp_path)
    assert proc.returncode == 1, proc.stderr
    real = next(runs.rglob("real.txt"))
    assert real.read_text() == "True"                     # the container had every real value
    real.unlink()                                          # the script's own output: not ours to mask
    assert leaks(runs, proc.stdout, proc.stderr) == []
    step = next(runs.glob("*/creds"))
    assert "***" in (step / "logs" / "algo-1.log").read_text()
    assert (step / "hosts" / "algo-1" / "ml-output" / "message").read_text() == (
        "failed to log in with *** at postgres://***@db/x (***, ***)")
    assert "failed to log in with ***" in (step / "result.json").read_text()


@pytest.mark.parametrize("name, value, marking", [("DB_PASS", DB_PASS, []),
                                                 ("MY_THING", MARKED, ["--secret-env", "MY_THING"])])
def test_a_request_that_fails_validation_prints_no_secret(tmp_path, name, value, marking):
    """A value too long for the service: its error quotes it, masked; nothing starts (exit 2)."""
    env = {"DB_PASS": DB_PASS, "DATABASE_URL": DATABASE_URL, "MY_THING": MARKED, name: value * 20}  # > 256
    proc = cli(["run-step", str(step_file(tmp_path)), "--runs-dir", str(tmp_path / "runs"), *marking,
                *[a for k, v in env.items() for a in ("--env", f"{k}={v}")], "--job-arg", f"api_token={TOKEN}"],
               tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert f"Value '***' at 'environment.{name}'" in " ".join(proc.stderr.split()), proc.stderr
    assert not any(s in proc.stdout + proc.stderr for s in SECRETS), proc.stderr


@pytest.mark.docker
def test_run_pipeline_masks_secrets_and_marked_names_in_every_file(tmp_path):
    step_file(tmp_path)
    (tmp_path / "dag.yaml").write_text(
        "name: creds\nsteps_dir: .\nnodes:\n  creds:\n"
        f"    env: {{DB_PASS: {DB_PASS}, DATABASE_URL: '{DATABASE_URL}', MY_THING: {MARKED}}}\n"
        f"    job_arguments: {{api_token: {TOKEN}}}\nedges: []\n")
    proc = cli(["run-pipeline", "dag.yaml", "--runs-dir", "runs", "--secret-env", "MY_THING"], tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    real = next((tmp_path / "runs").rglob("real.txt"))
    assert real.read_text() == "True"
    real.unlink()
    assert leaks(tmp_path / "runs", proc.stdout, proc.stderr) == []
    assert next((tmp_path / "runs").glob("*/results.json")).is_file()   # grepped above with the rest


@pytest.mark.parametrize("name, secret", [
    ("DB_PASS", True), ("DB_PASSWORD", True), ("dbPassword", True), ("--api-token", True), ("HF_TOKEN", True),
    ("AWS_SECRET_ACCESS_KEY", True), ("API_KEY", True), ("PRIVATE_KEY", True), ("GCP_CREDENTIALS", True),
    ("MAX_TOKENS", False), ("TOKENIZER", False), ("BYPASS", False), ("PASSENGER_COUNT", False),
    ("PARTITION_KEY", False), ("S3_KEY", False), ("LABEL_FIELD", False)])
def test_which_names_are_secret(name, secret):
    assert is_secret_name(name) is secret


def test_a_secret_job_argument_and_hyperparameter_are_masked_by_name_and_value():
    request = {"AppSpecification": {"ContainerArguments": ["--api-token", TOKEN, "--key=v", "--job_type", "t"]},
               "HyperParameters": {"api_token": f'"{TOKEN}"', "epochs": "3"},
               "Environment": {"PIP_INDEX_URL": f"https://u:{URL_PASS}@index/simple", "MY_THING": MARKED}}
    secrets = Secrets.of_request(request, marked=["my_thing"])
    masked = secrets.request(request)
    assert masked["AppSpecification"]["ContainerArguments"] == ["--api-token", "***", "--key=v", "--job_type", "t"]
    assert masked["HyperParameters"] == {"api_token": "***", "epochs": "3"}
    assert masked["Environment"] == {"PIP_INDEX_URL": "https://***@index/simple", "MY_THING": "***"}
    assert secrets.text(f"{TOKEN} {URL_PASS} {MARKED} 3") == "*** *** *** 3"


@pytest.mark.docker
def test_a_training_job_masks_its_secret_hyperparameter_after_the_script_had_it(tmp_path, backend):
    """The script reads hyperparameters.json and its arguments; afterwards no file keeps the token."""
    from cursus_local.jobs.contracts import load_step
    from cursus_local.jobs.processing import RunOptions
    from helpers import run_step
    script = """
        import json, sys
        from pathlib import Path
        hps = json.loads(Path("/opt/ml/input/config/hyperparameters.json").read_text())
        real = json.loads(hps["api_token"]) == %r and sys.argv[sys.argv.index("--api_token") + 1] == %r
        Path("/opt/ml/model/real.txt").write_text(str(real))
        print("token", hps["api_token"])
        Path("/opt/ml/output/failure").write_text("bad token " + hps["api_token"])
        sys.exit(1)
    """ % (TOKEN, TOKEN)
    step = load_step(write_step(tmp_path, "train", script, {
        "outputs": {"model": {"path": "/opt/ml/model"}},
        "job_arguments": [{"flag": "--api_token", "source": "api_token"}]},
        compute={"kind": "estimator", "sdk_class": "SKLearn"}))
    run = run_step(step, RunOptions(job_arguments={"api_token": TOKEN}), tmp_path / "runs", backend)
    assert run.result.status == "Failed"
    assert run.result.describe["FailureReason"].startswith("AlgorithmError: bad token ***")
    real = run.folder / "hosts" / "algo-1" / "model" / "real.txt"
    assert real.read_text() == "True"
    real.unlink()
    assert leaks(run.folder) == []


PEM = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
       "-----END PRIVATE KEY-----")
PEM_LINES = PEM.splitlines()[1:3]          # the key's body: the BEGIN/END lines say nothing
ARG_SECRET = "argsecret111"
MYSQL_PWD = "mysql-pwd-77c1"


def test_each_line_of_a_multi_line_secret_is_masked_and_pwd_names_are_secret():
    secrets = Secrets.of_request({"Environment": {"PRIVATE_KEY": PEM, "OTHER": "a\r\nb"}})
    log = "\n".join(f"[algo-1] {line}" for line in PEM.splitlines())   # masked a line at a time
    assert not any(line in "".join(map(secrets.text, log.splitlines())) for line in PEM_LINES)
    cr = Secrets.of_request({"Environment": {"API_TOKEN": "first-part\rsecond-part"}})
    assert cr.text("x first-part y") == "x *** y" and cr.text("second-part") == "***"
    assert is_secret_name("MYSQL_PWD") and is_secret_name("APP_PWD") and not is_secret_name("PWD")
    assert not is_secret_name("OLDPWD")


def test_a_job_argument_under_a_secret_name_is_masked_whatever_its_flag(tmp_path):
    from cursus_local.jobs.build import build
    from cursus_local.jobs.contracts import load_step
    from cursus_local.jobs.processing import RunOptions
    step = load_step(write_step(tmp_path, "s", "print(1)", {
        "job_arguments": [{"flag": "--db", "source": "password"}, {"flag": "--mode", "source": "mode"}]}))
    job = build(step, RunOptions(job_arguments={"password": ARG_SECRET, "mode": "fast"}), tmp_path / "out")
    masked = Secrets.of_job(job).request(job.request)
    assert masked["AppSpecification"]["ContainerArguments"] == ["--db", "***", "--mode", "fast"]
    assert Secrets.of_job(job).text(f"connecting with {ARG_SECRET}") == "connecting with ***"


@pytest.mark.docker
def test_a_pem_key_a_pwd_and_a_secret_job_argument_reach_no_file_nor_the_console(tmp_path):
    """The tester's breaks: a PEM key printed by the script showed in full in logs/algo-1.log, the
    console and results' log tail; `--job-arg password=...` (flag --db) and MYSQL_PWD in clear."""
    script = """
        import os, sys
        print(os.environ["PRIVATE_KEY"])
        print("pwd", os.environ["MYSQL_PWD"], "argv", sys.argv)
        print("cwd is", os.environ.get("PWD", "/"))
        sys.exit(1)
    """
    write_step(tmp_path, "pem", script, {"outputs": {"out": {"path": "/opt/ml/processing/output"}},
                                         "job_arguments": [{"flag": "--db", "source": "password"}]})
    (tmp_path / "dag.yaml").write_text("name: pem\nsteps_dir: .\nnodes:\n  pem: {}\nedges: []\n")
    proc = cli(["run-pipeline", "dag.yaml", "--runs-dir", "runs", "--env", f"pem.PRIVATE_KEY={PEM}",
                "--env", f"pem.MYSQL_PWD={MYSQL_PWD}", "--job-arg", f"pem.password={ARG_SECRET}"], tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    runs = tmp_path / "runs"
    log = next(runs.glob("*/pem/logs/algo-1.log")).read_text()
    assert "pwd ***" in log and "'--db', '***'" in log, log
    for secret in (*PEM_LINES, ARG_SECRET, MYSQL_PWD):
        for path in [p for p in runs.rglob("*") if p.is_file()]:
            assert secret not in path.read_text(errors="replace"), path
        assert secret not in proc.stdout + proc.stderr
