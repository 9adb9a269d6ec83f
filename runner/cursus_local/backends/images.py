"""Making sure a step's image is on the engine: local first, then a pull (ECR-authenticated)."""

from __future__ import annotations

import base64
import contextlib
import re

from ..errors import UserError

ECR_URI = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/")


def docker_client():
    import functools

    import docker
    try:
        client = docker.from_env(timeout=600)   # asks the engine's API version: fails if none answers
    except Exception as exc:  # docker.errors.DockerException and connection errors alike
        raise UserError(f"no Docker engine answers ({exc.__class__.__name__}: {exc})",
                        fix="start one with `make engine` (Linux, as root) or start Docker Desktop; "
                            "DOCKER_HOST selects another engine") from exc
    # what we read of `info` (root dir, engine id, cgroup driver) is fixed while the engine runs,
    # and each call costs ~8 ms: one per process
    client.info = functools.cache(client.info)
    return client


def ensure_image(client, uri: str) -> str:
    """The image's id; pulls it when missing. No credential is written anywhere."""
    import docker
    try:
        return client.images.get(uri).id
    except docker.errors.ImageNotFound:
        pass
    try:
        image = client.images.pull(uri, auth_config=ecr_auth(uri))
        return image.id
    except docker.errors.APIError as exc:
        raise UserError(f"image {uri} is not on this engine and could not be pulled: {exc.explanation}",
                        field="compute.image", fix=missing_image_fix(uri)) from exc


def missing_image_fix(uri: str) -> str:
    """What builds a missing image: one of our stand-ins names its `images/build.sh <dir>` (and
    `make images` when that builds it); any other image must be one you can pull."""
    from ..jobs.contracts import OUR_NAMESPACE, STAND_INS, build_hint
    hint = build_hint(uri)
    if hint:
        return f"build it with {hint}, or name an image you can pull (with --image or compute.image)"
    if uri.startswith(OUR_NAMESPACE + "runner"):
        return "build it with `make runner-image` (`images/build.sh runner`)"
    if uri.startswith(OUR_NAMESPACE):
        return ("this project builds no such image; use one it builds: "
                + ", ".join(f"{i} ({build_hint(i)})" for i in sorted(STAND_INS))
                + ", or name an image you can pull (with --image or compute.image)")
    return "name an image you can pull (with --image or compute.image), or log in to its registry"


def ecr_auth(uri: str) -> dict | None:
    """Docker auth for an ECR URI from boto3's credentials; None when not ECR or no credentials."""
    match = ECR_URI.match(uri)
    if not match:
        return None
    import boto3
    import botocore.exceptions
    try:
        ecr = boto3.session.Session().client("ecr", region_name=match["region"])   # today's credentials
        data = ecr.get_authorization_token(registryIds=[match["account"]])["authorizationData"][0]
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.ClientError):
        return None
    user, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    return {"username": user, "password": password}


LABEL = "cursus-local.job"   # on every container, network and volume this project makes


def docker_errors():
    import docker.errors
    return docker.errors


def already_gone():
    """Stopping or removing what the engine no longer has is fine."""
    return contextlib.suppress(docker_errors().APIError)
