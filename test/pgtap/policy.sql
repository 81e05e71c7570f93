-- Less to submit and policies: every error's SQLSTATE and message, that
-- nothing changed, the objects and their privileges.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
CREATE EXTENSION miaopi;
SELECT plan(51);
SET LOCAL timezone = 'Asia/Shanghai';
SET LOCAL miaopi.clock_now = '2026-12-01 10:00+08';

-- The objects
SELECT has_table('miaopi', 'policy_match', 'table policy_match');
SELECT columns_are('miaopi', 'policy_match', ARRAY['id', 'service_code', 'ruleset_id', 'applicant_id',
	'eligible', 'benefit', 'failed', 'matched_at', 'notified_at', 'confirmed_at', 'application_id'],
	'policy_match has the contract''s columns');
SELECT has_column('miaopi', 'application', 'commitments', 'application.commitments');
SELECT col_type_is('miaopi', 'application', 'commitments', 'text[]', 'commitments is text[]');
SELECT has_function('miaopi', 'match', ARRAY['text'], 'match(text)');
SELECT has_function('miaopi', 'evaluate', ARRAY['text', 'text', 'jsonb', 'text[]', 'text', 'text[]'], 'evaluate with commitments');
SELECT has_function('miaopi', 'push', ARRAY['text'], 'push(text)');
SELECT has_function('miaopi', 'confirm', ARRAY['bigint'], 'confirm(bigint)');
SELECT has_function('miaopi', 'apply_all', ARRAY['text'], 'apply_all(text)');
SELECT function_returns('miaopi', 'push', ARRAY['text'], 'bigint', 'push returns bigint');
SELECT function_returns('miaopi', 'confirm', ARRAY['bigint'], 'bigint', 'confirm returns bigint');
SELECT ok(NOT has_function_privilege('public', 'miaopi.push(text)', 'EXECUTE'), 'push is not for PUBLIC');
SELECT ok(NOT has_function_privilege('public', 'miaopi.match(text)', 'EXECUTE'), 'match is not for PUBLIC');
SELECT ok(NOT has_function_privilege('public', 'miaopi.confirm(bigint)', 'EXECUTE'), 'confirm is not for PUBLIC');
SELECT ok(NOT has_function_privilege('public', 'miaopi.apply_all(text)', 'EXECUTE'), 'apply_all is not for PUBLIC');
SELECT ok(NOT has_table_privilege('public', 'miaopi.policy_match', 'SELECT'), 'policy_match is not for PUBLIC');
SELECT ok(EXISTS (SELECT 1 FROM pg_catalog.pg_extension e
				  WHERE e.extname = 'miaopi' AND 'miaopi.policy_match'::regclass = ANY (e.extconfig)),
		  'policy_match is dumped');

-- Reference data
CREATE SCHEMA ent;
CREATE TABLE ent.company (uscc text PRIMARY KEY, employees int, grade text, tech boolean);
INSERT INTO ent.company VALUES ('C1', 150, 'A', true), ('C2', 5, 'C', false);
CREATE TABLE ent.numbered (id int PRIMARY KEY);

-- Load errors
SELECT throws_ok($$SELECT miaopi.load_rules(E'service: p\nname: x\nkind: filing\ntime_limit: {statutory: 20, promised: 1}\nfields:\n  n: {type: text, from: "lookup(ent.company, uscc == applicant.id).employees"}')$$,
	'22023', 'from: of field "n" gives int, but the field is text', 'from: of the wrong type');
SELECT throws_ok($$SELECT miaopi.load_rules(E'service: p\nname: x\nkind: filing\ntime_limit: {statutory: 20, promised: 1}\nfields:\n  n: {type: int, from: "lookup(ent.company, uscc == applicant.id).staff"}')$$,
	'42703', 'column "staff" of relation "ent.company" does not exist', 'from: of an unknown column');
SELECT throws_ok($$SELECT miaopi.load_rules(E'service: p\nname: x\nkind: filing\ntime_limit: {statutory: 20, promised: 1}\nfields:\n  n: {type: int, required: true, from: "lookup(ent.company, uscc == applicant.id).employees"}')$$,
	'22023', 'field "n" is fetched with from: and cannot also be required from the client', 'from: with required');
SELECT throws_ok($$SELECT miaopi.load_rules(E'service: p\nname: x\nkind: filing\ntime_limit: {statutory: 20, promised: 1}\nfields:\n  m: int\n  n: {type: int, from: "payload.m"}')$$,
	'22023', 'from: of field "n" must fetch its value with lookup()', 'from: without a lookup');
SELECT throws_ok($$SELECT miaopi.load_rules(E'service: p\nname: x\nkind: filing\ntime_limit: {statutory: 20, promised: 1}\nmaterials:\n  m: {required: true, waived_if: "lookup(ent.company, uscc == applicant.id).grade"}')$$,
	'22023', 'waived_if of material "m" must be a boolean expression, not text', 'waived_if not boolean');
SELECT throws_ok($$SELECT miaopi.load_rules(E'service: p\nname: x\nkind: filing\ntime_limit: {statutory: 20, promised: 1}\nmaterials:\n  m: {required: true, commitment: {verify_within: 0}}')$$,
	'22023', '"verify_within" must be between 1 and 3650 working days', 'commitment of zero days');
SELECT throws_ok($$SELECT miaopi.load_rules(E'service: p\nname: x\nkind: policy\ntime_limit: {statutory: 20, promised: 1}\napply: auto\nopen: {from: 2026-01-01}\naudience: {table: ent.company, key: uscc}\nbenefit: "''a''"')$$,
	'22023', 'benefit must be a decimal expression, not text', 'benefit not decimal');
SELECT throws_ok($$SELECT miaopi.load_rules(E'service: p\nname: x\nkind: policy\ntime_limit: {statutory: 20, promised: 1}\napply: auto\nopen: {from: 2026-02-01, until: 2026-01-31}\naudience: {table: ent.company, key: uscc}\nbenefit: "1"')$$,
	'22023', 'open.until (2026-01-31) is before open.from (2026-02-01)', 'open.until before open.from');
SELECT throws_ok($$SELECT miaopi.load_rules(E'service: p\nname: x\nkind: policy\ntime_limit: {statutory: 20, promised: 1}\napply: auto\nopen: {from: 2026-01-01}\naudience: {table: ent.nothing, key: uscc}\nbenefit: "1"')$$,
	'42P01', 'relation "ent.nothing" does not exist', 'audience table that does not exist');
SELECT throws_ok($$SELECT miaopi.load_rules(E'service: p\nname: x\nkind: policy\ntime_limit: {statutory: 20, promised: 1}\napply: auto\nopen: {from: 2026-01-01}\naudience: {table: ent.company, key: usci}\nbenefit: "1"')$$,
	'42703', 'column "usci" of relation "ent.company" does not exist', 'audience key that does not exist');
SELECT throws_ok($$SELECT miaopi.load_rules(E'service: p\nname: x\nkind: policy\ntime_limit: {statutory: 20, promised: 1}\napply: auto\nopen: {from: 2026-01-01}\naudience: {table: ent.numbered, key: id}\nbenefit: "1"')$$,
	'22023', 'audience key "id" must be a text column, not int', 'audience key not text');
SELECT throws_ok($$SELECT miaopi.load_rules(E'service: p\nname: x\nkind: policy\ntime_limit: {statutory: 20, promised: 1}\napply: sometimes\nopen: {from: 2026-01-01}\naudience: {table: ent.company, key: uscc}\nbenefit: "1"')$$,
	'22023', 'unknown apply "sometimes"', 'unknown apply');
SELECT is((SELECT count(*) FROM miaopi.service), 0::bigint, 'no load error stored a service');

-- A policy, a filing that takes commitments, and errors of the functions
SELECT lives_ok($$SELECT miaopi.load_rules(E'service: grant\nname: 补贴\nkind: policy\ntime_limit: {statutory: 20, promised: 5}\nauto_approve: true\napply: confirm\nopen: {from: 2026-01-01}\naudience: {table: ent.company, key: uscc}\nbenefit: "payload.employees * 1500"\nfields:\n  employees: {type: int, from: "lookup(ent.company, uscc == applicant.id).employees"}\nchecks:\n  - id: hires\n    rule: payload.employees >= 100\n    on_fail: reject\n---\nservice: plain\nname: 备案\nkind: filing\ntime_limit: {statutory: 20, promised: 1}\nauto_approve: true\nmaterials:\n  plan: {required: true, commitment: {verify_within: 5}}')$$,
	'a policy and a filing load');
SELECT throws_ok($$SELECT miaopi.push('nothing-here')$$, '23503', 'unknown service "nothing-here"', 'push of an unknown service');
SELECT throws_ok($$SELECT miaopi.push('plain')$$, '42809', 'service "plain" is not a policy', 'push of a service that is not a policy');
SELECT is((SELECT count(*) FROM miaopi.policy_match), 0::bigint, 'failed pushes record nothing');
SELECT is(miaopi.push('grant'), 2::bigint, 'push records one match per audience member');
SELECT is(miaopi.push('grant'), 0::bigint, 'push of the same version again records nothing');
SELECT throws_ok($$SELECT miaopi.confirm(424242)$$, 'P0002', 'policy match 424242 does not exist', 'confirm of an unknown match');
SELECT throws_ok(format('SELECT miaopi.confirm(%s)', (SELECT id FROM miaopi.policy_match WHERE applicant_id = 'C2')),
	'55000', format('policy match %s is not eligible', (SELECT id FROM miaopi.policy_match WHERE applicant_id = 'C2')),
	'confirm of an ineligible match');
SELECT isnt(miaopi.confirm((SELECT id FROM miaopi.policy_match WHERE applicant_id = 'C1')), NULL, 'confirm files the application');
SELECT throws_ok(format('SELECT miaopi.confirm(%s)', (SELECT id FROM miaopi.policy_match WHERE applicant_id = 'C1')),
	'55000', format('policy match %s is already confirmed', (SELECT id FROM miaopi.policy_match WHERE applicant_id = 'C1')),
	'confirm of a match already confirmed');
SELECT is((SELECT count(*) FROM miaopi.application WHERE service_code = 'grant'), 1::bigint, 'one application filed');
SELECT is_empty($$SELECT * FROM miaopi.apply_all('C2')$$, 'apply_all with nothing eligible is zero rows');
SELECT is_empty($$SELECT * FROM miaopi.apply_all('C1')$$, 'apply_all after confirm files nothing again');

-- Commitments
INSERT INTO miaopi.application (service_code, applicant_id, payload, commitments)
VALUES ('plain', 'C1', '{}', '{plan}');
SELECT is((SELECT status FROM miaopi.application WHERE service_code = 'plain'), 'approved', 'a committed material counts as given');
SELECT isnt((SELECT verify_due FROM miaopi.application WHERE service_code = 'plain'), NULL, 'the approval carries a verification due');
SELECT throws_ok(format('SELECT miaopi.act(%s, ''verify_failed'')', (SELECT id FROM miaopi.application WHERE service_code = 'plain')),
	'22004', 'action "verify_failed" requires a comment', 'verify_failed without a reason');
SELECT is((SELECT status FROM miaopi.application WHERE service_code = 'plain'), 'approved', 'and nothing changed');
SELECT is(miaopi.act((SELECT id FROM miaopi.application WHERE service_code = 'plain'), 'verify_failed', '承诺不实'),
	'revoked', 'verify_failed revokes the approval');
SELECT throws_ok(format('SELECT miaopi.act(%s, ''verify'')', (SELECT id FROM miaopi.application WHERE service_code = 'plain')),
	'55000', format('the commitments of application %s are already verified', (SELECT id FROM miaopi.application WHERE service_code = 'plain')),
	'a verification is closed once');
SELECT throws_ok(format('SELECT miaopi.act(%s, ''verify'')', (SELECT id FROM miaopi.application WHERE service_code = 'grant')),
	'55000', format('application %s has no commitment to verify', (SELECT id FROM miaopi.application WHERE service_code = 'grant')),
	'verify without commitments');
SELECT results_eq($$SELECT action FROM miaopi.event WHERE action IN ('verify_failed', 'policy_push', 'policy_confirm') ORDER BY id$$,
	ARRAY['policy_push', 'policy_push', 'policy_confirm', 'verify_failed'], 'every step is an event');

SELECT * FROM finish();
ROLLBACK;
