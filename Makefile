# greenwatch: two commands set everything up on a fresh machine (Python 3.11 + Java 17):
#   make demo   -> .venv, sample data, the whole pipeline on the embedded bus, table, alerts, HTML report
#   make test   -> .venv, a local Kafka broker, pytest (the STAC server is started by the fixtures), broker stopped
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
KAFKA_PORT ?= 19092
PYTEST_ARGS ?=

.PHONY: install demo test lint typecheck bench bench-worker bench-load kafka-start kafka-stop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/greenwatch demo

test: $(STAMP)
	@bash -c 'set -euo pipefail; \
	  bash deploy/kafka/kafka.sh fetch; \
	  trap "KAFKA_PORT=$(KAFKA_PORT) bash deploy/kafka/kafka.sh stop" EXIT; \
	  KAFKA_PORT=$(KAFKA_PORT) bash deploy/kafka/kafka.sh start; \
	  GREENWATCH_TEST_KAFKA=127.0.0.1:$(KAFKA_PORT) $(BIN)/python -m pytest $(PYTEST_ARGS)'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(MAKE) typecheck

# mypy cannot follow the editable-install import hook that maps kernels/, schemas/ and services/
# to greenwatch.*: give it a link farm instead.
typecheck: $(STAMP)
	rm -rf .typecheck && mkdir -p .typecheck/greenwatch
	ln -s ../../kernels .typecheck/greenwatch/kernels
	ln -s ../../schemas .typecheck/greenwatch/schemas
	ln -s ../../services .typecheck/greenwatch/services
	$(BIN)/mypy -p greenwatch.kernels -p greenwatch.schemas -p greenwatch.services

bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench_kernels

# the tile worker on a full synthetic tile against raw zstd decode (generates the product once, var/bench-worker)
bench-worker: $(STAMP)
	$(BIN)/python -m benchmarks.bench_worker

# scenes through a broker of its own (port BENCH_KAFKA_PORT) with 1, 2 and 4 worker processes (benchmarks/README.md)
BENCH_KAFKA_PORT ?= 19192
BENCH_ARGS ?=
bench-load: $(STAMP)
	@bash -c 'set -euo pipefail; \
	  bash deploy/kafka/kafka.sh fetch; \
	  trap "KAFKA_PORT=$(BENCH_KAFKA_PORT) bash deploy/kafka/kafka.sh stop" EXIT; \
	  KAFKA_PORT=$(BENCH_KAFKA_PORT) bash deploy/kafka/kafka.sh start; \
	  $(BIN)/python -m benchmarks.bench_load --bootstrap 127.0.0.1:$(BENCH_KAFKA_PORT) $(BENCH_ARGS)'

kafka-start:
	bash deploy/kafka/kafka.sh fetch && KAFKA_PORT=$(KAFKA_PORT) bash deploy/kafka/kafka.sh start

kafka-stop:
	KAFKA_PORT=$(KAFKA_PORT) bash deploy/kafka/kafka.sh stop

clean:
	rm -rf var .typecheck build *.egg-info
