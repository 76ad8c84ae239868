# Two commands do all the set-up on a fresh machine:
#   make bench   the main job: `zoo bench --quality 10 20 30` on the default suite, offline
#   make test    the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install bench test

$(BIN)/zoo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: an unpinned resolve would pull a different build
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/zoo

install: $(BIN)/zoo

bench: install
	# a fresh output folder, so that every row is computed (leaderboard/ holds the reference run)
	rm -rf runs/make-bench
	HF_HUB_OFFLINE=1 $(BIN)/zoo bench --quality 10 20 30 --out runs/make-bench

test: install
	$(BIN)/python -m pytest -q -n 2
