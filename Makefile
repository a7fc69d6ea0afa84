# Two commands on a fresh machine (see README.md):
#   make run    set up .venv, train + evaluate the laptop model (~7 min), then
#               build the book into _build/html from the chapters' committed
#               (CI-checked) outputs; `make book-execute` re-executes them
#   make test   set up .venv, lint, then run the whole test suite (unit
#               tests + every chapter re-executed and checked with nbval,
#               the site in headless Chromium; 27 min on a fresh 2-core
#               clone with two workers, 2026-12-06)
# While working:
#   make test-fast  the unit tests only: no chapter, site, multi-process or
#               slow (> ~20 s) test, and no reference model (pytest markers
#               in pyproject.toml; minutes on 2 cores)
#   make lint   ruff check (rules in pyproject.toml; `make test` runs it)
# Everything is installed from requirements-lock.txt (exact pins, CPU torch).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run train book book-execute book-reproduce test test-fast test-colab lint setup bench ladder higher-rung clean

$(BIN)/.installed: requirements-lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(BIN)/.installed

run: train book

train: $(BIN)/.installed
	$(BIN)/labse-lite train --output-dir runs/laptop --no-resume

MATHJAX := _mathjax_static/mathjax/tex-chtml.js
$(MATHJAX): package-lock.json scripts/site_assets.py
	$(BIN)/python scripts/site_assets.py

book: $(BIN)/.installed $(MATHJAX)
	$(BIN)/jupyter-book build . -W -n --keep-going

# Re-execute every chapter in place (the chapters' stamped run times add
# up to 51 minutes at one thread each
# on 2026-12-06), then
# build: the committed outputs (and each chapter's stated run time) are
# replaced by this machine's.
book-execute: $(BIN)/.installed $(MATHJAX)
	$(BIN)/python scripts/execute_notebooks.py
	$(BIN)/jupyter-book build . -W -n --keep-going

# Execute every chapter twice on this machine (side by side, one thread
# each) and compare the outputs, timings masked: writes
# benchmarks/results/reproduce.json (and the claims every chapter
# compared); exit 1 if a chapter's two runs differ beyond timings.  53 minutes on
# 2 cores (2026-12-06).
book-reproduce: $(BIN)/.installed
	$(BIN)/python scripts/reproduce.py

# The reference model (chapters 05, 07 and 08 share it) and the reference
# pre-trained encoder (chapter 10) are built first, on every core, unless
# they are cached: built inside the workers, two chapters or tests would
# train them at once, each on one core.  Then two test workers (pytest-xdist), one CPU
# thread per process: each chapter or test file runs whole in one worker,
# and the two workers keep to one core each (LABSE_LITE_MAX_THREADS caps
# what chapters and training runs ask for; OMP_NUM_THREADS sets the
# default of everything else, faiss included).
TEST_WORKERS ?= 2

# Lints first (seconds), so a lint failure fails fast.  Prints its own
# wall time (after the set-up), pass or fail.
test: $(BIN)/.installed lint
	@start=$$(date +%s); \
	$(BIN)/labse-lite reference --encoder --quiet && \
	OMP_NUM_THREADS=1 LABSE_LITE_MAX_THREADS=1 $(BIN)/python -m pytest \
	    -n $(TEST_WORKERS) --dist loadfile --durations=25 -m "not colab"; \
	rc=$$?; \
	echo "make test: $$(( $$(date +%s) - start )) s of reference model + tests (exit $$rc)"; \
	exit $$rc

# The colab / multi_gpu presets of every chapter and the Colab cell, run on
# CPU against an offline stand-in of the Hugging Face hub
# (tests/hub_standin.py): 6-10 minutes, so not part of `make test`.
test-colab: $(BIN)/.installed
	OMP_NUM_THREADS=1 LABSE_LITE_MAX_THREADS=1 $(BIN)/python -m pytest \
	    -n $(TEST_WORKERS) --dist loadfile --durations=25 -m colab \
	    tests/test_colab.py

# Everything but the chapters, the site, the multi-process tests and the
# slow ones (training runs, CLI subprocesses): no reference model is
# built.  The same two one-thread workers as `make test`.
FAST := not notebook and not site and not distributed and not slow
test-fast: $(BIN)/.installed
	@start=$$(date +%s); \
	OMP_NUM_THREADS=1 LABSE_LITE_MAX_THREADS=1 $(BIN)/python -m pytest \
	    -n $(TEST_WORKERS) --dist loadfile --durations=10 -m "$(FAST)"; \
	rc=$$?; \
	echo "make test-fast: $$(( $$(date +%s) - start )) s (exit $$rc)"; \
	exit $$rc

# The notebooks (book/*.ipynb) are excluded in pyproject.toml; test_book.py
# checks their code lines.  `ruff format` fixes what the check reports.
LINT_PATHS := labse_lite tests benchmarks scripts data/prepare.py conftest.py
lint: $(BIN)/.installed
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/quality_per_cpu_minute.py
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/lightweight_student.py
	$(BIN)/python benchmarks/hard_negatives.py
	$(BIN)/python benchmarks/mining_speed.py
	$(BIN)/python benchmarks/mining_speed.py --embeddings real \
		--sizes 100000 1000000 --output benchmarks/results/mining_real.json

# The compute ladder (issue 28): the laptop recipe trained at 5, 15 and 45
# CPU-minutes on 2 threads (steps scaled, model unchanged), each rung
# evaluated on the development split, Tatoeba and the large pool; writes
# benchmarks/results/compute_ladder.json.  About 65 minutes of training
# plus 2 minutes of evaluation per rung on the machine the recipe was
# chosen on (its 7,711 steps fill 5 minutes there).  `make ladder LADDER_ARGS=--resume` keeps the rungs
# already in the file and continues an interrupted one.
LADDER_ARGS ?=
ladder: $(BIN)/.installed
	$(BIN)/python benchmarks/compute_ladder.py --threads 2 $(LADDER_ARGS)

# The reversed findings one rung above the laptop (issue 28): chapters 03,
# 06, 08 and 10 re-measured with a 4 x 128 model and longer pre-training;
# writes benchmarks/results/higher_rung.json, one record per arm, and
# skips the arms already there, so it can be spread over sessions.  93
# minutes on 2 cores for chapters 06, 08 and 10 at the default learning
# rate (2026-12-06); the second learning rate's six fine-tuning runs add
# 39, chapter 03's three hard-negative runs 26 and its three equal-time
# runs 26 (2026-12-07): about three hours from an empty cache.
RUNG_ARGS ?=
higher-rung: $(BIN)/.installed
	$(BIN)/python benchmarks/higher_rung.py --threads 2 --resume $(RUNG_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache _build node_modules _mathjax_static
