#!/usr/bin/env bash
# Build the cursus-local images: every images/<name>/Dockerfile (or only the
# names given as arguments).
#
# Each Dockerfile declares, in header comments:
#   # image: <tag>                 the tag to build (required)
#   # context: <dir>               build context relative to the repo root
#                                  (default: the Dockerfile's own directory)
#   # hash-also: <paths...>        extra repo paths whose content invalidates the image
#   # default: no                  only built when named (or ALL=1), e.g. the runner
#   # also-tag: <tags...>          more tags for the same image (same id), e.g. one
#                                  image that serves both processing and training
# and `ARG BASE=<registry image>` (e.g. python:3.9-slim-bullseye).
#
# Base image: we use BASE if it exists locally or `docker pull` works (a laptop
# with a registry). Otherwise (CI here: no registry) we bootstrap an equivalent
# Debian rootfs with debootstrap -- the suite is taken from the tag
# (python:3.9-slim-bullseye -> bullseye) -- import it as cursus-local/base:<suite>
# (cached: skipped if that image exists) and build with --build-arg BASE=that.
#
# An image is skipped when it exists and its `cursus-local.hash` label matches
# the hash of its inputs (Dockerfile dir + hash-also paths + base image id);
# FORCE=1 rebuilds anyway.
#
# Env: FORCE=1, ALL=1 (also build `# default: no` images), PIP_CERT (CA bundle passed as BuildKit secret `pipcert` if the
#      file exists; never baked into an image), DEBIAN_MIRROR (default: first
#      deb.debian.org-style URI in /etc/apt/sources.list*), NO_PULL=1 (skip pull).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DOCKER=docker
[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker   # Debian's client has BuildKit built in
export DOCKER_BUILDKIT=1
FORCE=${FORCE:-0}

log() { echo "[build] $*" >&2; }
die() { echo "[build] ERROR: $*" >&2; exit 1; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }

"$DOCKER" info >/dev/null 2>&1 || die "no Docker engine answers; run images/ensure-engine.sh (make engine)"

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

debian_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
    local m
    m=$(grep -hoE '(URIs:|deb)[[:space:]]+https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
            /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
        grep -v security | awk '{print $2}' | head -n1 || true)
    echo "${m:-http://deb.debian.org/debian}"
}

# resolve_base <BASE default from Dockerfile>  -> sets BASE_RESOLVED (the image to build FROM)
declare -A RESOLVED=()
resolve_base() {
    local want=$1 suite tag dir t0
    if [ -n "${RESOLVED[$want]:-}" ]; then BASE_RESOLVED=${RESOLVED[$want]}; return; fi
    if image_exists "$want"; then
        log "base $want: present locally"; RESOLVED[$want]=$want; BASE_RESOLVED=$want; return
    fi
    if [ "${NO_PULL:-0}" != 1 ]; then
        t0=$(now)
        if timeout 120 "$DOCKER" pull -q "$want" >/dev/null 2>&1; then
            log "base $want: pulled in $(took "$t0")"; RESOLVED[$want]=$want; BASE_RESOLVED=$want; return
        fi
        log "base $want: pull failed after $(took "$t0") (no registry?) -> using a debootstrapped Debian base"
    fi
    suite=${want##*-}            # python:3.9-slim-bullseye -> bullseye
    case $suite in bullseye|bookworm|trixie) ;; *) die "cannot derive a Debian suite from base '$want'";; esac
    tag=cursus-local/base:$suite
    if image_exists "$tag"; then
        log "base $tag: cached"; RESOLVED[$want]=$tag; BASE_RESOLVED=$tag; return
    fi
    [ "$(id -u)" = 0 ] || die "bootstrapping a base needs root (debootstrap); or make '$want' pullable"
    command -v debootstrap >/dev/null 2>&1 || {
        log "installing debootstrap"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
    dir=$(mktemp -d /var/tmp/cursus-base-"$suite".XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -rf '$dir'" EXIT
    local mirror; mirror=$(debian_mirror)
    t0=$(now)
    log "debootstrap --variant=minbase $suite from $mirror (a few minutes)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        "$suite" "$dir" "$mirror" >"$dir.log" 2>&1 ||
        { tail -n 20 "$dir.log" >&2; die "debootstrap failed (log: $dir.log)"; }
    # Trim what a container never needs (python:*-slim does the same kind of thing).
    chroot "$dir" apt-get clean
    rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/usr/share/doc/* \
           "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/var/log/*.log "$dir"/tmp/*
    log "debootstrap took $(took "$t0")"
    t0=$(now)
    tar -C "$dir" --numeric-owner -c . |
        "$DOCKER" import -c 'ENV LANG=C.UTF-8' -c 'CMD ["bash"]' - "$tag" >/dev/null
    rm -rf "$dir" "$dir.log"; trap - EXIT
    log "base $tag: imported in $(took "$t0") ($("$DOCKER" image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
    RESOLVED[$want]=$tag; BASE_RESOLVED=$tag
}

header() { sed -n "s/^# $2:[[:space:]]*//p" "$1" | head -n1; }

inputs_hash() {  # <dockerfile dir> <base image id> <hash-also paths...>
    local d=$1 base_id=$2; shift 2
    {
        echo "$base_id"
        (cd "$d" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
        for p in "$@"; do
            (cd "$ROOT" && find "$p" -type f -not -path '*/__pycache__/*' -not -name '*.pyc' -print0 |
                sort -z | xargs -0 -r sha256sum)
        done
    } | sha256sum | cut -c1-16
}

tag_aliases() {  # <tag> <alias tags...>: point each alias at the image of <tag>
    local tag=$1 a; shift
    for a in "$@"; do "$DOCKER" tag "$tag" "$a"; log "$a: same image as $tag"; done
}

build_one() {
    local df=$1 d name tag ctx base want base_id hash have t0 secret=()
    d=$(dirname "$df"); name=$(basename "$d")
    tag=$(header "$df" image); [ -n "$tag" ] || die "$df: missing '# image: <tag>' header"
    ctx=$(header "$df" context); ctx=${ctx:+$ROOT/$ctx}; ctx=${ctx:-$d}
    # shellcheck disable=SC2207
    local also=($(header "$df" hash-also))
    # shellcheck disable=SC2207
    local aliases=($(header "$df" also-tag))
    want=$(sed -n 's/^ARG BASE=//p' "$df" | head -n1)
    [ -n "$want" ] || die "$df: missing 'ARG BASE=<image>'"
    resolve_base "$want"; base=$BASE_RESOLVED
    base_id=$("$DOCKER" image inspect -f '{{.Id}}' "$base")
    hash=$(inputs_hash "$d" "$base_id" "${also[@]}")
    if [ "$FORCE" != 1 ] && image_exists "$tag"; then
        have=$("$DOCKER" image inspect -f '{{index .Config.Labels "cursus-local.hash"}}' "$tag" 2>/dev/null || true)
        if [ "$have" = "$hash" ]; then
            log "$tag: up to date (skip; FORCE=1 rebuilds)"; tag_aliases "$tag" "${aliases[@]}"; return
        fi
        log "$tag: exists but inputs changed ($have -> $hash): rebuilding"
    fi
    local old_id; old_id=$("$DOCKER" image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
    if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then secret=(--secret "id=pipcert,src=$PIP_CERT"); fi
    t0=$(now)
    log "building $tag from $want (FROM $base), context $ctx"
    "$DOCKER" build --progress=plain -f "$df" \
        --build-arg "BASE=$base" --label "cursus-local.hash=$hash" \
        "${secret[@]}" -t "$tag" "$ctx"
    tag_aliases "$tag" "${aliases[@]}"
    # Drop the image this one replaced (now untagged) unless a container uses it.
    if [ -n "$old_id" ] && [ "$old_id" != "$("$DOCKER" image inspect -f '{{.Id}}' "$tag")" ]; then
        "$DOCKER" rmi "$old_id" >/dev/null 2>&1 || true
    fi
    log "$tag: built in $(took "$t0"), size $("$DOCKER" image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
}

T0=$(now)
if [ $# -gt 0 ]; then
    dfs=(); for n in "$@"; do dfs+=("$HERE/$n/Dockerfile"); done
else
    dfs=()
    for df in "$HERE"/*/Dockerfile; do
        if [ "$(header "$df" default)" = no ] && [ "${ALL:-0}" != 1 ]; then
            log "$(header "$df" image): not a default image (build with: images/build.sh $(basename "$(dirname "$df")"))"
            continue
        fi
        dfs+=("$df")
    done
fi
for df in "${dfs[@]}"; do
    [ -f "$df" ] || die "no such Dockerfile: $df"
    build_one "$df"
done
log "all done in $(took "$T0")"
