#!/opt/venv/bin/python3
"""cursus-local-s3 [FOLDER=s3://BUCKET/PREFIX ...]: a local S3 store (moto's server, all its AWS
APIs) on port 5000, first seeded with each FOLDER's files under its URI (the bucket is made).

It writes /tmp/seeded once seeding is done, for docker-compose.yml's healthcheck: the runner starts
only then. Seeding here, not in a service of its own, because a seed container that exits would
end `docker compose up --exit-code-from runner` (--abort-on-container-exit) before the runner ran.
"""

import signal
import sys
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

PORT = 5000
READY = Path("/tmp/seeded")


def seed(s3, folder: Path, uri: str) -> None:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = "/".join(part for part in (prefix.strip("/"), path.relative_to(folder).as_posix()) if part)
        s3.upload_file(str(path), bucket, key)
        print(f"seeded s3://{bucket}/{key} ({path.stat().st_size} bytes)", flush=True)


def main(pairs: list[str]) -> None:
    seeds = [pair.split("=", 1) for pair in pairs]
    if any(len(s) != 2 or not s[1].startswith("s3://") or not Path(s[0]).is_dir() for s in seeds):
        sys.exit(__doc__)
    # PID 1 in a container: SIGTERM (docker stop) only ends it through a handler
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadedMotoServer(ip_address="0.0.0.0", port=PORT, verbose=False)
    server.start()
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{PORT}", region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    for folder, uri in seeds:
        seed(s3, Path(folder), uri)
    READY.touch()
    print(f"S3 store ready on port {PORT}", flush=True)
    signal.pause()


if __name__ == "__main__":
    main(sys.argv[1:])
