#!/usr/bin/env bash
# Ensure a Docker engine answers. Idempotent:
#   - if `docker info` answers: do nothing;
#   - else install Debian's docker.io if dockerd is missing (apt-get update once);
#   - start dockerd as root in the background (log: $DOCKERD_LOG) and wait for it.
#
# Storage driver: we try overlay2 first (works on this CI VM: / is ext4, kernel
# supports overlayfs) and fall back to vfs if dockerd cannot start with it or
# overlay2 cannot actually run a container (vfs works everywhere but copies
# every layer in full: slow and disk-hungry). Override with DOCKER_STORAGE_DRIVER.
# The driver picked is remembered in $STATE_DIR/storage-driver.
#
# Env: DOCKERD_LOG (default /var/log/dockerd.log), ENGINE_TIMEOUT (s, default 60),
#      DOCKER_STORAGE_DRIVER (force a driver).
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
ENGINE_TIMEOUT=${ENGINE_TIMEOUT:-60}
STATE_DIR=${STATE_DIR:-/var/lib/cursus-local}
DOCKER=docker
[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker

log() { echo "[ensure-engine] $*" >&2; }
die() { echo "[ensure-engine] ERROR: $*" >&2; exit 1; }

engine_up() { "$DOCKER" info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_up; then
    log "engine already answers ($("$DOCKER" info --format '{{.ServerVersion}} / {{.Driver}}' 2>/dev/null))"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "no Docker engine answers and we are not root: start Docker (Docker Desktop, colima, 'sudo systemctl start docker') and retry"

if ! command -v dockerd >/dev/null 2>&1; then
    log "dockerd missing: installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io iptables ca-certificates >/dev/null
    command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd not found"
    [ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker
fi

# A stale pid/socket from a dead daemon blocks a new one.
if [ -f /var/run/docker.pid ]; then
    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        log "dockerd (pid $pid) is running but does not answer yet; waiting"
        for _ in $(seq "$ENGINE_TIMEOUT"); do engine_up && { log "engine up"; exit 0; }; sleep 1; done
        die "dockerd pid $pid never answered within ${ENGINE_TIMEOUT}s; see $DOCKERD_LOG"
    fi
    rm -f /var/run/docker.pid
fi

# The daemon needs containerd; Debian's dockerd starts its own if none runs.
mkdir -p "$STATE_DIR" "$(dirname "$DOCKERD_LOG")"

start_dockerd() {  # $1 = storage driver; returns 0 once `docker info` answers
    local driver=$1 pid
    log "starting dockerd --storage-driver=$driver (log: $DOCKERD_LOG)"
    # setsid+nohup: survives the calling shell; stdin from /dev/null (CI has none).
    setsid nohup dockerd --storage-driver="$driver" ${DOCKERD_EXTRA_ARGS:-} \
        >>"$DOCKERD_LOG" 2>&1 </dev/null &
    pid=$!
    for _ in $(seq "$ENGINE_TIMEOUT"); do
        if engine_up; then log "engine up after ~${SECONDS}s (pid $pid, driver $driver)"; return 0; fi
        kill -0 "$pid" 2>/dev/null || { log "dockerd exited; last log lines:"; tail -n 15 "$DOCKERD_LOG" >&2; return 1; }
        sleep 1
    done
    log "dockerd did not answer within ${ENGINE_TIMEOUT}s; stopping it"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 1
}

stop_dockerd() {
    local pid
    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    rm -f /var/run/docker.pid
}

# Does the driver really work? A layer mount is only exercised when a
# container is created, so create (no image needed: import an empty rootfs).
driver_works() {
    local out
    out=$( { tar -cf - --files-from /dev/null | "$DOCKER" import - cursus-local/probe:empty >/dev/null &&
             "$DOCKER" create --name cursus-local-probe cursus-local/probe:empty /none >/dev/null &&
             "$DOCKER" rm cursus-local-probe >/dev/null &&
             "$DOCKER" rmi cursus-local/probe:empty >/dev/null; } 2>&1 ) && return 0
    log "storage driver probe failed: $out"
    "$DOCKER" rm -f cursus-local-probe >/dev/null 2>&1 || true
    return 1
}

SECONDS=0
if [ -n "${DOCKER_STORAGE_DRIVER:-}" ]; then
    candidates=("$DOCKER_STORAGE_DRIVER")
elif [ -s "$STATE_DIR/storage-driver" ]; then
    candidates=("$(cat "$STATE_DIR/storage-driver")" overlay2 vfs)
else
    candidates=(overlay2 vfs)
fi

for driver in "${candidates[@]}"; do
    if start_dockerd "$driver"; then
        if driver_works; then
            echo "$driver" >"$STATE_DIR/storage-driver"
            log "ready in ${SECONDS}s: $("$DOCKER" info --format '{{.ServerVersion}}, driver {{.Driver}}, cgroup v{{.CgroupVersion}}')"
            exit 0
        fi
        stop_dockerd
    fi
done
die "could not start a working dockerd (tried: ${candidates[*]}); see $DOCKERD_LOG"
