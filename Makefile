# dnaHNet Explorer: `make app` sets up and starts the app; `make test` sets up and runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup kernels browser igv app test bench
setup: $(VENV)/.installed

# The C inference kernels, compiled once per host into ~/.cache/dnahnet/native (kernels/native_build.py); best
# effort: without a C compiler the numba kernels run instead.
kernels: setup
	@$(PY) -m kernels.native_build || echo "note: the C kernels were not built; inference uses the numba kernels"

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# Debian's chromium serves static figure export (kaleido) and the browser test; best effort, tests skip without it.
browser:
	@command -v chromium >/dev/null 2>&1 || { (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 \
	  || echo "note: chromium could not be installed; PNG/SVG export falls back to matplotlib and the browser test skips"; }

# igv.js for the report's offline IGV page: dist/igv.min.js of the npm package `igv` (MIT), pinned; best effort,
# the report leaves the page out (and says so) and its test skips without it.
IGV_VERSION ?= 3.8.10
IGV_JS := interpret/vendor/igv.min.js
igv: $(IGV_JS)
$(IGV_JS):
	@mkdir -p $(@D); tmp=$$(mktemp -d); \
	  if (cd $$tmp && npm pack -q igv@$(IGV_VERSION) >/dev/null 2>&1) && tar xzf $$tmp/igv-$(IGV_VERSION).tgz -C $$tmp; then \
	    cp $$tmp/package/dist/igv.min.js $@ && cp $$tmp/package/LICENSE $(@D)/igv.LICENSE; \
	  else echo "note: igv.js could not be fetched (npm pack igv@$(IGV_VERSION)); the report is written without igv.html"; fi; \
	  rm -rf $$tmp

app: setup kernels browser igv
	$(PY) -m streamlit run app/main.py

test: setup kernels browser igv
	$(PY) -m pytest -q tests
