# The two commands: `make demo` (run the jobs on the embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: venv demo test lint fmt controlplane node-packages browser clean e2e-kind

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/helixctl demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

controlplane:
	bash tests/controlplane/build.sh --chain --node > /dev/null

# containerd, runc, CNI plugins, umoci, skopeo, busybox-static for the real node, debootstrap
# and buildah for its images (needs root).
node-packages:
	bash tests/node/install-debian-packages.sh

# Chromium, which renders helixctl report's page in the tests (needs root when missing).
browser:
	bash tests/node/install-debian-packages.sh chromium fonts-dejavu-core

test: venv lint controlplane node-packages browser
	$(BIN)/python -m pytest

# Needs Docker and kind: the same suite against a real cluster with the real spark-operator.
e2e-kind: venv
	tests/kind/e2e-kind.sh

clean:
	rm -rf $(VENV) .helix .pytest_cache .mypy_cache .ruff_cache
