# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv with a Python >= 3.12 found by scripts/find-python and
# installs what it needs; re-running only reinstalls when pyproject.toml changes.

VENV := .venv
PY := $(VENV)/bin/python
DEMO_PROJECT ?= demo/demo.duckdb

.PHONY: demo test lint screenshots screenshots-sixel screenshots-kitty clean-demo

$(VENV)/.created:
	"$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	touch $@

$(VENV)/.installed-demo: pyproject.toml $(VENV)/.created
	$(PY) -m pip install -q -e '.[demo]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.created
	$(PY) -m pip install -q -e '.[dev,cluster]'
	touch $@

demo: $(VENV)/.installed-demo
	$(VENV)/bin/planche demo --project $(DEMO_PROJECT)

test: $(VENV)/.installed-dev
	@$(PY) -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$status

# The screenshots are replay scripts run in the app on a fresh demo project.
screenshots: $(VENV)/.installed-dev
	rm -rf demo/shots
	$(VENV)/bin/planche demo --project demo/shots/demo.duckdb --folder demo/shots/demo-images --embedder pixels > /dev/null
	$(VENV)/bin/planche replay screenshots/tour.jsonl --project demo/shots/demo.duckdb --app --screenshots screenshots
	$(VENV)/bin/planche replay screenshots/small.jsonl --project demo/shots/demo.duckdb --app --size 80x24 --screenshots screenshots

# The atlas with sharp (sixel) thumbnails, from xterm under Xvfb.
screenshots-sixel: $(VENV)/.installed-dev
	bash screenshots/sixel.sh

# The grid's kitty placeholders in a real kitty (0.28+), alone and behind tmux, under Xvfb.
screenshots-kitty: $(VENV)/.installed-dev
	bash screenshots/kitty.sh

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean-demo:
	rm -rf demo
