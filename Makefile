# Two commands from a fresh clone: `make run` (install + the whole default job on
# synthetic data) and `make test` (install + the test suite). Everything lives in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export TF_CPP_MIN_LOG_LEVEL := 2
export KERAS_BACKEND ?= tensorflow

.PHONY: install run test lint viz clean-data tracking-ui

# `mlflow ui` needs the full mlflow package (its server), whose releases pin pyarrow<26: it gets
# a venv of its own, at the version of the project's mlflow-skinny (the same store schema).
MLFLOW_UI := .venv-mlflow-ui
TRACKING_URI ?= sqlite:///mlruns/mlflow.db

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/kedro run

test: $(STAMP)
	$(BIN)/pytest tests

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

viz: $(STAMP)
	$(BIN)/kedro viz build

tracking-ui: $(STAMP)
	test -x $(MLFLOW_UI)/bin/mlflow || { $(PYTHON) -m venv $(MLFLOW_UI) && \
	  $(MLFLOW_UI)/bin/pip install --quiet "mlflow==$$($(BIN)/python -c \
	  'import importlib.metadata as m; print(m.version("mlflow-skinny"))' 2>/dev/null || echo 3.17.2)"; }
	$(MLFLOW_UI)/bin/mlflow ui --backend-store-uri $(TRACKING_URI) --host 127.0.0.1 --port 5000
