#!/usr/bin/env bash
# The GPU checks of issue 28 in stages, each with its own time limit and log, so a timeout loses
# one stage, not all. Run from the repository root:
#
#   bash tools/gpu/run_stages.sh OUT_DIR [STAGE ...]      stages: env tests bench bench_step model encoder
#                                                         (default: env tests bench bench_step)
#
# Sizes that fit a 15-minute lease (all optional): TESTS_LIMIT, BENCH_EXITS (comma-separated exit
# layers of the grid; default the benchmark's N/4..N), BENCH_LIMIT, MODEL_REPS (default "0 1"),
# MODEL_EXIT (default null: all layers), MODEL_EVAL_FREQ (steps between dev evaluations, default 100),
# MODEL_STEPS (default 0: one epoch).
#
# On the GPU machine OUT_DIR is $OUT (its files come back). With .gpu/site.tar.xz present (see
# tools/gpu/README.md) the bundle is unpacked into /tmp/site and put on PYTHONPATH first.
# REPSL_TEST_DEVICE=cpu runs the same stages on a machine without a GPU (tiny sizes), to check
# this script itself; STAGE_SCALE=small shrinks the benchmark and model stages the same way.
set -uo pipefail
OUT=${1:?usage: run_stages.sh OUT_DIR [STAGE ...]}
shift
STAGES=${*:-env tests bench bench_step}
DEVICE=${REPSL_TEST_DEVICE:-cuda}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-python3}
GPU_ARGS=(--gpu-id 0)
[ "$DEVICE" = cpu ] && GPU_ARGS=()
SMALL=${STAGE_SCALE:-}
[ "$DEVICE" = cpu ] && SMALL=small

# The bundle only where this Python lacks the packages (the GPU machine); here the venv has them.
if ! $PY -c "import spacy, spacy_repsl" 2>/dev/null; then
  if [ ! -f /tmp/site/.unpacked ]; then
    [ -f .gpu/site.tar.xz ] || { echo "no spaCy here and no .gpu/site.tar.xz: build it (tools/gpu/README.md)"; exit 2; }
    mkdir -p /tmp/site && tar xJf .gpu/site.tar.xz -C /tmp/site && touch /tmp/site/.unpacked
  fi
  export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
fi

stage() {  # name seconds command...: runs one stage, its log in OUT/name.log, its status in OUT/stages.txt
  local name=$1 limit=$2; shift 2
  local start=$SECONDS
  echo "== $name (limit ${limit}s): $*" | tee -a "$OUT/stages.txt"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "   $name: exit $rc after $((SECONDS - start))s" | tee -a "$OUT/stages.txt"
  tail -n 5 "$OUT/$name.log"
}

for s in $STAGES; do
  case $s in
    env)
      stage env 60 bash -c "nvidia-smi || true; $PY - <<'EOF'
import platform, torch, transformers, spacy, thinc, peft
print('python', platform.python_version(), 'torch', torch.__version__, 'transformers', transformers.__version__,
      'spacy', spacy.__version__, 'thinc', thinc.__version__, 'peft', peft.__version__)
print('cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-')
try:
    import bitsandbytes; print('bitsandbytes', bitsandbytes.__version__)
except Exception as err: print('bitsandbytes: not usable:', err)
import spacy_repsl; print('spacy_repsl from', spacy_repsl.__file__)
EOF" ;;
    tests)
      stage tests "${TESTS_LIMIT:-300}" env REPSL_TEST_DEVICE="$DEVICE" $PY -m pytest -m gpu tests/gpu -q -p no:cacheprovider -x --junitxml="$OUT/tests.xml" ;;
    bench)
      if [ "$SMALL" = small ]; then
        stage bench 300 $PY -m spacy_repsl.benchmark "${GPU_ARGS[@]}" --shape qwen3-0.6b --repetitions 0,1 --exit-layers 2 --docs 8 --repeats 1 --output "$OUT/BENCHMARKS.md"
      else
        EXITS=()
        [ -n "${BENCH_EXITS:-}" ] && EXITS=(--exit-layers "$BENCH_EXITS")
        stage bench "${BENCH_LIMIT:-420}" $PY -m spacy_repsl.benchmark "${GPU_ARGS[@]}" --shape qwen3-0.6b --repetitions 0,1,2,4 "${EXITS[@]}" --quantization nf4 --compute-dtype bfloat16 --output "$OUT/BENCHMARKS.md"
      fi ;;
    bench_step)
      [ "$SMALL" = small ] || \
        stage bench_step "${BENCH_STEP_LIMIT:-240}" $PY -m spacy_repsl.benchmark.training_step "${GPU_ARGS[@]}" --shape qwen3-0.6b --quantization nf4 --compute-dtype bfloat16 --output "$OUT/BENCHMARKS.md" ;;
    model)  # the real SmolLM2-135M on CoNLL-2003 (model and data carried in .gpu/, see README)
      MODEL=${MODEL:-/tmp/model.gguf}
      DATA=${DATA:-.gpu/conll2003}
      LIMIT=0,0,0
      [ "$SMALL" = small ] && LIMIT=40,20,40
      stage model_data 120 $PY -m spacy_repsl.datasets conll03 "$DATA" /tmp/corpus/conll03 --limit "$LIMIT"
      for r in ${MODEL_REPS:-0 1}; do
        stage "model_r$r" 480 $PY -m spacy train configs/lora_cpu.cfg --output "/tmp/model_r$r" \
          --paths.train /tmp/corpus/conll03/train.spacy --paths.dev /tmp/corpus/conll03/dev.spacy \
          --paths.decoder "$MODEL" --components.repsl_tagger.model.repetitions "$r" --training.max_epochs 1 \
          --components.repsl_tagger.model.exit_layer "${MODEL_EXIT:-null}" --training.eval_frequency "${MODEL_EVAL_FREQ:-100}" \
          --training.max_steps "${MODEL_STEPS:-0}" "${GPU_ARGS[@]}"
        stage "model_r${r}_test" 240 $PY -m spacy evaluate "/tmp/model_r$r/model-last" /tmp/corpus/conll03/test.spacy \
          --output "$OUT/model_r${r}_test.json" "${GPU_ARGS[@]}"
      done ;;
    encoder)  # the real all-MiniLM-L6-v2 fine-tuned on CoNLL-2003 with configs/encoder.cfg (carried in .gpu/)
      ENCODER=${ENCODER:-/tmp/encoder}
      DATA=${DATA:-.gpu/conll2003}
      LIMIT=0,0,0 STEPS=1755  # one epoch of 14,041 sentences in batches of 8
      [ "$SMALL" = small ] && LIMIT=40,20,40 STEPS=10
      [ -f /tmp/corpus/conll03/train.spacy ] || \
        stage model_data 120 $PY -m spacy_repsl.datasets conll03 "$DATA" /tmp/corpus/conll03 --limit "$LIMIT"
      stage encoder_train 480 $PY -m spacy train configs/encoder.cfg --output /tmp/encoder_run \
        --paths.train /tmp/corpus/conll03/train.spacy --paths.dev /tmp/corpus/conll03/dev.spacy \
        --paths.encoder "$ENCODER" --training.max_steps "$STEPS" --training.eval_frequency "$STEPS" "${GPU_ARGS[@]}"
      stage encoder_test 240 $PY -m spacy evaluate /tmp/encoder_run/model-last /tmp/corpus/conll03/test.spacy \
        --output "$OUT/encoder_test.json" "${GPU_ARGS[@]}" ;;
    *) echo "unknown stage $s (env tests bench bench_step model encoder)"; exit 2 ;;
  esac
done
