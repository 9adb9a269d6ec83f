"""Images: a missing image is a clear error; ECR pulls authenticate with boto3's credentials."""


import pytest
from cursus_local.backends.images import ecr_auth, ensure_image
from cursus_local.errors import UserError


@pytest.mark.docker
def test_a_missing_image_that_cannot_be_pulled_says_how_to_get_it(docker_client):
    with pytest.raises(UserError) as err:
        ensure_image(docker_client, "cursus-local/no-such-image:0")
    assert err.value.field == "compute.image" and "make images" in err.value.fix


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
