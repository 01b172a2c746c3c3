# The two commands a newcomer needs:  make run   and   make test
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
PYTEST_ARGS ?=
# Test processes (pytest-xdist): one per core, at most four (each may load TensorFlow);
# 0 runs everything in this process.
PYTEST_WORKERS ?= $(shell python3 -c "import os; print(min(4, os.cpu_count() or 1))")

.PHONY: install run web worker test lint format clean

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Start the product on its embedded defaults: SQLite, local files, Celery's embedded SQLite
# broker. supervisord (supervisord.conf) runs the web server, an ingest worker, a training
# worker and beat, restarts any that dies, and Ctrl-C stops them all within a few seconds.
# Plain http on localhost: the HTTPS redirect, HSTS and secure-only cookies that a
# deployment gets by default are off here (set DJANGO_HTTPS=1 to keep them).
run: export DJANGO_HTTPS ?= 0
run: export TAXONOMY_DATA_DIR ?= $(CURDIR)/var
run: export VENV_BIN := $(abspath $(VENV))/bin
run: export HOST := $(HOST)
run: export PORT := $(PORT)
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	@echo "Starting web on http://$(HOST):$(PORT)/ with an ingest worker, a training worker and beat."
	exec $(VENV)/bin/supervisord -c supervisord.conf

test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) node_modules var
