# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= dev,bench

.PHONY: install demo test lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/ats demo

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q
	# The benchmarks run once each, untimed, so they cannot rot between `make bench` runs.
	$(BIN)/python -m pytest bench -q -p no:cacheprovider --benchmark-disable \
		-o testpaths=bench -o addopts=

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	mkdir -p .benchmarks
	$(BIN)/python -m pytest bench -q -p no:cacheprovider --benchmark-only \
		--benchmark-columns=median,iqr,ops,rounds --benchmark-save-data \
		--benchmark-json=.benchmarks/latest.json \
		-o testpaths=bench -o addopts=
	$(BIN)/python bench/report.py .benchmarks/latest.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
