#!/usr/bin/env bash
# Transcript of the ε-ResNet CLI path on the trained CPU run (eval gated + compressed, convert, bench).
# Usage: bash benchmarks/epsresnet_cli.sh > benchmarks/results/epsresnet_cli.txt
# (runs/epsresnet_cifar_cpu/compressed.keras is written by benchmarks/epsresnet.py)
set -u
RUN=${RUN:-runs/epsresnet_cifar_cpu}
BIN=${BIN:-.venv/bin}
run() { echo "\$ $*"; "$@" 2>/dev/null; echo "(exit $?)"; echo; }
run "$BIN/tfqnn-eval" "$RUN/model.keras" --data cifar10
run "$BIN/tfqnn-eval" "$RUN/compressed.keras" --data cifar10
run "$BIN/tfqnn-convert" "$RUN/compressed.keras" --target float --overwrite
run "$BIN/tfqnn-convert" "$RUN/compressed.keras" --target int8 --overwrite
run "$BIN/tfqnn-bench" "$RUN/compressed.int8.tflite" --runs 50 --data cifar10 --max-examples 1000 --no-progress
