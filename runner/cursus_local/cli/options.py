"""What several commands parse alike: NAME=VALUE pairs, and the help of the options they share."""

from __future__ import annotations

from ..errors import UserError

DAG_HELP = "Our dag.yaml or a Cursus *.dag.json"
STEPS_DIR_HELP = "More folders holding step files"
STEP_SCENARIO_HELP = "Scenario folder to find the step in"
SCENARIO_HELP = "Scenario folder holding steps/ and test_scenarios.yaml"
CONFIG_HELP = "Test scenarios file (default: <scenario>/test_scenarios.yaml)"
RUNS_HELP = "Where run folders go (default: <scenario>/runs)"
CODE_HELP = "Folder holding the entry point scripts (a node's or the DAG's `code:` wins)"
NODE_INPUT_HELP = "NODE.INPUT=PATH (or s3://...): feed an input from outside, repeatable"
NODE_ENV_HELP = "NODE.KEY=VALUE: an environment variable of one node, repeatable"
NODE_JOB_ARG_HELP = "NODE.NAME=VALUE: a job argument of one node, repeatable"
PROVIDE_HELP = "NODE.OUTPUT=PATH: this output is given; the node does not run. Repeatable"
SKIP_HELP = "NODE: don't run it; whatever it feeds must be provided. Repeatable"
ONLY_HELP = "NODE: run only these nodes (repeatable); what they lose must be provided"
FROM_HELP = "NODE: run it and what comes after it"
TO_HELP = "NODE: run it and what comes before it"
WHEELHOUSE_HELP = ("Folder of wheels every job's pip may install from (mounted read-only, PIP_FIND_LINKS; "
                   "default $CURSUS_LOCAL_WHEELHOUSE)")
PIP_OFFLINE_HELP = "With --wheelhouse: pip uses nothing else (PIP_NO_INDEX)"
SECRET_ENV_HELP = ("NAME: mask the value of this environment variable or job argument in every file and "
                   "output, as names like *PASSWORD*, *TOKEN*, *SECRET* are. Repeatable")


def bind_dag(dag, *, code=None, input=None, env=None, job_arg=None, provide=None, skip=None,
             only=None, from_=None, to=None, wheelhouse=None, pip_offline=False):
    """The one-off bindings and selection flags of the DAG commands, applied to a loaded DAG."""
    from ..pipeline.dag import bind, select

    bind(dag, inputs=pairs(input, "--input"), env=pairs(env, "--env"), job_arguments=pairs(job_arg, "--job-arg"),
         provide=pairs(provide, "--provide"),
         skip=tuple(skip or ()), code=code, wheelhouse=wheelhouse, pip_offline=pip_offline)
    if only or from_ or to:
        select(dag, tuple(only or ()), from_, to)
    return dag


def pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    """`--flag NAME=VALUE`, repeated, as a dict; anything else is the user's error."""
    out = {}
    for value in values or []:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise UserError(f"{flag} {value!r} is not NAME=VALUE", field=flag,
                            fix=f"write {flag} NAME=VALUE")
        out[key] = val
    return out


def yaml_pairs(values: list[str] | None, flag: str) -> dict:
    """`--flag KEY=YAML`, repeated: each value read as YAML, e.g. currencies=[USD,EUR]."""
    import yaml   # only the commands that take such values pay for it

    try:
        return {k: yaml.safe_load(v) for k, v in pairs(values, flag).items()}
    except yaml.YAMLError as exc:
        raise UserError(f"{flag} value is not YAML: {exc}", field=flag,
                        fix="write KEY=VALUE, e.g. currencies=[USD,EUR] or missing_currency_rate=0.1") from None

BACKEND_HELP = "Where jobs run: docker (this machine's engine) or sagemaker (the service; needs --role, --bucket)"
ROLE_HELP = "--backend sagemaker: the execution role's ARN (arn:aws:iam::<account>:role/<name>)"
BUCKET_HELP = "--backend sagemaker: the bucket for code, inputs (s3://<bucket>/cursus-local/<hash>/) and outputs"
REGION_HELP = "--backend sagemaker: the AWS region (default: AWS_REGION / the profile's)"


def make_backend(name: str, role: str | None = None, bucket: str | None = None, region: str | None = None):
    """The backend `--backend` names; SageMaker's checks role, bucket, region and credentials here,
    before anything is built or uploaded."""
    if name == "sagemaker":
        from ..backends.sagemaker import SageMakerBackend
        return SageMakerBackend(role, bucket, region)
    if name != "docker":
        raise UserError(f"unknown backend {name!r}", field="--backend", fix="use --backend docker or --backend sagemaker")
    if role or bucket or region:
        raise UserError("--role, --bucket and --region are for --backend sagemaker", field="--backend",
                        fix="add --backend sagemaker, or drop them")
    from ..backends.docker import DockerBackend
    return DockerBackend()


JUNIT_XML_HELP = "Also write the results as JUnit XML to this file (one testcase per step, check or test)"
JSON_SUMMARY_HELP = "End with one JSON line on stdout: status, counts, run folder, result files"
