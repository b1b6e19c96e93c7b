# The two commands a newcomer needs: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast lint soak clean bench bench-peer browser-deps pg-deps catalogs

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: install
	$(PY) -m fixtures.demo_run

# The whole suite on the pytest-xdist workers of pyproject.toml's addopts, every test of the five
# store folders (server, office, e2e, reliability, security) on SQLite and on PostgreSQL
# (tests/support/fixtures.py, BOTH_BACKENDS).
test: install browser-deps pg-deps lint
	$(PY) -m pytest -q

# The formatter's layout, ruff's lint rules, and mypy --strict held to
# tests/support/mypy-baseline.json (it may only shrink).
lint: install
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m tests.support.typecheck

# The office browser tests drive Debian's headless Chromium with Playwright (never `playwright
# install`): install it when missing, with a small CJK font so the bilingual demo data renders in
# the screenshots; sudo only when not root.
CHROMIUM ?= /usr/bin/chromium
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-deps:
	@test -x $(CHROMIUM) -a -f $(CJK_FONT) || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; }
	@test -x $(CHROMIUM) && echo "chromium: $$($(CHROMIUM) --version 2>/dev/null)"

# The store-dependent tests (tests/server, office, e2e, reliability, security) run on SQLite and on
# the PostgreSQL at FIELDSYNC_TEST_PG, each test in a database of its own. Where none answers there,
# install Debian's postgresql, let loopback connections in without a password (a test cluster)
# and start it; sudo only when not root.
FIELDSYNC_TEST_PG ?= postgresql://postgres@127.0.0.1:5432/postgres
export FIELDSYNC_TEST_PG
pg-deps: install
	@$(PY) -m tests.support.databases || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null && \
	  v=$$(ls /usr/lib/postgresql | sort -n | tail -1) && \
	  printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' | $(SUDO) tee /etc/postgresql/$$v/main/pg_hba.conf >/dev/null && \
	  { $(SUDO) pg_ctlcluster $$v main restart || $(SUDO) pg_ctlcluster $$v main start; } && \
	  $(PY) -m tests.support.databases; }
	@echo "postgresql: $(FIELDSYNC_TEST_PG)"

test-fast: install
	$(PY) -m pytest -q -m "not slow" -x

# The long fault campaigns: 200 kills of server and laptops (the suite runs 20).
soak: install
	FIELDSYNC_KILLS=200 $(PY) -m pytest -q tests/reliability --timeout 3600

# Benchmarks (docs/performance.md): a real server on 127.0.0.1, real laptop stores on disk, on
# SQLite and then on PostgreSQL (BENCH_DB=postgresql://... names it; else the test server at
# FIELDSYNC_TEST_PG when it answers; BENCH_DB=sqlite runs SQLite alone), side by side, PostgreSQL
# with the concurrency figure on one and on two server processes. var/bench/latest.json holds
# SQLite's figures at the top level and PostgreSQL's under "postgresql".
# `make bench BENCH_N=10000` scales the record counts down for a quick run; BENCH_PUSH_N sets
# the push figure's count alone, BENCH_RUNS the repetitions, BENCH_ONLY=push,pull some figures
# (see bench/run.py). The laptop app's first-paint figure drives Chromium: browser-deps first.
BENCH_N ?= 100000
BENCH_PUSH_N ?=
BENCH_DB ?=
BENCH_ONLY ?=
bench: install browser-deps
	BENCH_N=$(BENCH_N) BENCH_PUSH_N=$(BENCH_PUSH_N) BENCH_DB=$(BENCH_DB) \
	  $(PY) -m bench.compare $(if $(BENCH_ONLY),--only $(BENCH_ONLY))

# The CouchDB-protocol peer of ../shared/peer (PouchDB <-> pouchdb-server), skipped without node/npm.
bench-peer: install
	BENCH_N=$(BENCH_N) $(PY) -m bench.peer

# The pages' messages (sync_protocol/locale, shared by `field ui` and the office): extract them from
# the code and templates named in babel.cfg, merge them into each language's .po (translate the new
# ones there), compile the .mo files. Both are committed: a fresh clone needs no build step, and
# tests/i18n checks that the .mo files match the .po and that every message is translated.
LOCALE := sync_protocol/locale
catalogs: install
	$(VENV)/bin/pybabel extract -F babel.cfg -o $(LOCALE)/fieldsync.pot --no-location --sort-output \
	  --project fieldsync --version 0.1 --omit-header -c "Translators:" .
	$(VENV)/bin/pybabel update -i $(LOCALE)/fieldsync.pot -d $(LOCALE) -D fieldsync -N \
	  --width 100 --ignore-obsolete
	$(VENV)/bin/pybabel compile -d $(LOCALE) -D fieldsync --statistics

clean:
	rm -rf $(VENV) var build *.egg-info
