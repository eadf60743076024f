# kd-report: two commands on a fresh machine (Python 3.11, root, ../shared beside the clone).
#   make book   set up, execute every chapter with papermill, build the HTML book and the PDF
#   make test   set up, lint, run the unit and integration tests
PYTHON ?= python3
PROFILE ?= default
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages: Fashion-MNIST; TeX for the PDF (Sphinx's LaTeX with xelatex; poppler's
# pdftotext lets the tests read the PDF back); Chromium for the browser test.
DEBS := dataset-fashion-mnist texlive-latex-recommended texlive-latex-extra \
	texlive-fonts-recommended texlive-xetex latexmk fonts-freefont-otf tex-gyre poppler-utils \
	chromium

# Measured on the 2-core build machines: keeping freed memory mapped (no mmap, no trimming)
# avoids re-faulting big buffers every step; see bench/.
export MALLOC_MMAP_MAX_ := 0
export MALLOC_TRIM_THRESHOLD_ := 17179869184
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: book test setup debian lint clean

book: setup
	$(PY) -m kdlib.book --profile $(PROFILE) --pdf

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest

setup: $(VENV)/.installed debian

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

debian:  # installs only what is missing (one apt-get update, then one install)
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf _build book/*.ipynb
