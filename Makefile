# The README's two commands: `make demo` and `make test`. Everything they need is installed here.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test unit integration lint broker-fetch tools label-studio bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/labelgate demo --out run/demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

broker-fetch: $(STAMP)
	@command -v java >/dev/null && command -v mvn >/dev/null || scripts/install-java.sh
	$(BIN)/python scripts/kafka_broker.py fetch

# helm, kubeconform, offline Kubernetes schemas, prometheus/promtool, hadolint (tests/helm).
tools:
	scripts/install-tools.sh

# label-studio (its own venv), chromium and playwright-core for tests/integration/test_label_studio.py,
# all cached under ~/.cache/labelgate, never in the repository.
label-studio:
	scripts/install-label-studio.sh

unit: $(STAMP)
	$(BIN)/python -m pytest -m "not integration and not e2e" tests

integration: $(STAMP) broker-fetch label-studio
	$(BIN)/python -m pytest -m "integration" tests

test: $(STAMP) broker-fetch tools label-studio lint
	$(BIN)/python -m pytest --doctest-modules policies daemon connectors tests

bench: $(STAMP) broker-fetch
	$(BIN)/python bench/throughput.py --write docs/benchmarks.md

clean:
	rm -rf $(VENV) run .pytest_cache .mypy_cache .ruff_cache
