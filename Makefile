PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup demo test test-all test-fast bench clean asan

KERNELS := converters/kernels/build/libtfqnn_lce.so

setup: $(STAMP) $(KERNELS)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

# Our x86 LCE kernels (docs/x86_kernels.md); a failed build leaves setup working (LCE fallback).
$(KERNELS): $(wildcard converters/kernels/src/*) converters/kernels/build.py | $(STAMP)
	$(BIN)/python -m converters.kernels.build || echo "tfqnn kernels unavailable; tfqnn-bench will use the LCE interpreter"

# The kernel tests once under AddressSanitizer (instrumented library, libasan preloaded).
asan: $(STAMP)
	$(BIN)/python -m converters.kernels.build --asan
	LD_PRELOAD="$$($${CXX:-g++} -print-file-name=libasan.so) $$($${CXX:-g++} -print-file-name=libstdc++.so.6)" \
	ASAN_OPTIONS=detect_leaks=0 TFQNN_KERNELS_LIB=converters/kernels/build/asan/libtfqnn_lce.so \
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/converters/test_x86_kernels.py \
	tests/converters/test_x86_kernels_fuzz.py

demo: setup
	$(BIN)/python benchmarks/demo.py --out benchmarks/results/demo.txt

# Two pytest workers: a serial run keeps one of the two cores idle (load average 1.0 throughout).
test: setup
	$(BIN)/python -m pytest -q -n 2 -m "not huge"
	$(MAKE) --no-print-directory asan

test-all: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not e2e"

# One report across families (benchmarks/report.py); the composed models are trained once by
# benchmarks/compose.py into runs/compose (gitignored). On the shared machine: flock /tmp/tfqnn-heavy.lock make bench
bench: setup runs/compose/.done
	$(BIN)/python benchmarks/report.py --out-dir benchmarks/results

runs/compose/.done: benchmarks/compose.py
	$(BIN)/python benchmarks/compose.py
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info
