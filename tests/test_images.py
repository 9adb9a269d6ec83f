"""Images: a missing image is a clear error; ECR pulls authenticate with boto3's credentials."""


import pytest
from cursus_local.backends.images import ecr_auth, ensure_image
from cursus_local.errors import UserError


@pytest.mark.docker
def test_a_missing_image_that_cannot_be_pulled_says_how_to_get_it(docker_client):
    with pytest.raises(UserError) as err:
        ensure_image(docker_client, "cursus-local/no-such-image:0")
    assert err.value.field == "compute.image" and "builds no such image" in err.value.fix


def test_ecr_uri_gets_a_token_from_the_ecr_api(moto, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", moto)            # a real ECR API (moto server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    auth = ecr_auth("123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3")
    assert auth["username"] == "AWS" and auth["password"]
    assert ecr_auth("cursus-local/sklearn-processing:1.2-1") is None   # not ECR: no auth


def test_ecr_without_credentials_pulls_anonymously(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert ecr_auth("123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1") is None


class _NoImages:
    """An engine without the image and a registry that refuses the pull."""
    class images:
        @staticmethod
        def get(uri):
            import docker
            raise docker.errors.ImageNotFound(uri)

        @staticmethod
        def pull(uri, auth_config=None):
            import docker
            raise docker.errors.APIError("pull access denied", explanation="pull access denied")


@pytest.mark.parametrize("uri, fix", [
    ("cursus-local/sklearn-processing:1.0-1", "`images/build.sh sklearn-processing-1.0-1` (or `make images`)"),
    ("cursus-local/pytorch-training:2.1.0", "`images/build.sh pytorch-2.1.0`"),
    ("cursus-local/xgboost-training:1.7-1", "`images/build.sh xgboost-1.7-1` (or `make images`)"),
])
def test_a_missing_stand_in_names_what_builds_it(uri, fix):
    with pytest.raises(UserError) as err:
        ensure_image(_NoImages(), uri)
    assert err.value.field == "compute.image" and f"build it with {fix}" in err.value.fix
    if "pytorch" in uri:
        assert "make images" not in err.value.fix       # `make images` skips it (# default: no)


def test_a_missing_image_of_ours_we_dont_build_lists_those_we_do():
    with pytest.raises(UserError) as err:
        ensure_image(_NoImages(), "cursus-local/no-such-image:0")
    assert "builds no such image" in err.value.fix and "images/build.sh xgboost-1.7-1" in err.value.fix
    with pytest.raises(UserError) as err:
        ensure_image(_NoImages(), "example.invalid/team/image:1")
    assert "make images" not in err.value.fix and "--image" in err.value.fix


def test_no_engine_is_a_clear_error_with_its_fix(tmp_path, monkeypatch):
    from cursus_local.backends.images import docker_client
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(UserError, match="no Docker engine answers") as caught:
        docker_client()
    assert "make engine" in caught.value.fix


@pytest.mark.docker
def test_the_engine_is_asked_for_its_info_once_per_process(docker_client):
    from cursus_local.backends.images import docker_client as connect
    client = connect()
    calls = []
    client.api.info = lambda: calls.append(1) or {"ID": "x"}   # what the cached info calls
    first, second = client.info(), client.info()
    assert first is second and len(calls) == 1
