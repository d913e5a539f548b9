#!/usr/bin/env bash
# The fast subset of the tests (tools/oldest-tests.txt) on the oldest release of each dependency
# that setup.cfg allows (tools/oldest.txt), in a venv of its own (.venv-oldest). Part of .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PIP_DISABLE_PIP_VERSION_CHECK=1
python3 -m venv .venv-oldest
. .venv-oldest/bin/activate
pip install -q torch==2.13.0
pip install -q -e ".[test]" -c tools/oldest.txt
python -m pip list 2>/dev/null | grep -i -E "^(spacy|thinc|transformers|peft|bitsandbytes|safetensors|tokenizers|numpy|torch) "
grep -v '^#' tools/oldest-tests.txt | xargs python -m pytest -q -m "not slow and not gpu" -p no:cacheprovider
