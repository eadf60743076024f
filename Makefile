# kd-report: two commands on a fresh machine (Python 3.11, root or sudo).
#   make book   set up, fetch missing data, execute every chapter with papermill, build HTML and PDF
#   make test   set up, fetch missing data, lint, run the unit and integration tests
PYTHON ?= python3
PROFILE ?= default
VENV := .venv
PY := $(VENV)/bin/python
PIP = $(PY) -m pip install --quiet --disable-pip-version-check
# torch's CPU build, never PyPI's torch for Linux (a CUDA build of several GB): a wheel pip already
# has without an index (the build machines' find-links), else PyTorch's CPU index. The version is
# requirements.txt's pin. `make TORCH_INDEX=URL` names another index (a proxy of that one, say).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH = $(shell sed -n 's/^\(torch==[^ ]*\).*/\1/p' requirements.txt)
# The data sets the chapters read: each found in ../shared, Debian's directory or data/raw/, else
# downloaded into data/raw/ (from its official source, or KD_DATA_MIRROR) and verified.
DATASETS ?= mnist fashion_mnist cifar10
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

.PHONY: book test setup data debian lint clean

book: setup data
	$(PY) -m kdlib.book --profile $(PROFILE) --pdf

test: setup data
	$(PY) -m ruff check .
	$(PY) -m pytest

setup: $(VENV)/.installed debian

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) --no-deps --no-index $(TORCH) 2>/dev/null || \
		$(PIP) --no-deps --index-url $(TORCH_INDEX) $(TORCH)
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -e .
	touch $@

data: setup
	$(PY) -m kdlib.data $(DATASETS)

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
