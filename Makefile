.PHONY: demo test install bench bench-quick lint format

# The demo: install, migrate, load a synthetic cohort, serve on http://127.0.0.1:8000 with `pdva serve`
# (gunicorn + whitenoise, the production path)
demo:
	./scripts/setup.sh
	PDVA_DEMO_MODE=true .venv/bin/pdva demo

# Every test, on SQLite and PostgreSQL, plus lint and the migration check
test:
	./scripts/test.sh

install:
	./scripts/setup.sh

# Benchmarks (bench/README.md): every target PASS or MISS; exits non-zero on a missed target
bench: install
	PDVA_ENV=test .venv/bin/python bench/run_all.py

bench-quick: install
	PDVA_ENV=test .venv/bin/python bench/run_all.py --quick

lint:
	.venv/bin/ruff check pdva tests bench
	.venv/bin/ruff format --check pdva tests bench

format:
	.venv/bin/ruff format pdva tests bench
	.venv/bin/ruff check --fix pdva tests bench
