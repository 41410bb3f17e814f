# The everyday entry points. Each sets itself up first (scripts/bootstrap.sh is idempotent).
.PHONY: demo test lint bench bootstrap env-example clean

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

lint:
	bash scripts/bootstrap.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench:
	bash scripts/bootstrap.sh
	@for b in bench/*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done

bootstrap:
	bash scripts/bootstrap.sh

# .env.example is generated from core/settings.py (tests/test_env_example.py keeps it in step).
env-example:
	bash scripts/bootstrap.sh
	.venv/bin/python -m core.env_example .env.example

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
