#!/usr/bin/env bash
# ci-templates/nightly.sh: what both nightly templates run once the images are built. For each DAG
# in $CURSUS_LOCAL_DAGS (default: the demo): run-pipeline with JUnit XML, export the run's results,
# compare them with the baseline the last good night kept (baseline/<name>.json), then one HTML
# report of every run. Exit 1 when a pipeline failed or something regressed; on success, baseline/
# holds tonight's results, for the CI to keep (GitHub: a cache; GitLab: a cache saved on success).
# Env: CURSUS_LOCAL (the command; default .venv/bin/cursus-local), CURSUS_LOCAL_RUNS (default runs),
# REPORTS (default reports), BASELINE (default baseline).
set -uo pipefail
CLI=${CURSUS_LOCAL:-.venv/bin/cursus-local}
export CURSUS_LOCAL_RUNS=${CURSUS_LOCAL_RUNS:-$PWD/runs}
REPORTS=${REPORTS:-reports}
BASELINE=${BASELINE:-baseline}
mkdir -p "$REPORTS/junit" "$REPORTS/results" "$BASELINE"
failed=0
for dag in ${CURSUS_LOCAL_DAGS:-scenarios/demo/dag.yaml}; do
    name=$(basename "$(dirname "$dag")")-$(basename "$dag" .yaml)
    echo "::group::run-pipeline $dag" 2>/dev/null || true
    "$CLI" run-pipeline "$dag" --junit-xml "$REPORTS/junit/$name.xml" --json || failed=1
    "$CLI" export-results --run latest --out "$REPORTS/results/$name.json" || { failed=1; continue; }
    if [ -f "$BASELINE/$name.json" ]; then
        "$CLI" compare-results --baseline "$BASELINE/$name.json" --current "$REPORTS/results/$name.json" ||
            failed=1
    else
        echo "no baseline for $name yet: tonight's results become it"
    fi
done
"$CLI" generate-report --runs "$CURSUS_LOCAL_RUNS" --out "$REPORTS/html" || failed=1
if [ "$failed" = 0 ]; then
    cp "$REPORTS"/results/*.json "$BASELINE"/
fi
exit "$failed"
