"""Package: build the deployable model.tar.gz (model artifacts + calibration + inference code).

Interface: ../shared/cursus/interfaces/package.step.yaml (Processing, sklearn).

  input   model_input              /opt/ml/processing/input/model        required; model.tar.gz (extracted
                                                                         into WORKING_DIRECTORY, not into the
                                                                         input) or the artifacts themselves
  input   inference_scripts_input  /opt/ml/processing/input/script       optional; copied to code/
  input   calibration_model        /opt/ml/processing/input/calibration  optional; copied to calibration/
  output  packaged_model           /opt/ml/processing/output             model.tar.gz
  args    none (the interface declares no job arguments)
  env     WORKING_DIRECTORY (/tmp/mims_packaging_directory)

The archive is reproducible: sorted members, mtime 0, owner root, gzip header without a time, so
the same inputs give the same bytes. Model files keep their bytes: xgboost_model.bst inside the
package hashes the same as in the Training job's model.tar.gz (the log prints both hashes).
"""
import argparse
import gzip
import hashlib
import os
import shutil
import sys
import tarfile
from pathlib import Path

MODEL_IN = Path("/opt/ml/processing/input/model")
SCRIPTS_IN = Path("/opt/ml/processing/input/script")
CALIBRATION_IN = Path("/opt/ml/processing/input/calibration")
OUTPUT = Path("/opt/ml/processing/output")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def safe_extract(tar_path: Path, dest: Path) -> None:
    with tarfile.open(tar_path, "r:*") as tar:
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if dest.resolve() not in (target, *target.parents) or member.issym() or member.islnk():
                raise ValueError(f"refusing to extract {member.name!r} from {tar_path}")
        tar.extractall(path=dest)


def copy_tree(src: Path, dest: Path) -> int:
    count = 0
    for item in sorted(src.rglob("*")):
        if item.is_file():
            target = dest / item.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item, target)
            count += 1
    return count


def reproducible_tar(src: Path, out_path: Path) -> None:
    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
        return info

    with open(out_path, "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for item in sorted(src.rglob("*")):
            if item.is_file():
                tar.add(item, arcname=str(item.relative_to(src)), filter=clean)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    work = Path(os.environ.get("WORKING_DIRECTORY", "/tmp/mims_packaging_directory"))
    print(f"WORKING_DIRECTORY={work}")
    if work.exists() and any(work.iterdir()):
        raise ValueError(f"WORKING_DIRECTORY {work} is not empty; name a fresh folder")
    work.mkdir(parents=True, exist_ok=True)

    if not MODEL_IN.is_dir():
        raise FileNotFoundError(f"input model_input: {MODEL_IN} does not exist")
    model_tar = MODEL_IN / "model.tar.gz"
    if model_tar.is_file():
        print(f"model_input: {model_tar} sha256 {sha256(model_tar)}")
        safe_extract(model_tar, work)
    else:
        n = copy_tree(MODEL_IN, work)
        print(f"model_input: no model.tar.gz, copied {n} files from {MODEL_IN}")
    if not any(work.iterdir()):
        raise FileNotFoundError(f"input model_input: nothing to package in {MODEL_IN}")

    for name, src, sub in (("calibration_model", CALIBRATION_IN, "calibration"),
                           ("inference_scripts_input", SCRIPTS_IN, "code")):
        if src.is_dir() and any(src.iterdir()):
            n = copy_tree(src, work / sub)
            print(f"{name}: copied {n} files from {src} to {sub}/")
        else:
            print(f"{name}: not provided (optional)")

    OUTPUT.mkdir(parents=True, exist_ok=True)
    out = OUTPUT / "model.tar.gz"
    reproducible_tar(work, out)
    for item in sorted(work.rglob("*")):
        if item.is_file():
            print(f"  {item.relative_to(work)}  {item.stat().st_size} B  sha256 {sha256(item)}")
    print(f"wrote {out} ({out.stat().st_size} B, sha256 {sha256(out)})")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001  (one clear line, non-zero exit)
        print(f"ERROR package: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
