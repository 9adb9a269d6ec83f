#!/usr/bin/env bash
# Runs this scenario's scripts by hand, with plain `docker run`, in DAG order
# (../shared/cursus/dags/xgboost_complete_e2e_dummy.dag.json, Registration left out), each in
# the image its interface names, with every folder mounted at exactly the interface's path.
# It shows that the scripts fit each other; the runner does not need this file.
#
#   scenarios/cursus_e2e/prove_chain.sh [WORKDIR]     # default: a new /tmp/cursus_e2e_chain.XXXX
#
# What plays the runner's part here:
#   - processing: python3 /opt/ml/processing/input/code/<entry>.py <job args>; the one code
#     file mounted there (SKLearnProcessor style); inputs read-only, except the evaluation's model
#     input, which is a writable COPY (SageMaker File mode; the script untars into it);
#   - training (script mode): cwd /opt/ml/code with the script there, channels
#     /opt/ml/input/data/{train,val,test}, /opt/ml/input/config/{hyperparameters,inputdataconfig,
#     resourceconfig}.json (hyperparameter values as JSON strings), the SM_* environment, the
#     hyperparameters as `--key value` arguments (rendered the way the training toolkit does),
#     then /opt/ml/model packed into model.tar.gz and /opt/ml/output/data into output.tar.gz.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SCRIPTS=$HERE/scripts
W=${1:-$(mktemp -d /tmp/cursus_e2e_chain.XXXXXX)}
mkdir -p "$W"
W=$(cd "$W" && pwd)
SK12=cursus-local/sklearn-processing:1.2-1   # dummy_data_loading (framework_version_default 1.2-1),
                                             # tabular_preprocessing (no default: the sklearn default)
SK10=cursus-local/sklearn-processing:1.0-1   # model_calibration, package, payload (default 1.0-1)
XGBP=cursus-local/xgboost-processing:1.7-1   # xgboost_model_eval (kind: xgboost)
XGBT=cursus-local/xgboost-training:1.7-1     # xgboost_training (kind: estimator, sdk_class XGBoost)
USER_FLAG=(--user "$(id -u):$(id -g)")
P=/opt/ml/processing

for image in $SK12 $SK10 $XGBP $XGBT; do
    docker image inspect "$image" >/dev/null 2>&1 || { echo "missing image $image (make images)" >&2; exit 2; }
done

run() {  # echo the command, then run it
    printf '\n$'; printf ' %q' "$@"; printf '\n'
    "$@"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }

echo "work folder: $W"

# --- DummyDataLoading_training / _calibration (no job arguments) ---------------------------
for jt in training calibration; do
    mkdir -p "$W/DummyDataLoading_$jt"/{DATA,SIGNATURE,METADATA}
    run docker run --rm "${USER_FLAG[@]}" --network none \
        -v "$SCRIPTS/dummy_data_loading.py:$P/input/code/dummy_data_loading.py:ro" \
        -v "$HERE/data/$jt:$P/input/data:ro" \
        -v "$W/DummyDataLoading_$jt/DATA:$P/output/data" \
        -v "$W/DummyDataLoading_$jt/SIGNATURE:$P/output/signature" \
        -v "$W/DummyDataLoading_$jt/METADATA:$P/output/metadata" \
        "$SK12" python3 $P/input/code/dummy_data_loading.py
done

# --- TabularPreprocessing_training / _calibration (--job_type) -----------------------------
for jt in training calibration; do
    mkdir -p "$W/TabularPreprocessing_$jt/processed_data"
    run docker run --rm "${USER_FLAG[@]}" --network none \
        -e LABEL_FIELD=label \
        -v "$SCRIPTS/tabular_preprocessing.py:$P/input/code/tabular_preprocessing.py:ro" \
        -v "$W/DummyDataLoading_$jt/DATA:$P/input/data:ro" \
        -v "$W/DummyDataLoading_$jt/SIGNATURE:$P/input/signature:ro" \
        -v "$W/TabularPreprocessing_$jt/processed_data:$P/output" \
        "$SK12" python3 $P/input/code/tabular_preprocessing.py --job_type "$jt"
done

# --- XGBoostTraining (Training job, script mode) -------------------------------------------
T=$W/XGBoostTraining
mkdir -p "$T"/{config,model,output/data,artifacts}
# hyperparameters.json as SageMaker writes it: every value a JSON-encoded string.
cat >"$T/config/hyperparameters.json" <<'EOF'
{"num_round": "20", "max_depth": "3", "eta": "0.3",
 "cat_field_list": "[\"region\", \"channel\"]",
 "sagemaker_program": "\"xgboost_training.py\"", "sagemaker_submit_directory": "\"/opt/ml/code\""}
EOF
cat >"$T/config/inputdataconfig.json" <<'EOF'
{"train": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"},
 "val": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"},
 "test": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}}
EOF
echo '{"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}' >"$T/config/resourceconfig.json"
TP=$W/TabularPreprocessing_training/processed_data
# Arguments as the toolkit renders hyperparameters.json (sorted keys, lists via str()), plus one
# override that is not in it (--num_round 30 beats "20": arguments win).
run docker run --rm "${USER_FLAG[@]}" --network none -w /opt/ml/code \
    -e SM_MODEL_DIR=/opt/ml/model -e SM_OUTPUT_DATA_DIR=/opt/ml/output/data \
    -e SM_CHANNEL_TRAIN=/opt/ml/input/data/train -e SM_CHANNEL_VAL=/opt/ml/input/data/val \
    -e SM_CHANNEL_TEST=/opt/ml/input/data/test -e SM_CHANNELS='["test","train","val"]' \
    -e SM_HOSTS='["algo-1"]' -e SM_CURRENT_HOST=algo-1 -e SM_NUM_CPUS="$(nproc)" \
    -e SM_HPS='{"cat_field_list":["region","channel"],"eta":0.3,"max_depth":3,"num_round":20}' \
    -v "$SCRIPTS/xgboost_training.py:/opt/ml/code/xgboost_training.py:ro" \
    -v "$HERE/hyperparams/hyperparameters.json:/opt/ml/code/hyperparams/hyperparameters.json:ro" \
    -v "$T/config:/opt/ml/input/config:ro" \
    -v "$TP/train:/opt/ml/input/data/train:ro" \
    -v "$TP/val:/opt/ml/input/data/val:ro" \
    -v "$TP/test:/opt/ml/input/data/test:ro" \
    -v "$T/model:/opt/ml/model" -v "$T/output:/opt/ml/output" \
    "$XGBT" python3 xgboost_training.py \
        --cat_field_list "['region', 'channel']" --eta 0.3 --max_depth 3 --num_round 30
# The runner's part: /opt/ml/model -> model.tar.gz (what ModelArtifacts.S3ModelArtifacts names).
run tar -czf "$T/artifacts/model.tar.gz" -C "$T/model" $(cd "$T/model" && ls)
run tar -czf "$T/output.tar.gz" -C "$T/output/data" .
MODEL_TAR_SHA=$(sha "$T/artifacts/model.tar.gz")

# --- XGBoostModelEval_calibration (--job_type; untars into its model input) -----------------
E=$W/XGBoostModelEval_calibration
mkdir -p "$E"/{eval_output,metrics_output}
cp -r "$T/artifacts" "$E/model_input"   # SageMaker File mode: the input is a writable copy
run docker run --rm "${USER_FLAG[@]}" --network none \
    -v "$SCRIPTS/xgboost_model_eval.py:$P/input/code/xgboost_model_eval.py:ro" \
    -v "$E/model_input:$P/input/model" \
    -v "$W/TabularPreprocessing_calibration/processed_data:$P/input/eval_data:ro" \
    -v "$E/eval_output:$P/output/eval" \
    -v "$E/metrics_output:$P/output/metrics" \
    "$XGBP" python3 $P/input/code/xgboost_model_eval.py --job_type calibration

# --- ModelCalibration_calibration (--job_type) ---------------------------------------------
C=$W/ModelCalibration_calibration
mkdir -p "$C"/{calibration_output,metrics_output,calibrated_data}
run docker run --rm "${USER_FLAG[@]}" --network none \
    -v "$SCRIPTS/model_calibration.py:$P/input/code/model_calibration.py:ro" \
    -v "$E/eval_output:$P/input/eval_data:ro" \
    -v "$C/calibration_output:$P/output/calibration" \
    -v "$C/metrics_output:$P/output/metrics" \
    -v "$C/calibrated_data:$P/output/calibrated_data" \
    "$SK10" python3 $P/input/code/model_calibration.py --job_type calibration

# --- Package (no job arguments; model input read-only: it extracts into WORKING_DIRECTORY) ---
mkdir -p "$W/Package/packaged_model"
run docker run --rm "${USER_FLAG[@]}" --network none \
    -v "$SCRIPTS/package.py:$P/input/code/package.py:ro" \
    -v "$T/artifacts:$P/input/model:ro" \
    -v "$C/calibration_output:$P/input/calibration:ro" \
    -v "$W/Package/packaged_model:$P/output" \
    "$SK10" python3 $P/input/code/package.py

# --- Payload (no job arguments) -------------------------------------------------------------
mkdir -p "$W/Payload/payload_sample"
run docker run --rm "${USER_FLAG[@]}" --network none \
    -e CONTENT_TYPES=application/json,text/csv -e SPECIAL_FIELD_REGION=EU \
    -v "$SCRIPTS/payload.py:$P/input/code/payload.py:ro" \
    -v "$T/artifacts:$P/input/model:ro" \
    -v "$W/Payload/payload_sample:$P/output" \
    "$SK10" python3 $P/input/code/payload.py

# --- Checks ---------------------------------------------------------------------------------
echo; echo "=== checks ==="
fail() { echo "FAIL: $*" >&2; exit 1; }
BST=$(sha "$T/model/xgboost_model.bst")
X=$(mktemp -d "$W/.x.XXXX")
tar -xzf "$W/Package/packaged_model/model.tar.gz" -C "$X"
[ "$(sha "$X/xgboost_model.bst")" = "$BST" ] || fail "packaged xgboost_model.bst differs from the trained one"
[ -f "$X/calibration/calibration_model.pkl" ] || fail "no calibration/calibration_model.pkl in the package"
grep -q "\"xgboost_model_bst_sha256\": \"$BST\"" "$E/metrics_output/metrics.json" || fail "evaluated model differs"
grep -q "\"model_tar_gz_sha256\": \"$MODEL_TAR_SHA\"" "$E/metrics_output/metrics.json" || fail "evaluated model.tar.gz differs"
[ "$(sha "$T/artifacts/model.tar.gz")" = "$MODEL_TAR_SHA" ] || fail "the training's model.tar.gz changed"
[ -f "$E/model_input/xgboost_model.bst" ] || fail "evaluation did not extract into its input"
python3 - "$T/model/hyperparameters.json" <<'EOF' || fail "hyperparameter precedence"
import json, sys
h = json.load(open(sys.argv[1])); src = h["hyperparameter_sources"]
assert h["num_round"] == 30 and src["num_round"] == "arguments", (h["num_round"], src["num_round"])
assert h["max_depth"] == 3 and src["max_depth"].endswith("config/hyperparameters.json"), src["max_depth"]
assert h["cat_field_list"] == ["region", "channel"], h["cat_field_list"]
assert src["tab_field_list"].endswith("hyperparams/hyperparameters.json"), src["tab_field_list"]
print("hyperparameters: num_round=30 from arguments, max_depth=3 from config, field lists typed")
EOF
rm -rf "$X"
echo "trained xgboost_model.bst sha256 $BST = evaluated = packaged"
echo "training model.tar.gz   sha256 $MODEL_TAR_SHA (unchanged; eval extracted into its copy)"
echo "packaged model: $W/Package/packaged_model/model.tar.gz"; tar -tzvf "$W/Package/packaged_model/model.tar.gz"
echo "payload:        $W/Payload/payload_sample/payload.tar.gz"; tar -tzvf "$W/Payload/payload_sample/payload.tar.gz"
echo "eval metrics:   $(tr -d '\n ' <"$E/metrics_output/metrics.json" | cut -c1-200)..."
echo "OK: the chain ends with a packaged model and a payload ($W)"
