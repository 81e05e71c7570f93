/*
 * test/demo/10-setup.sql: the opening of `make demo` (test/demo/run-demo.sh)
 * in a throwaway cluster with psql -v load_rules=<file of \i lines>:
 * psql settings for every section, the reference data, every file in rules/.
 *
 * The fixture's world is the week of 2026-11-23 .. 2026-12-01 in Fuzhou:
 * miaopi.clock_now is pinned per submission, so every run decides the same
 * way (random() is seeded).
 */
\set ON_ERROR_STOP 1
\pset linestyle unicode
\pset border 2
\pset null '—'
\pset footer off
SET client_min_messages = warning;
SET timezone = 'Asia/Shanghai';

\echo
\echo '  ┌───────────────────────────────────────────────────────────────┐'
\echo '  │  秒批 miaopi: approval rules decided inside INSERT             │'
\echo '  └───────────────────────────────────────────────────────────────┘'
\echo

CREATE EXTENSION IF NOT EXISTS miaopi;

\echo '── 1. The agencies'' own reference data (test/fixtures/reference.sql) ──'
\i test/fixtures/reference.sql
SET client_min_messages = warning;

SELECT t AS "table", n AS "rows", what
FROM (VALUES
		('registry.company', (SELECT count(*) FROM registry.company), '市场主体登记 company register'),
		('registry.vehicle', (SELECT count(*) FROM registry.vehicle), '机动车登记与交强险 vehicles and insurance'),
		('health.training', (SELECT count(*) FROM health.training), '放射防护培训 radiation-protection training'),
		('health.exam', (SELECT count(*) FROM health.exam), '职业健康检查 health examinations'),
		('housing.account', (SELECT count(*) FROM housing.account), '住房公积金账户 fund accounts'),
		('housing.rental_contract', (SELECT count(*) FROM housing.rental_contract), '租赁合同备案 rental contracts'),
		('housing.property', (SELECT count(*) FROM housing.property), '不动产登记 home ownership')
	 ) AS v(t, n, what);

\echo
\echo '── 2. Load every file in rules/ (each file''s tests: run at load) ──'
\i :load_rules

SELECT code AS service, name, kind, statutory_days AS "法定 days",
	   promised_days AS "承诺 days", auto_approve AS auto
FROM miaopi.service
ORDER BY code;

