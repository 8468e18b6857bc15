# manualnet: the two set-up commands are `make demo` and `make test`.
# Each creates .venv on first use and installs what it needs into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch for the parity tests and benchmarks: exactly this spelling, so pip takes
# the CPU wheel on the project's machines instead of a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: help install install-compare test test-fast test-thorough demo bench check clean mnist download-mnist bench-mnist docs docs-test clean-docs figures

help:
	@echo "make demo           train the digits MLP and print its test accuracy"
	@echo "make test           run the test suite (torch parity tests run if torch is installed)"
	@echo "make test-fast      the suite without the tests marked slow (under a minute)"
	@echo "make test-thorough  the suite with many more hypothesis examples"
	@echo "make install-compare  add $(TORCH_SPEC) for the parity tests and benchmarks"
	@echo "make bench          benchmarks against PyTorch CPU, the NumPy floor and the best thread count"
	@echo "make check          gradient-check every operation from the command line"
	@echo "make mnist          the study notes' experiment: the MLP on real MNIST, 10 epochs (downloads once)"
	@echo "make bench-mnist    that experiment with manualnet and the notes' PyTorch program, same run"
	@echo "make docs           build the study site into $(DOCS_OUT) (math rendered by KaTeX, works offline)"
	@echo "make docs-test      build it and open every page in headless Chromium (apt-get install chromium)"
	@echo "make figures        redraw the derivation pages' figures into derivations/figures/ (tests/test_figures.py checks them)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,data,plot]'
	touch $@

$(VENV)/.installed-compare: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[dev,data,plot,compare,bench]'
	touch $@

install: $(VENV)/.installed

install-compare: $(VENV)/.installed-compare

demo: install
	$(BIN)/python -m manualnet train

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	env -u PYTHONDONTWRITEBYTECODE HYPOTHESIS_PROFILE=fast $(BIN)/python -m pytest -m 'not slow' $(PYTEST_ARGS)

test-thorough: install
	HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest $(PYTEST_ARGS)

check: install
	$(BIN)/python -m manualnet gradcheck

# The benchmark unsets the OpenBLAS tuning variables these machines set for old
# OpenBLAS builds: it measures what users elsewhere get, and records it (the BLAS
# kernel, the CPU, the load).  BENCH_ARGS passes options: --quick, --out PATH.
bench: install-compare
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# -- real MNIST: fetched once into the cache, each file verified by SHA-256 ----------
download-mnist: install
	$(BIN)/python -m manualnet download mnist

mnist: install
	$(BIN)/python -m manualnet train --dataset mnist --epochs 10

# manualnet's MLP and the notes' own PyTorch program on real MNIST, epoch by epoch in one run;
# the README's table is results/mnist-notes-readme-run.json (MNIST_BENCH_ARGS, e.g. --threads 1).
bench-mnist: install-compare
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python -m benchmarks.mnist_notes $(MNIST_BENCH_ARGS)
# -- end of the real MNIST block

clean: clean-docs
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info

# -- the study site: README, derivations/ and exercises/ as pages (docs/build.py) ------------------
# KaTeX comes from npm at the version docs/package-lock.json pins, and is bundled into
# the site; docs-test needs Debian's chromium (apt-get install chromium) and fails,
# rather than skips, without it (MANUALNET_REQUIRE_DOCS=1).
DOCS_OUT ?= build/site

$(VENV)/.installed-docs: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,data,plot,docs]'
	touch $@

docs/node_modules/.package-lock.json: docs/package.json docs/package-lock.json
	cd docs && npm ci --no-audit --no-fund
	touch $@

# The figures are drawn by docs/figures.py with matplotlib (the plot extra) and committed;
# tests/test_figures.py redraws them and fails when one is out of date.
figures: install
	$(BIN)/python docs/figures.py

docs: $(VENV)/.installed-docs docs/node_modules/.package-lock.json
	$(BIN)/python docs/build.py --out $(DOCS_OUT)

docs-test: docs
	MANUALNET_REQUIRE_DOCS=1 $(BIN)/python -m pytest tests/test_docs.py $(PYTEST_ARGS)

clean-docs:
	rm -rf $(DOCS_OUT) build/docs-screenshots docs/node_modules
