# paperbot — the two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
DEV_VENV ?= .venv-dev
PIP_FLAGS ?= --disable-pip-version-check --no-input --quiet
SAMPLE ?= samples
DATA_DIR ?= data

.PHONY: run test lint test-server eval install dev bench-deps lock bench bench-100k bench-ingest bench-query bench-memory bench-coldstart bench-scale bench-load bench-startup clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -c constraints.txt -e .
	touch $@

$(DEV_VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(DEV_VENV)
	$(DEV_VENV)/bin/pip install $(PIP_FLAGS) -c constraints.txt -e '.[dev]'
	touch $@

# The bench extra (matplotlib, for the PNG plots) on top of the dev environment.
$(DEV_VENV)/.bench-installed: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/pip install $(PIP_FLAGS) -c constraints.txt -e '.[dev,bench]'
	touch $@

install: $(VENV)/.installed

dev: $(DEV_VENV)/.installed

## run: install, index the sample digest, then start the bot (DISCORD_TOKEN set) or a local chat
run: $(VENV)/.installed
	$(VENV)/bin/paperbot ingest --data-dir $(DATA_DIR) $(SAMPLE)
	$(VENV)/bin/paperbot start --data-dir $(DATA_DIR)

## test: install the dev environment and run the whole test suite
test: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/python -m pytest -q

## lint: ruff (style, imports, likely bugs) on everything and mypy (types) on the product code; both configured in pyproject.toml
LINT_PATHS ?= index bot config
lint: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/ruff check $(LINT_PATHS) tests bench
	$(DEV_VENV)/bin/mypy $(LINT_PATHS)

## test-server: the store/pipeline/answer tests again against a real `chroma run` on 127.0.0.1 (stopped at the end)
test-server: $(DEV_VENV)/.installed
	DEV_VENV=$(DEV_VENV) bash .ci/test-server

## eval: answer quality on the real shared digests (../shared) and dev sets; fails when a target regresses
eval: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/python -m bench.quality

## lock: refresh constraints.txt from a fresh resolve of pyproject.toml
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install $(PIP_FLAGS) '.[dev,bench]'
	.venv-lock/bin/pip freeze --exclude paperbot > constraints.txt
	rm -rf .venv-lock

## bench: every benchmark; markdown tables on stdout, PNG plots in bench/out/.
## Synthetic corpora have the realistic shape (~2.7 chunks per paper, like the shared digests).
## The first run builds and times a cached 10k-paper index (bench/out/index-10000-realistic, 15-30 min on 2 cores).
bench: bench-ingest bench-query bench-coldstart bench-memory bench-scale bench-load

## bench-100k: ingest, query, memory and start-up at 100k papers too.  The 100k index is built with
## stand-in vectors (bench/standin.py; ~1 h here): embedding its ~270k chunks with the model would take
## about 3 h on 2 cores.  Its dense ranking is meaningless; timings, sizes and memory are real.
bench-100k: $(DEV_VENV)/.bench-installed
	$(DEV_VENV)/bin/python -m bench.ingest --sizes shared,10000 --repeat 1
	nice -n 10 $(DEV_VENV)/bin/python -m bench.ingest --sizes 10000,100000 --standin --repeat 1
	$(DEV_VENV)/bin/python -m bench.query --sizes shared,10000
	$(DEV_VENV)/bin/python -m bench.query --sizes 100000 --standin
	$(DEV_VENV)/bin/python -m bench.memory --sizes shared,10000 --runs 1
	$(DEV_VENV)/bin/python -m bench.memory --sizes 100000 --standin --runs 1
	$(DEV_VENV)/bin/python -m bench.startup --sizes 10000,100000 --standin

## bench-startup: first answer after READY, cold ask, bot peak RSS and catalogue staleness at 10k and 100k
## (the stand-in indexes of bench-100k; builds nothing, says what to build when one is missing)
bench-startup: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/python -m bench.startup --sizes 10000,100000 --standin

bench-deps: $(DEV_VENV)/.bench-installed

bench-ingest: $(DEV_VENV)/.bench-installed
	$(DEV_VENV)/bin/python -m bench.ingest

bench-query: $(DEV_VENV)/.bench-installed
	$(DEV_VENV)/bin/python -m bench.query

bench-coldstart: $(DEV_VENV)/.bench-installed
	$(DEV_VENV)/bin/python -m bench.coldstart

bench-memory: $(DEV_VENV)/.bench-installed
	$(DEV_VENV)/bin/python -m bench.memory

bench-scale: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/python -m bench.scale

## bench-load: /ask and autocomplete load through the fake Discord: acknowledgement latency, event-loop lag
bench-load: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/python -m bench.load

clean:
	rm -rf $(VENV) $(DEV_VENV) .pytest_cache build *.egg-info

.PHONY: docker-lint docker-check

## docker-lint: hadolint (from the dev extra, offline) on the Dockerfile
docker-lint: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/hadolint Dockerfile

## docker-check: build the image for real with buildah and run it (root, Debian; see .ci/docker-check)
docker-check:
	bash .ci/docker-check
