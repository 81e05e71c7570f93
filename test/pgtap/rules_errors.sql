-- Bad input to the rules engine: each error's SQLSTATE and message, and that
-- nothing changed.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
CREATE EXTENSION miaopi;
SELECT plan(52);

CREATE SCHEMA lab;
CREATE TABLE lab.vehicle (plate text PRIMARY KEY, insured_until date, photo bytea);
CREATE TABLE lab.secret (id text PRIMARY KEY);
INSERT INTO lab.vehicle VALUES ('闽A12345', '2027-12-31', NULL);

CREATE FUNCTION pg_temp.doc(checks text, extra text DEFAULT '') RETURNS text LANGUAGE sql AS $$
	SELECT format(E'service: err-lab\nname: 错误\nkind: filing\ntime_limit: {statutory: 20, promised: 1}\nauto_approve: true\nfields:\n  n: {type: int, required: true}\n  plates: "[text]"\n%s\nchecks:\n%s\n', extra, checks)
$$;
CREATE FUNCTION pg_temp.counts() RETURNS text LANGUAGE sql AS $$
	SELECT format('%s/%s/%s', (SELECT count(*) FROM miaopi.service),
		(SELECT count(*) FROM miaopi.ruleset), (SELECT count(*) FROM miaopi.application))
$$;

-- a good service to insert against, and the state to compare with
SELECT lives_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: ok, rule: payload.n >= 0, on_fail: reject}'))$$,
	'a valid document loads');
CREATE TEMP TABLE before AS SELECT pg_temp.counts() AS c;

-- YAML itself
SELECT throws_ok($$SELECT miaopi.load_rules(E'service: [unclosed\nname: x')$$,
	'22P02', 'invalid YAML: did not find expected '','' or '']''', 'malformed YAML is invalid_text_representation');
SELECT throws_ok($$SELECT miaopi.load_rules(E'a: &a [1]\nb: *a')$$,
	'22P02', 'anchors are not allowed in rule files (found "&a")', 'anchors and aliases (YAML bombs) are refused');
SELECT throws_ok($$SELECT miaopi.load_rules(E'a: [1]\nb: *a')$$,
	'22P02', 'aliases are not allowed in rule files', 'an alias alone is refused too');
SELECT throws_ok($$SELECT miaopi.load_rules(repeat('[', 10000) || repeat(']', 10000))$$,
	'54000', 'nesting is deeper than 64 levels', 'nesting 10,000 deep is program_limit_exceeded');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: ok, rule: payload.n >= 0, on_fail: reject}') || '# ' || repeat('x', 10 * 1024 * 1024))$$,
	'54000', 'rules source is too large', 'a 10 MB document is program_limit_exceeded');
SELECT throws_ok($$SELECT miaopi.load_rules('')$$, '22023', 'rule source contains no service documents',
	'an empty source is refused');
SELECT throws_ok($$SELECT miaopi.load_rules('just text')$$, '22023', 'service document must be a mapping, not text',
	'a document that is not a mapping is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(NULL)$$, '22004', 'source must not be null',
	'a null source is refused');

-- the document
SELECT throws_ok($$SELECT miaopi.load_rules(replace(pg_temp.doc('  - {id: ok, rule: payload.n >= 0, on_fail: reject}'), 'checks:', 'chekcs:'))$$,
	'22023', 'unknown key "chekcs" in service document', 'a misspelled key is named');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: payload.n >= 0, on_fail: reject}
  - {id: a, rule: payload.n >= 1, on_fail: reject}'))$$,
	'22023', 'duplicate check id "a"', 'a duplicate check id is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(replace(pg_temp.doc('  - {id: a, rule: payload.n >= 0, on_fail: reject}'), 'promised: 1', 'promised: 30'))$$,
	'22023', 'promised time limit (30 days) exceeds the statutory limit (20 days)', 'promised greater than statutory is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(replace(pg_temp.doc('  - {id: a, rule: payload.n >= 0, on_fail: reject}'), 'kind: filing', 'kind: permit'))$$,
	'22023', 'unknown kind "permit"', 'an unknown kind is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(replace(pg_temp.doc('  - {id: a, rule: payload.n >= 0, on_fail: reject}'), 'statutory: 20', 'statutory: "20"'))$$,
	'22023', '"statutory" must be an integer, not text', 'a value of the wrong type is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: payload.m >= 0, on_fail: reject}'))$$,
	'22023', 'unknown field "m"', 'an unknown field in a rule is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: lenght(payload.plates) > 0, on_fail: reject}'))$$,
	'22023', 'unknown function "lenght"', 'an unknown function is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: payload.n + 1, on_fail: reject}'))$$,
	'22023', 'check rule must be a boolean expression, not int', 'a rule that is not boolean is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: payload.n >= 0, on_fail: reject}', E'licence:\n  type: x\n  number: "X-{yyyy}-{seq:6}-{dd}"\n  valid_days: 365'))$$,
	'22023', 'unknown placeholder {dd} in licence number', 'a licence number with an unknown placeholder is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: payload.n >= 0, on_fail: reject}', E'licence:\n  type: x\n  number: "X-{yyyy}-{seq:6}"\n  valid_days: 365\n  valid_until: today()'))$$,
	'22023', 'licence has both valid_days and valid_until', 'a licence with two ends is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: payload.n >= 0, on_fail: reject}', E'materials:\n  permit: {required: true, or_licence: Road Permit}'))$$,
	'22023', 'invalid licence type "Road Permit"', 'an or_licence that is not a licence type is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: "' || repeat('(', 10000) || '1 > 0' || repeat(')', 10000) || '", on_fail: reject}'))$$,
	'54000', 'expression is nested too deeply (more than 200 levels)', 'an expression nested 10,000 deep is program_limit_exceeded');

-- what only the database can check
SELECT throws_ok($$SELECT miaopi.load_rules(replace(pg_temp.doc('  - {id: a, rule: payload.n >= 0, on_fail: reject}'), 'promised: 1', 'promised: 1, calendar: mars'))$$,
	'22023', 'unknown calendar "mars"', 'an unknown calendar is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: "matches(''x'', ''(['')", on_fail: reject}'))$$,
	'2201B', 'invalid regular expression: brackets [] not balanced', 'a regex that does not compile is refused at load');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: "exists(lab.nothing, plate == ''x'')", on_fail: reject}'))$$,
	'42P01', 'relation "lab.nothing" does not exist', 'an unknown lookup table is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: "exists(lab.vehicle, plat == ''x'')", on_fail: reject}'))$$,
	'42703', 'column "plat" of relation "lab.vehicle" does not exist', 'an unknown lookup column is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: "exists(lab.vehicle, photo == ''x'')", on_fail: reject}'))$$,
	'22023', 'column "photo" of relation "lab.vehicle" has type bytea, which rules cannot use',
	'a lookup column of an unusable type is refused');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: "exists(lab.vehicle, plate == 7)", on_fail: reject}'))$$,
	'22023', 'cannot compare column "plate" of type text with int', 'a lookup value of the wrong type is refused');
-- a rule author needs EXECUTE on load_rules and SELECT on what the rules look up
CREATE ROLE miaopi_author;
GRANT USAGE ON SCHEMA miaopi, lab TO miaopi_author;
GRANT SELECT ON lab.vehicle TO miaopi_author;
GRANT EXECUTE ON FUNCTION miaopi.load_rules(text, boolean) TO miaopi_author;
INSERT INTO miaopi.scope (role, action) VALUES ('miaopi_author', 'load');
SET ROLE miaopi_author;
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: "exists(lab.secret, id == applicant.id)", on_fail: reject}'))$$,
	'42501', 'permission denied for table lab.secret', 'a lookup table the loader cannot read is refused');
SELECT lives_ok($$SELECT miaopi.load_rules(replace(pg_temp.doc('  - {id: a, rule: "exists(lab.vehicle, plate == applicant.id)", on_fail: manual}'), 'err-lab', 'author-lab'))$$,
	'a rule author loads rules without privileges on miaopi''s tables');
RESET ROLE;
SELECT is((SELECT loaded_by FROM miaopi.ruleset WHERE service_code = 'author-lab'), 'miaopi_author',
	'the ruleset records who loaded it');
UPDATE before SET c = pg_temp.counts();
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: a, rule: payload.n > 5, on_fail: reject}', E'tests:\n  - name: small n\n    applicant: {id: x}\n    payload: {n: 1}\n    expect: approve'))$$,
	'23514', 'test "small n" of service "err-lab" failed', 'a failing test refuses the load');
SELECT throws_ok($$SELECT miaopi.load_rules(pg_temp.doc('  - {id: ok, rule: payload.n >= 0, on_fail: reject}') || E'---\n' || replace(pg_temp.doc('  - {id: a, rule: payload.x, on_fail: reject}'), 'err-lab', 'err-lab-2'))$$,
	'22023', 'unknown field "x"', 'one bad document refuses the whole source');
SELECT is(pg_temp.counts(), (SELECT c FROM before), 'no failed load changed anything');

-- inserting
SELECT throws_ok($$INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('nope', 'x', '{}')$$,
	'23503', 'unknown service "nope"', 'INSERT for an unknown service is refused');
INSERT INTO miaopi.service (code, name, kind, statutory_days, promised_days) VALUES ('empty', '空', 'filing', 20, 1);
UPDATE before SET c = pg_temp.counts();
SELECT throws_ok($$INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('empty', 'x', '{}')$$,
	'55000', 'service "empty" has no rules', 'INSERT for a service with no rules is refused');
SELECT throws_ok($$INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('err-lab', 'x', '[1, 2]')$$,
	'22023', 'payload must be a JSON object', 'a payload that is an array is refused');
SELECT throws_ok($$INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('err-lab', 'x', '"text"')$$,
	'22023', 'payload must be a JSON object', 'a payload that is a scalar is refused');
SELECT throws_ok($$INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('err-lab', NULL, '{}')$$,
	'23502', 'null value in column "applicant_id" of relation "application"', 'a null applicant is refused');
SELECT throws_ok($$SELECT miaopi.evaluate('err-lab', 'x', NULL)$$,
	'22004', 'payload must not be null', 'evaluate refuses a null payload');
SELECT throws_ok($$SELECT miaopi.evaluate('nope', 'x', '{}')$$,
	'23503', 'unknown service "nope"', 'evaluate refuses an unknown service');
SELECT is(pg_temp.counts(), (SELECT c FROM before), 'no refused INSERT changed anything');

-- wrong shapes are decisions, not errors
WITH i AS (INSERT INTO miaopi.application (service_code, applicant_id, payload)
	VALUES ('err-lab', 'x', '{"n": "seven"}') RETURNING status)
SELECT is((SELECT status FROM i), 'rejected', 'a field of the wrong type rejects');
SELECT is(miaopi.evaluate('err-lab', 'x', '{}')->'reasons'->0->>'detail', 'field "n" is required',
	'a missing required field is named');
SELECT is(miaopi.evaluate('err-lab', 'x', jsonb_build_object('n', 1, 'plates',
	(SELECT jsonb_agg('闽A' || g) FROM generate_series(1, 100000) g)))->>'decision', 'approve',
	'a payload with 100,000 plates is evaluated');
SELECT is(miaopi.evaluate('err-lab', 'x', jsonb_build_object('n', 1, 'plates',
	(SELECT jsonb_agg(g) FROM generate_series(1, 100000) g)))->'reasons'->0->>'detail',
	'item 0 of field "plates" must be text, not number', '100,000 plates of the wrong type reject at the first');

-- a client cannot set its own status
WITH i AS (INSERT INTO miaopi.application (service_code, applicant_id, payload, status, decided_by)
	VALUES ('err-lab', 'x', '{"n": -1}', 'approved', 'me') RETURNING status)
SELECT is((SELECT status FROM i), 'rejected', 'a client-set status is overwritten on INSERT');
SELECT throws_ok($$UPDATE miaopi.application SET status = 'approved'$$,
	'42501', 'column "status" of an application can only be changed by miaopi',
	'a direct UPDATE of the status is refused');
SELECT throws_ok($$UPDATE miaopi.application SET reasons = '[]'$$,
	'42501', 'column "reasons" of an application can only be changed by miaopi',
	'a direct UPDATE of the reasons is refused');
SELECT is((SELECT count(*)::int FROM miaopi.application WHERE status = 'approved'), 0,
	'no refused UPDATE changed anything');
SELECT throws_ok($$UPDATE miaopi.ruleset SET source = 'x'$$, '42501',
	'rulesets cannot be changed or deleted', 'a stored ruleset cannot be changed');
SELECT throws_ok($$DELETE FROM miaopi.ruleset$$, '42501',
	'rulesets cannot be changed or deleted', 'a stored ruleset cannot be deleted');
SELECT throws_ok($$SELECT * FROM miaopi.explain(-1)$$, 'P0002', 'application -1 does not exist',
	'explain of an unknown application is refused');

SELECT * FROM finish();
ROLLBACK;
