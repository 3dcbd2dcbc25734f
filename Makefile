# Two commands do all the set-up on a fresh machine:
#   make run    set up and run the portal on its embedded default (SQLite, no servers)
#   make test   run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi.py
HOST ?= 127.0.0.1
PORT ?= 5000
# Links in demo output, emails and SMS point at the address the portal is served on.
BASE_URL = PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)}

.PHONY: run test install install-dev translations db demo worker lint bench-help clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed translations
install-dev: $(VENV)/.installed-dev node_modules/.installed translations

translations: $(VENV)/.installed
	@$(BIN)/pybabel -q compile -d portal/translations

db: install
	$(BIN)/flask db upgrade

demo: db
	$(BASE_URL) $(BIN)/flask demo seed

# The embedded default: SQLite in instance/, mail and SMS written to instance/outbox,
# background jobs in an embedded Celery worker (filesystem broker, no server needed).
run: demo
	@echo "Starting the background worker and the portal on http://$(HOST):$(PORT)/ (Ctrl-C stops both)"
	@$(BASE_URL) $(BIN)/python -m portal.embedded --host $(HOST) --port $(PORT)

worker: install
	$(BIN)/celery -A portal.worker worker -B --loglevel=INFO

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .

clean:
	rm -rf instance test-artifacts
