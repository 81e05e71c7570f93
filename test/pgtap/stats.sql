-- Statistics and replay: the objects, their privileges, replay's errors with
-- their SQLSTATEs (the same as load_rules' for a source that does not
-- compile), and that a replay stores nothing.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
CREATE EXTENSION miaopi;
SELECT plan(27);
SET LOCAL timezone = 'Asia/Shanghai';
SET LOCAL miaopi.clock_now = '2026-03-02 09:00+08';

SELECT has_view('miaopi', v, 'view ' || v)
FROM unnest(ARRAY['stats_service', 'stats_daily', 'stats_checks', 'stats_time_limits', 'stats_channels']) v;
SELECT has_function('miaopi', 'replay', ARRAY['text', 'timestamp with time zone', 'timestamp with time zone'],
	'replay(text, timestamptz, timestamptz)');
SELECT ok(NOT has_function_privilege('public', 'miaopi.replay(text, timestamptz, timestamptz)', 'EXECUTE'),
	'PUBLIC may not replay');
SELECT ok(NOT has_table_privilege('public', 'miaopi.' || v, 'SELECT'), 'PUBLIC may not read ' || v)
FROM unnest(ARRAY['stats_service', 'stats_daily', 'stats_checks', 'stats_time_limits', 'stats_channels']) v;
SELECT ok(NOT EXISTS (SELECT FROM pg_class c WHERE c.relname LIKE 'stats\_%'
	AND c.relnamespace = 'miaopi'::regnamespace
	AND coalesce(array_to_string(c.reloptions, ','), '') LIKE '%security_invoker=true%'),
	'the views run with their owner''s rights (not security_invoker)');
SELECT is(miaopi.not_passed('[{"check": "a", "result": "pass"}]'), NULL, 'not_passed: NULL when all passed');
SELECT is(miaopi.not_passed('[{"check": "missing_material", "result": "fail", "on_fail": "reject"},
	{"check": "missing_material", "result": "fail", "on_fail": "reject"},
	{"check": "b", "result": "fail", "on_fail": "manual"}, {"check": "c", "result": "error", "on_fail": "reject"}]'),
	'{r:missing_material,m:b,e:c}', 'not_passed: codes, how, each once');

SELECT lives_ok($$SELECT miaopi.load_rules($y$
service: tap-stats
name: 测试
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  n: {type: int, required: true}
checks:
  - {id: small, rule: payload.n < 10, on_fail: manual}
$y$)$$, 'a service to replay');
INSERT INTO miaopi.application (service_code, applicant_id, payload)
SELECT 'tap-stats', 'a' || g, jsonb_build_object('n', g) FROM generate_series(1, 20) g;

-- a source that does not compile: the same SQLSTATE and message as load_rules
SELECT throws_ok($$SELECT * FROM miaopi.load_rules('service: [unclosed')$$, '22P02',
	'invalid YAML: did not find expected '','' or '']''', 'load_rules: invalid YAML');
SELECT throws_ok($$SELECT * FROM miaopi.replay('service: [unclosed')$$, '22P02',
	'invalid YAML: did not find expected '','' or '']''', 'replay: invalid YAML, as load_rules');
SELECT throws_ok($$SELECT * FROM miaopi.load_rules($y$
service: tap-stats
name: 测试
kind: filing
time_limit: {statutory: 20, promised: 1}
fields:
  n: {type: int, required: true}
checks:
  - {id: small, rule: payload.nn < 10, on_fail: manual}
$y$)$$, '22023', 'unknown field "nn"', 'load_rules: unknown field');
SELECT throws_ok($$SELECT * FROM miaopi.replay($y$
service: tap-stats
name: 测试
kind: filing
time_limit: {statutory: 20, promised: 1}
fields:
  n: {type: int, required: true}
checks:
  - {id: small, rule: payload.nn < 10, on_fail: manual}
$y$)$$, '22023', 'unknown field "nn"', 'replay: unknown field, as load_rules');
SELECT throws_ok($$SELECT * FROM miaopi.replay($y$
service: tap-nobody
name: 测试
kind: filing
time_limit: {statutory: 20, promised: 1}
fields: {}
checks: []
$y$)$$, '42704', 'service "tap-nobody" does not exist', 'replay: unknown service');
SELECT throws_ok($$SELECT * FROM miaopi.replay($y$
service: tap-stats
name: 测试
kind: filing
time_limit: {statutory: 20, promised: 1}
fields: {}
checks: []
---
service: tap-stats2
name: 测试
kind: filing
time_limit: {statutory: 20, promised: 1}
fields: {}
checks: []
$y$)$$, '22023', 'replay takes the rules of one service, the source has 2 documents',
	'replay: several documents');
SELECT throws_ok($$SELECT * FROM miaopi.replay(NULL)$$, '22004', 'source must not be null',
	'replay: NULL source');

-- a threshold from 10 to 15 moves 5 applications from a person to the machine
SELECT results_eq($$SELECT old_decision, new_decision, count(*)::int FROM miaopi.replay($y$
service: tap-stats
name: 测试
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  n: {type: int, required: true}
checks:
  - {id: small, rule: payload.n < 15, on_fail: manual}
$y$) GROUP BY 1, 2$$, $$VALUES ('manual', 'approve', 5)$$, 'replay: the applications that change');
SELECT is((SELECT count(*)::int FROM miaopi.ruleset WHERE service_code = 'tap-stats'), 1,
	'replay stored no ruleset');
SELECT is((SELECT count(*)::int FROM miaopi.service WHERE code = 'tap-stats2'), 0,
	'replay stored no service');
SELECT is((SELECT submitted::int FROM miaopi.stats_service WHERE service = 'tap-stats'), 20,
	'stats_service counts the applications');

SELECT * FROM finish();
ROLLBACK;
