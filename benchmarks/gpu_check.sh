#!/usr/bin/env bash
# skface on a CUDA machine, checked in one command, in under 10 minutes.
#
#   bash benchmarks/gpu_check.sh --prepare [--n 4000] [--source DIR]
#       where a package index and the UTKFace folder can be reached: wheels of skorch and
#       pytest into .whl/, a seeded UTKFace subset into .gl/UTKFace; prints the size of
#       what travels and the paths to carry (.whl and .gl).
#   bash benchmarks/gpu_check.sh
#       on the CUDA machine, in the repository root, with .whl/ and .gl/ beside it (no
#       package index needed): installs the wheels, records nvidia-smi and versions, runs
#       the CUDA and accelerate tests, the training-throughput benchmark at 64 and 128 px
#       with and without mixed precision, fits FaceAttributes with its defaults and with a
#       larger network at 96 px, saves the default model and loads it back without CUDA.
#   bash benchmarks/gpu_check.sh --dry-run
#       the same steps at a tiny size on the CPU (synthetic faces when .gl/ is absent; no
#       install), in a minute or two.
#
# Results go to $OUT (default benchmarks/_out/gpu_check, or gpu_check_dry): gpu_check.log
# (every step's output), env.txt, results.json, summary.md (markdown rows for
# docs/benchmarks.md), face_attributes_<device>.joblib and verify.npz. Each step has its
# own time limit and the run as a whole keeps under $GPU_CHECK_SECONDS (default 540); a
# step that fails or runs out of time is reported and the next one runs. Exit status 0
# when every step passed. Check the saved model on a CPU machine afterwards with
#   python benchmarks/gpu_check.py verify-model OUT/face_attributes_cuda.joblib
# Environment: PYTHON (default python3), OUT, DATA (a UTKFace-named folder instead of
# .gl/UTKFace), GPU_CHECK_SECONDS.
set -u -o pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
REPO=$PWD
PY=${PYTHON:-python3}
MODE=gpu
case "${1:-}" in
    --prepare) shift; exec "$PY" benchmarks/gpu_check.py prepare "$@" ;;
    --dry-run) MODE=dry-run; shift ;;
    -h|--help) sed -n '2,/^set /p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "usage: bash benchmarks/gpu_check.sh [--prepare [ARGS]|--dry-run|--help]" >&2
       exit 2 ;;
esac
if (( $# > 0 )); then echo "error: unexpected arguments: $*" >&2; exit 2; fi

if [[ $MODE == dry-run ]]; then OUT=${OUT:-$REPO/benchmarks/_out/gpu_check_dry}
else OUT=${OUT:-$REPO/benchmarks/_out/gpu_check}; fi
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 2
# start from a clean $OUT: only the files this script writes are removed
rm -f "$OUT"/gpu_check.log "$OUT"/env.txt "$OUT"/results.json "$OUT"/summary.md \
      "$OUT"/face_attributes_*.joblib "$OUT"/verify.npz
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/skface-gpu-check.XXXXXX") || exit 2
trap 'rm -rf "$SCRATCH"' EXIT
LOG=$OUT/gpu_check.log
: > "$LOG"

export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONHASHSEED=0 PYTHONUNBUFFERED=1 \
       PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
STARTED=$(date +%s)
DEADLINE=$((STARTED + ${GPU_CHECK_SECONDS:-540}))
RESERVE=15  # kept for the summary
ALL_OK=1
CHECK=(benchmarks/gpu_check.py)

record() {  # name status seconds budget
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$SCRATCH/steps.tsv"
    printf '%-18s %-34s %4ss\n' "$1" "$2" "$3"
    "$PY" "${CHECK[@]}" summary --out "$OUT" --scratch "$SCRATCH" --mode "$MODE" \
        --started "$STARTED" --data-label "$DATA_LABEL" --quiet 2>> "$LOG" || true
}

step() {  # name budget-seconds command...
    local name=$1 budget=$2 left limit rc s0 status
    shift 2
    left=$((DEADLINE - $(date +%s) - RESERVE))
    limit=$(( budget < left ? budget : left ))
    if (( limit < 10 )); then
        ALL_OK=0; record "$name" "skipped: no time left" 0 "$budget"; return
    fi
    printf '\n===== %s (limit %s s): %s\n' "$name" "$limit" "$*" >> "$LOG"
    s0=$SECONDS
    timeout -k 10 "$limit" "$@" < /dev/null 2>&1 | tee "$SCRATCH/$name.log" >> "$LOG"
    rc=${PIPESTATUS[0]}
    case $rc in
        0) status=ok ;;
        124|137) status="timed out after $limit s" ;;
        *) status="failed (exit $rc)" ;;
    esac
    [[ $rc == 0 ]] || ALL_OK=0
    record "$name" "$status" $((SECONDS - s0)) "$budget"
    if [[ $rc != 0 ]]; then tail -n 15 "$SCRATCH/$name.log" | sed 's/^/    | /'; fi
}

echo "skface GPU check ($MODE): results in $OUT"
DATA=${DATA:-$REPO/.gl/UTKFace}
DATA_LABEL=UTKFace
if [[ ! -d $DATA ]]; then
    echo "no images at $DATA: synthetic faces instead (figures not for the docs)"
    DATA=$SCRATCH/faces DATA_LABEL=synthetic
    if [[ $MODE == dry-run ]]; then N_SYNTH=64 PX_SYNTH=48; else N_SYNTH=2000 PX_SYNTH=128; fi
    step data 120 "$PY" "${CHECK[@]}" synth --dest "$DATA" --n $N_SYNTH --size $PX_SYNTH
fi

if [[ $MODE == dry-run ]]; then
    record install "skipped: dry run" 0 0
    step env 60 "$PY" "${CHECK[@]}" env --txt "$OUT/env.txt" --json "$SCRATCH/env.json" --cpu-ok
    step pytest-cuda 120 "$PY" "${CHECK[@]}" pytest --json "$SCRATCH/pytest-cuda.json" \
        --budget 110 -- tests/test_cuda.py --timeout 100
    step bench 120 "$PY" benchmarks/bench_train.py --device cpu --data "$DATA" --px 32 \
        --precisions auto float32 --size-rows-only --n 64 --epochs 1 --repeat 1 \
        --json "$SCRATCH/bench.json"
    step fit-default 120 "$PY" "${CHECK[@]}" fit --data "$DATA" --data-label "$DATA_LABEL" \
        --out "$OUT" --json "$SCRATCH/fit-default.json" --save --limit 64 --size 32 \
        --max-epochs 1
    step fit-large 120 "$PY" "${CHECK[@]}" fit --data "$DATA" --data-label "$DATA_LABEL" \
        --out "$OUT" --json "$SCRATCH/fit-large.json" --label large --module resnet18 \
        --limit 64 --size 32 --max-epochs 1
    PYTEST_ACCELERATE=(tests/test_accelerate.py -k
                       test_float32_through_accelerate_equals_the_plain_estimator)
else
    step install 90 "$PY" "${CHECK[@]}" install --json "$SCRATCH/install.json" \
        --site "$SCRATCH/site"
    if [[ -d $SCRATCH/site ]]; then export PYTHONPATH="$PYTHONPATH:$SCRATCH/site"; fi
    step env 30 "$PY" "${CHECK[@]}" env --txt "$OUT/env.txt" --json "$SCRATCH/env.json"
    step pytest-cuda 90 "$PY" "${CHECK[@]}" pytest --json "$SCRATCH/pytest-cuda.json" \
        --budget 85 --fail-on-skip -- tests/test_cuda.py --timeout 80
    step bench 150 "$PY" benchmarks/bench_train.py --device cuda --data "$DATA" --px 64 128 \
        --precisions auto float32 --size-rows-only --epochs 3 --repeat 2 \
        --json "$SCRATCH/bench.json"
    step fit-default 90 "$PY" "${CHECK[@]}" fit --data "$DATA" --data-label "$DATA_LABEL" \
        --out "$OUT" --json "$SCRATCH/fit-default.json" --save
    step fit-large 150 "$PY" "${CHECK[@]}" fit --data "$DATA" --data-label "$DATA_LABEL" \
        --out "$OUT" --json "$SCRATCH/fit-large.json" --label large --module resnet18 \
        --size 96
    PYTEST_ACCELERATE=(tests/test_accelerate.py)
fi
MODEL=$(ls "$OUT"/face_attributes_*.joblib 2>/dev/null | head -n 1)
if [[ -n $MODEL ]]; then
    step verify-cpu 60 env CUDA_VISIBLE_DEVICES= "$PY" "${CHECK[@]}" verify-model "$MODEL" \
        --json "$SCRATCH/verify-cpu.json"
else
    ALL_OK=0; record verify-cpu "skipped: no saved model" 0 0
fi
# last: the CPU tests of the accelerate path (a hang here costs no GPU figure)
step pytest-accelerate 150 "$PY" "${CHECK[@]}" pytest --json "$SCRATCH/pytest-accelerate.json" \
    --budget 145 -- "${PYTEST_ACCELERATE[@]}" --timeout 140

echo
"$PY" "${CHECK[@]}" summary --out "$OUT" --scratch "$SCRATCH" --mode "$MODE" \
    --started "$STARTED" --data-label "$DATA_LABEL" | tee -a "$LOG"
echo "files in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
(( ALL_OK )) && exit 0 || exit 1
