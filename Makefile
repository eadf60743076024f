# kd-report: two commands on a fresh machine (Python 3.11, root, ../shared beside the clone).
#   make book   set up, execute every chapter with papermill, build the HTML book
#   make test   set up, lint, run the unit and integration tests
PYTHON ?= python3
PROFILE ?= default
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FASHION := /usr/share/datasets/fashion-mnist

# Measured on the 2-core build machines: keeping freed memory mapped (no mmap, no trimming)
# avoids re-faulting big buffers every step; see bench/.
export MALLOC_MMAP_MAX_ := 0
export MALLOC_TRIM_THRESHOLD_ := 17179869184
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: book test setup lint clean

book: setup
	$(PY) -m kdlib.book --profile $(PROFILE)

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest

setup: $(VENV)/.installed $(FASHION)

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(FASHION):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq dataset-fashion-mnist

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf _build book/*.ipynb
