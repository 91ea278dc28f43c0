# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= dev,bench
# vectorbt (a benchmark baseline) compiles with reflected lists, which numba warns about;
# our own code keeps `filterwarnings = error`.
BENCH_WARNINGS := -W "ignore::numba.core.errors.NumbaPendingDeprecationWarning"

.PHONY: install demo test lint format bench clean clean-numba-cache

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[$(EXTRAS)]'
	# hftbacktest 2.4.4 declares numpy<2.3 but runs on our numpy 2.4.6 (vectorbt needs >=2.4.6): no deps.
	$(if $(findstring bench,$(EXTRAS)),$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -c constraints.txt hftbacktest==2.4.4)
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/ats demo

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -n 2
	# The benchmarks run once each, untimed, so they cannot rot between `make bench` runs.
	$(BIN)/python -m pytest bench -q -p no:cacheprovider --benchmark-disable \
		-o testpaths=bench -o addopts= $(BENCH_WARNINGS)

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
		-o testpaths=bench -o addopts= $(BENCH_WARNINGS)
	$(BIN)/python bench/report.py .benchmarks/latest.json

# numba's cache=True keys each module's cache on that module's source only: after editing a
# kernel that other kernel modules call, clear the cache so they recompile against it.
clean-numba-cache:
	find kernels engine adapters bench -name '*.nbi' -o -name '*.nbc' | xargs rm -f

clean: clean-numba-cache
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
