#!/bin/sh
# venv-install.sh PIP_ARGS...: make the venv at $VIRTUAL_ENV and pip-install PIP_ARGS into it, for
# the runner and moto Dockerfiles.
#
# Behind a TLS-intercepting proxy pip needs the proxy's CA. It comes either as a file, a BuildKit
# secret (PIP_CERT_FILE=/run/secrets/pipcert, images/build.sh), or as text in PIP_CA_PEM, a build
# arg of the Dockerfiles docker compose builds (no BuildKit there: Debian's docker-compose 1.29
# uses the legacy builder), used only in their build stage, whose venv alone is copied on. Either
# way the CA is used here and never kept in the image.
set -eu
ca=""
if [ -s "${PIP_CERT_FILE:-}" ]; then
    ca=$PIP_CERT_FILE
elif [ -n "${PIP_CA_PEM:-}" ]; then
    ca=$(mktemp)
    trap 'rm -f "$ca"' EXIT
    { cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null || true; printf '%s\n' "$PIP_CA_PEM"; } >"$ca"
fi
if [ -n "$ca" ]; then export PIP_CERT="$ca"; fi
python3 -m venv "$VIRTUAL_ENV"
ln -sf python3 "$VIRTUAL_ENV/bin/python"
"$VIRTUAL_ENV/bin/python3" -m pip install --no-cache-dir --upgrade pip
"$VIRTUAL_ENV/bin/python3" -m pip install --no-cache-dir "$@"
rm -rf /root/.cache
find "$VIRTUAL_ENV" -name __pycache__ -prune -exec rm -rf {} +
