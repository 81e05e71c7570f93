# Makefile for miaopi (PGXS)

EXTENSION = miaopi
EXTVERSION = $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" $(EXTENSION).control)

# The rule compiler: pure C99, also built into miaopi-lint and the fuzz target.
RULES_SRCS = $(filter-out extension/rules/lint.c,$(sort $(wildcard extension/rules/*.c)))
RULES_OBJS = $(RULES_SRCS:.c=.o)
GLUE_OBJS = $(patsubst %.c,%.o,$(sort $(wildcard extension/*.c)))

MODULE_big = miaopi
OBJS = $(GLUE_OBJS) $(RULES_OBJS)
# Released scripts are never edited; this round's are generated from
# sql/1.1/*.sql (see sql/1.1/README) and committed.
FRAGMENTS_1_1 = $(sort $(wildcard sql/1.1/*.sql))
DATA = sql/$(EXTENSION)--1.0.sql sql/$(EXTENSION)--1.0--1.1.sql sql/$(EXTENSION)--1.1.sql

YAML_CFLAGS := $(shell pkg-config --cflags yaml-0.1 2>/dev/null)
YAML_LIBS := $(shell pkg-config --libs yaml-0.1 2>/dev/null || echo -lyaml)

# pgxs.mk folds these in with := when included, so set them first.
PG_CPPFLAGS = -Iextension -Iextension/rules $(YAML_CFLAGS)
PG_CFLAGS = $(MIAOPI_CFLAGS)
SHLIB_LINK = $(YAML_LIBS)

REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --load-extension=$(EXTENSION)

EXTRA_CLEAN = miaopi-lint test/fuzz/fuzz_rules

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else
# No PostgreSQL build tools yet: only "make deps", "make test" and
# "make demo" (which install them first) can run.
all:
	@echo "pg_config not found: run 'make deps' (as root) first" >&2; exit 1
endif

# ---------------------------------------------------------------------
# Standalone tools over extension/rules/ (no PostgreSQL headers)
# ---------------------------------------------------------------------
STANDALONE_CC ?= cc
STANDALONE_CFLAGS = -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -pedantic -O2 -g $(YAML_CFLAGS)

all: miaopi-lint sql/$(EXTENSION)--1.1.sql sql/$(EXTENSION)--1.0--1.1.sql

sql/$(EXTENSION)--1.0--1.1.sql: $(FRAGMENTS_1_1) test/gen-sql.sh
	test/gen-sql.sh upgrade $(FRAGMENTS_1_1) >$@

sql/$(EXTENSION)--1.1.sql: sql/$(EXTENSION)--1.0.sql $(FRAGMENTS_1_1) test/gen-sql.sh
	test/gen-sql.sh fresh sql/$(EXTENSION)--1.0.sql $(FRAGMENTS_1_1) >$@

# The committed scripts match their fragments.
sql-check:
	@test/gen-sql.sh upgrade $(FRAGMENTS_1_1) | cmp -s - sql/$(EXTENSION)--1.0--1.1.sql && \
	 test/gen-sql.sh fresh sql/$(EXTENSION)--1.0.sql $(FRAGMENTS_1_1) | cmp -s - sql/$(EXTENSION)--1.1.sql || \
	 { echo "sql/$(EXTENSION)--1.1.sql or the upgrade script is stale: run make and commit them" >&2; exit 1; }

miaopi-lint: $(RULES_SRCS) extension/rules/lint.c extension/rules/*.h
	$(STANDALONE_CC) $(STANDALONE_CFLAGS) -o $@ $(RULES_SRCS) extension/rules/lint.c $(YAML_LIBS)

FUZZ_SECONDS ?= 30
test/fuzz/fuzz_rules: $(RULES_SRCS) test/fuzz/fuzz_rules.c extension/rules/*.h
	clang -std=c99 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Iextension/rules $(YAML_CFLAGS) \
		-o $@ $(RULES_SRCS) test/fuzz/fuzz_rules.c $(YAML_LIBS)

fuzz: test/fuzz/fuzz_rules
	test/fuzz/run-fuzz $(FUZZ_SECONDS)

# ---------------------------------------------------------------------
# The two commands, and the rest
# ---------------------------------------------------------------------
.PHONY: test demo bench valgrind quiet-install fuzz deps lint-rules sql-check

deps:
	@test/deps.sh

test: deps
	$(MAKE) clean
	$(MAKE) MIAOPI_CFLAGS=-Werror
	$(MAKE) sql-check
	$(MAKE) install
	./miaopi-lint rules/*.yaml
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)
	test/lint/run.sh
	test/schema/run.sh
	test/run-tests.sh

# make demo and make bench open on the story, not on compiler command lines:
# the build goes to build/build.log, shown only when it fails.
BUILD_LOG = build/build.log
quiet-install:
	@mkdir -p build
	@echo "building and installing miaopi (log: $(BUILD_LOG)) ..."
	@{ $(MAKE) --no-print-directory && $(MAKE) --no-print-directory install; } >$(BUILD_LOG) 2>&1 || \
	 { cat $(BUILD_LOG); echo "the build failed: see above ($(BUILD_LOG))" >&2; exit 1; }

demo: deps
	@$(MAKE) --no-print-directory quiet-install
	@test/demo/run-demo.sh

bench: deps
	@$(MAKE) --no-print-directory quiet-install
	@test/bench/run-bench.sh

# The suite against a server under valgrind memcheck (slow; not in make test)
valgrind: deps
	$(MAKE) MIAOPI_CFLAGS=-Werror
	$(MAKE) install
	test/valgrind.sh

lint-rules: miaopi-lint
	./miaopi-lint rules/*.yaml
