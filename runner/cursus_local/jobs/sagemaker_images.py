"""Our stand-in image -> the real SageMaker framework image it stands in for, in a region.

The table is the training scope of the SageMaker Python SDK's `image_uris` config
(aws/sagemaker-python-sdk v2.257.7, `src/sagemaker/image_uri_config/{sklearn,xgboost,pytorch}.json`),
the scope SKLearnProcessor, FrameworkProcessor and the estimators retrieve, for the versions we build
a stand-in for (`contracts.FRAMEWORKS[...].stand_ins`). tests/test_sagemaker_backend.py checks every
entry against `sagemaker.image_uris.retrieve` (the SDK is a test-only dependency).
"""

from __future__ import annotations

from ..errors import UserError
from .contracts import FRAMEWORKS, OUR_NAMESPACE, STAND_INS

# Accounts of the first-party algorithm/framework registries (sagemaker-scikit-learn, sagemaker-xgboost)
FIRST_PARTY = {
    "af-south-1": "510948584623", "ap-east-1": "651117190479", "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698", "ap-northeast-3": "867004704886", "ap-south-1": "720646828776",
    "ap-south-2": "628508329040", "ap-southeast-1": "121021644041", "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941", "ap-southeast-4": "106583098589", "ca-central-1": "341280168497",
    "ca-west-1": "190319476487", "cn-north-1": "450853457545", "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770", "eu-central-2": "680994064768", "eu-north-1": "662702820516",
    "eu-south-1": "978288397137", "eu-south-2": "104374241257", "eu-west-1": "141502667606",
    "eu-west-2": "764974769150", "eu-west-3": "659782779980", "il-central-1": "898809789911",
    "me-central-1": "272398656194", "me-south-1": "801668240914", "sa-east-1": "737474898029",
    "us-east-1": "683313688378", "us-east-2": "257758044811", "us-gov-east-1": "237065988967",
    "us-gov-west-1": "414596584902", "us-iso-east-1": "833128469047", "us-isob-east-1": "281123927165",
    "us-isof-east-1": "108575199400", "us-isof-south-1": "124985052026", "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}
# Accounts of the Deep Learning Containers registries (pytorch-training 2.1.0)
DLC = {
    "af-south-1": "626614931356", "ap-east-1": "871362719292", "ap-east-2": "975050140332",
    "ap-northeast-1": "763104351884", "ap-northeast-2": "763104351884", "ap-northeast-3": "364406365360",
    "ap-south-1": "763104351884", "ap-south-2": "772153158452", "ap-southeast-1": "763104351884",
    "ap-southeast-2": "763104351884", "ap-southeast-3": "907027046896", "ap-southeast-4": "457447274322",
    "ap-southeast-5": "550225433462", "ap-southeast-6": "633930458069", "ap-southeast-7": "590183813437",
    "ca-central-1": "763104351884", "ca-west-1": "204538143572", "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807", "eu-central-1": "763104351884", "eu-central-2": "380420809688",
    "eu-north-1": "763104351884", "eu-south-1": "692866216735", "eu-south-2": "503227376785",
    "eu-west-1": "763104351884", "eu-west-2": "763104351884", "eu-west-3": "763104351884",
    "il-central-1": "780543022126", "me-central-1": "914824155844", "me-south-1": "217643126080",
    "mx-central-1": "637423239942", "sa-east-1": "763104351884", "us-east-1": "763104351884",
    "us-east-2": "763104351884", "us-gov-east-1": "446045086412", "us-gov-west-1": "442386744353",
    "us-iso-east-1": "886529160074", "us-isob-east-1": "094389454867", "us-isof-east-1": "303241398832",
    "us-isof-south-1": "454834333376", "us-west-1": "763104351884", "us-west-2": "763104351884",
}

# (framework, version) -> (repository, tag, registries); one image serves processing and training
REAL_IMAGES: dict[tuple[str, str], tuple[str, str, dict[str, str]]] = {
    ("sklearn", "1.2-1"): ("sagemaker-scikit-learn", "1.2-1-cpu-py3", FIRST_PARTY),
    ("sklearn", "1.0-1"): ("sagemaker-scikit-learn", "1.0-1-cpu-py3", FIRST_PARTY),
    ("xgboost", "1.7-1"): ("sagemaker-xgboost", "1.7-1", FIRST_PARTY),
    ("pytorch", "2.1.0"): ("pytorch-training", "2.1.0-cpu-py310", DLC),
}


def ecr_domain(region: str) -> str:
    """The registry host's domain for a partition (what the SDK's endpoint resolution gives)."""
    if region.startswith("cn-"):
        return "amazonaws.com.cn"
    if region.startswith("us-isob-"):
        return "sc2s.sgov.gov"
    if region.startswith("us-isof-"):
        return "csp.hci.ic.gov"
    if region.startswith("us-iso-"):
        return "c2s.ic.gov"
    return "amazonaws.com"


def real_image_uri(framework: str, version: str, region: str) -> str:
    """The SageMaker framework image for our `framework` (sklearn, xgboost, pytorch) at `version`
    in `region`; a UserError names the versions and regions there are."""
    entry = REAL_IMAGES.get((framework, version))
    if entry is None:
        known = ", ".join(f"{f} {v}" for f, v in REAL_IMAGES)
        raise UserError(f"no SageMaker image known for {framework} {version}; the table has: {known}",
                        field="compute.framework_version",
                        fix="use one of those versions, or push your image and name it with --image")
    repository, tag, registries = entry
    account = registries.get(region)
    if account is None:
        raise UserError(f"SageMaker has no {repository}:{tag} image in region {region!r} "
                        f"(it has one in: {', '.join(sorted(registries))})",
                        field="--region",
                        fix="pick one of those regions with --region (or AWS_REGION), or push the image "
                            "to your own ECR there and name it with --image")
    return f"{account}.dkr.ecr.{region}.{ecr_domain(region)}/{repository}:{tag}"


def stand_in_framework(image: str) -> tuple[str, str] | None:
    """(framework, version) of one of our stand-in images; None for any other image."""
    if image not in STAND_INS:
        return None
    repo, _, version = image.rpartition(":")
    for name, framework in FRAMEWORKS.items():
        if repo in (framework.processing_repo, framework.training_repo):
            return name, version
    return None


def remote_image(image: str, region: str) -> str:
    """The image a SageMaker job runs for the local job's `image`: the real framework image for one
    of our stand-ins; an image the user named (pushed to a registry SageMaker pulls from) as it is."""
    found = stand_in_framework(image)
    if found is not None:
        return real_image_uri(*found, region)
    if image.startswith(OUR_NAMESPACE):
        raise UserError(f"{image} exists only on this machine's engine; SageMaker cannot pull it",
                        field="compute.image",
                        fix="push it to an ECR repository of yours (`docker tag` + `docker push`) and "
                            "name the pushed URI with --image or compute.image")
    return image
