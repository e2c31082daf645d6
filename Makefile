# music_tm: PGXS build.  `make && make install`, then `make installcheck`
# against a running server; tools/test.sh runs every suite in a throwaway
# cluster.

EXTENSION = music_tm
MODULE_big = music_tm
OBJS = src/common.o src/chart_store.o src/track_store.o src/integrity.o src/ingest.o \
       src/ingest_page.o src/extract.o src/extract_read.o \
       src/extract_fields.o src/history.o src/chart.o src/history_stats.o \
       src/pictures.o src/tenancy.o src/plays.o src/plays_recent.o \
       src/plays_import.o src/plays_stored.o src/plays_write.o src/plays_account.o \
       src/plays_charts.o src/plays_charts_add.o src/plays_stats.o src/plays_top.o
DATA = music_tm--1.0.sql music_tm--1.0--1.1.sql music_tm--1.1--2.0.sql \
       music_tm--2.0--2.1.sql
# The fresh install scripts are made from 1.0 and the upgrades, so that
# installing a version and upgrading to it cannot drift apart.  The 2.0
# script first refuses a schema music_tm that another role made.
DATA_built = music_tm--1.1.sql music_tm--2.0.sql music_tm--2.1.sql

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter

# One regression file per topic; each loads the extension itself.
REGRESS = schema save_track snapshot track_detail extract track_fields \
          bad_input record_page record_bad_input integrity history chart_diff artist \
          pictures history_errors plans plays_recent plays_import plays_match plays_account plays_charts plays_stats plays_bad_input plays_plans upgrade \
          security tenants
REGRESS_OPTS = --load-extension=music_tm

# Isolation specs live in test/specs, their expected output in test/expected.
ISOLATION = upsert_race record_race history_snapshot delete_race plays_race
ISOLATION_OPTS = --inputdir=test --load-extension=music_tm

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

EXTRA_CLEAN = output_iso results regression.diffs regression.out tmp_check

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

music_tm--1.1.sql: music_tm--1.0.sql music_tm--1.0--1.1.sql
	{ echo '/* music_tm--1.1.sql: install script of music_tm 1.1, made by make from music_tm--1.0.sql and music_tm--1.0--1.1.sql */'; \
	  sed 1d music_tm--1.0.sql; sed 1,4d music_tm--1.0--1.1.sql; } > $@

music_tm--2.0.sql: install_guard.sql music_tm--1.1.sql music_tm--1.1--2.0.sql
	{ echo '/* music_tm--2.0.sql: install script of music_tm 2.0, made by make from install_guard.sql, music_tm--1.1.sql and music_tm--1.1--2.0.sql */'; \
	  sed -n 2,4p music_tm--1.1.sql; sed 1d install_guard.sql; sed 1,4d music_tm--1.1.sql; sed 1,4d music_tm--1.1--2.0.sql; } > $@

music_tm--2.1.sql: music_tm--2.0.sql music_tm--2.0--2.1.sql
	{ echo '/* music_tm--2.1.sql: install script of music_tm 2.1, made by make from music_tm--2.0.sql and music_tm--2.0--2.1.sql */'; \
	  sed 1d music_tm--2.0.sql; sed 1,4d music_tm--2.0--2.1.sql; } > $@

.PHONY: bench
bench:
	bash tools/bench.sh

# PGXS tracks no header dependencies: rebuild every object when a header
# changes (inline helpers live in src/common.h).
$(OBJS): $(wildcard $(srcdir)/src/*.h)

# PGXN: `make dist` zips the committed tree (git archive of HEAD) under
# music_tm-VERSION/, VERSION being META.json's.
DISTVERSION = $(shell sed -n 's/^   "version": "\(.*\)",$$/\1/p' $(srcdir)/META.json)
.PHONY: dist
dist:
	git -C $(srcdir) archive --format zip --prefix=$(EXTENSION)-$(DISTVERSION)/ \
	    -o $(CURDIR)/$(EXTENSION)-$(DISTVERSION).zip HEAD
