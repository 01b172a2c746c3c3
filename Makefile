# The two commands a newcomer needs:  make run   and   make test
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
PYTEST_ARGS ?=

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
# broker. One worker serves the ingest queue (and beat), one the training queue; the web
# server runs in the foreground and Ctrl-C stops all three.
# Plain http on localhost: the HTTPS redirect, HSTS and secure-only cookies that a
# deployment gets by default are off here (set DJANGO_HTTPS=1 to keep them).
run: export DJANGO_HTTPS ?= 0
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	@echo "Starting web on http://$(HOST):$(PORT)/ with two Celery workers (ingest + beat, training)."
	trap 'kill 0' INT TERM EXIT; \
	$(VENV)/bin/celery -A taxonomy_site worker --beat -Q ingest -c 1 -n ingest@%h \
		--without-mingle --without-gossip --loglevel INFO & \
	$(VENV)/bin/celery -A taxonomy_site worker -Q training -c 1 -n training@%h \
		--without-mingle --without-gossip --loglevel INFO & \
	$(VENV)/bin/gunicorn taxonomy_site.wsgi --bind $(HOST):$(PORT) --workers 2 --threads 4 \
		--timeout 120 --access-logfile -

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) node_modules var
