# paperbot — the two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
DEV_VENV ?= .venv-dev
PIP_FLAGS ?= --disable-pip-version-check --no-input --quiet
SAMPLE ?= samples
DATA_DIR ?= data

.PHONY: run test install dev lock bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -c constraints.txt -e .
	touch $@

$(DEV_VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(DEV_VENV)
	$(DEV_VENV)/bin/pip install $(PIP_FLAGS) -c constraints.txt -e '.[dev]'
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

## lock: refresh constraints.txt from a fresh resolve of pyproject.toml
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install $(PIP_FLAGS) '.[dev]'
	.venv-lock/bin/pip freeze --exclude paperbot > constraints.txt
	rm -rf .venv-lock

bench: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/python bench/ingest.py

clean:
	rm -rf $(VENV) $(DEV_VENV) .pytest_cache build *.egg-info
