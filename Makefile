# dnaHNet Explorer: `make app` sets up and starts the app; `make test` sets up and runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup browser app test bench
setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# Debian's chromium serves static figure export (kaleido) and the browser test; best effort, tests skip without it.
browser:
	@command -v chromium >/dev/null 2>&1 || { (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 \
	  || echo "note: chromium could not be installed; PNG/SVG export falls back to matplotlib and the browser test skips"; }

app: setup browser
	$(PY) -m streamlit run app/main.py

test: setup browser
	$(PY) -m pytest -q tests
