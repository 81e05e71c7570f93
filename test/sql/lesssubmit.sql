-- Less to submit: fields fetched from agency data (from:), the credit lane
-- (waived_if:) and commitments (告知承诺) with their verification.
-- in a database of its own, so that ids and counts do not depend on other tests
SET client_min_messages = warning;
DROP DATABASE IF EXISTS miaopi_lesssubmit;
RESET client_min_messages;
CREATE DATABASE miaopi_lesssubmit;
\c miaopi_lesssubmit
CREATE EXTENSION miaopi;
SET miaopi.clock_now = '2026-12-01 10:00:00+08';
SET timezone = 'Asia/Shanghai';
CREATE SCHEMA agency;
CREATE TABLE agency.company (uscc text PRIMARY KEY, employees int, capital numeric,
	founded date, grade text, listed boolean);
INSERT INTO agency.company VALUES
	('91350100MA2XXXXXXA', 42, 1000000.50, '2010-05-01', 'A', true),
	('91350100MA2YYYYYYB', 3, 10, '2020-01-01', 'C', false),
	('91350100MA2ZZZZZZC', NULL, NULL, NULL, NULL, NULL);
CREATE TABLE agency.site (owner text PRIMARY KEY, district text);
INSERT INTO agency.site VALUES ('91350100MA2XXXXXXA', '鼓楼区');

-- ====================================================================
-- from: type checks at load
-- ====================================================================
-- a column of the wrong type
SELECT * FROM miaopi.load_rules($$
service: fetch-bad
name: x
kind: filing
time_limit: {statutory: 20, promised: 1}
fields:
  employees: {type: text, from: "lookup(agency.company, uscc == applicant.id).employees"}
$$);
-- an unknown column
SELECT * FROM miaopi.load_rules($$
service: fetch-bad
name: x
kind: filing
time_limit: {statutory: 20, promised: 1}
fields:
  employees: {type: int, from: "lookup(agency.company, uscc == applicant.id).staff"}
$$);
-- an unknown table
SELECT * FROM miaopi.load_rules($$
service: fetch-bad
name: x
kind: filing
time_limit: {statutory: 20, promised: 1}
fields:
  employees: {type: int, from: "lookup(agency.nothing, uscc == applicant.id).staff"}
$$);
-- required from the client and fetched at once
SELECT * FROM miaopi.load_rules($$
service: fetch-bad
name: x
kind: filing
time_limit: {statutory: 20, promised: 1}
fields:
  employees: {type: int, required: true, from: "lookup(agency.company, uscc == applicant.id).employees"}
$$);
-- no lookup: a value of the client's own
SELECT * FROM miaopi.load_rules($$
service: fetch-bad
name: x
kind: filing
time_limit: {statutory: 20, promised: 1}
fields:
  count: int
  employees: {type: int, from: "payload.count * 2"}
$$);
-- waived_if must be boolean
SELECT * FROM miaopi.load_rules($$
service: fetch-bad
name: x
kind: filing
time_limit: {statutory: 20, promised: 1}
materials:
  permit: {required: true, waived_if: "lookup(agency.company, uscc == applicant.id).grade"}
$$);
SELECT count(*) AS services FROM miaopi.service WHERE code = 'fetch-bad';

-- ====================================================================
-- A service that fetches, waives and accepts commitments
-- ====================================================================
SELECT * FROM miaopi.load_rules($$
service: hire-filing
name: 用工备案
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  employees: {type: int, from: "lookup(agency.company, uscc == applicant.id).employees"}
  capital: {type: decimal, from: "lookup(agency.company, uscc == applicant.id).capital"}
  staff_decimal: {type: decimal, from: "lookup(agency.company, uscc == applicant.id).employees"}
  founded: {type: date, from: "lookup(agency.company, uscc == applicant.id).founded"}
  listed: {type: bool, from: "lookup(agency.company, uscc == applicant.id).listed"}
  district: {type: text, from: "lookup(agency.site, owner == applicant.id).district"}
  note: text
materials:
  licence_copy: {required: true, waived_if: "lookup(agency.company, uscc == applicant.id).grade == 'A'"}
  safety_plan: {required: true, commitment: {verify_within: 3}}
checks:
  - id: size
    rule: payload.employees >= 10
    message: 职工不足 10 人
    on_fail: reject
  - id: district
    rule: payload.district == '鼓楼区'
    on_fail: manual
tests:
  - name: fetched, waived and committed
    applicant: {id: 91350100MA2XXXXXXA}
    payload: {employees: 1}
    commitments: [safety_plan]
    expect: approve
    failed: []
$$);

-- the client's employees (1) is replaced by the register's (42); the
-- licence copy is waived (grade A); the safety plan is committed
SELECT miaopi.evaluate('hire-filing', '91350100MA2XXXXXXA', '{"employees": 1, "note": "x"}',
					   '{safety_plan}')->>'decision' AS decision;
-- the pre-check with the commitment (evaluate's sixth argument)
SELECT miaopi.evaluate('hire-filing', '91350100MA2XXXXXXA', '{}', '{}', NULL, '{safety_plan}')->>'decision' AS decision;
-- a commitment for a material that cannot be committed counts for nothing
SELECT miaopi.evaluate('hire-filing', '91350100MA2YYYYYYB', '{}', '{safety_plan}', NULL, '{licence_copy}')->>'decision' AS decision;
-- without the safety plan or its commitment: missing material
SELECT jsonb_path_query_array(miaopi.evaluate('hire-filing', '91350100MA2XXXXXXA', '{}')->'reasons',
							  '$[*] ? (@.result != "pass")') AS not_passed;
-- grade C: no waiver; 3 employees: rejected
SELECT jsonb_path_query_array(miaopi.evaluate('hire-filing', '91350100MA2YYYYYYB', '{"employees": 100}',
											  '{safety_plan}')->'reasons',
							  '$[*] ? (@.result != "pass")') AS not_passed;
-- no row: the fields are missing, and a check that needs one is an error (a person decides)
SELECT miaopi.evaluate('hire-filing', 'nobody', '{"employees": 100}', '{safety_plan,licence_copy}');
-- a source the evaluating role may not read: the check that reads the field
-- says why (an error, so a person decides), the other fetched fields stand
SET client_min_messages = warning;
DROP ROLE IF EXISTS fetch_clerk;
RESET client_min_messages;
CREATE ROLE fetch_clerk;
GRANT USAGE ON SCHEMA miaopi, agency TO fetch_clerk;
GRANT SELECT ON agency.company TO fetch_clerk;
GRANT EXECUTE ON FUNCTION miaopi.evaluate(text, text, jsonb, text[], text) TO fetch_clerk;
SET ROLE fetch_clerk;
SELECT r->>'check' AS check, r->>'result' AS result, r->>'detail' AS detail
FROM jsonb_array_elements(miaopi.evaluate('hire-filing', '91350100MA2XXXXXXA', '{}', '{safety_plan}')->'reasons') r;
RESET ROLE;
DROP OWNED BY fetch_clerk;
DROP ROLE fetch_clerk;
-- a row with NULLs: missing too
SELECT miaopi.evaluate('hire-filing', '91350100MA2ZZZZZZC', '{}', '{safety_plan,licence_copy}')->>'decision' AS decision;

-- INSERT: the payload on record shows what was decided on
INSERT INTO miaopi.application (service_code, applicant_id, payload, materials, commitments)
VALUES ('hire-filing', '91350100MA2XXXXXXA', '{"employees": 1, "note": "x"}', '{}', '{safety_plan}')
RETURNING status, payload, verify_days, verify_due;
INSERT INTO miaopi.application (service_code, applicant_id, payload, materials)
VALUES ('hire-filing', 'nobody', '{"employees": 500}', '{safety_plan,licence_copy}')
RETURNING status, payload, verify_days, verify_due;
-- submitted, not committed: nothing to verify
INSERT INTO miaopi.application (service_code, applicant_id, payload, materials)
VALUES ('hire-filing', '91350100MA2XXXXXXA', '{}', '{safety_plan}')
RETURNING status, verify_days, verify_due;
-- a client cannot set the verification columns
INSERT INTO miaopi.application (service_code, applicant_id, payload, materials, verify_days, verify_due, verified_at)
VALUES ('hire-filing', '91350100MA2XXXXXXA', '{}', '{safety_plan}', 99, now(), now())
RETURNING status, verify_days, verify_due, verified_at;
-- nor change the fetched payload afterwards
UPDATE miaopi.application SET payload = '{"employees": 1}' WHERE applicant_id = 'nobody';

SELECT a.id AS app1 FROM miaopi.application a WHERE a.verify_days IS NOT NULL ORDER BY a.id LIMIT 1 \gset
SELECT a.id AS app3 FROM miaopi.application a WHERE a.verify_days IS NULL AND a.status = 'approved' ORDER BY a.id LIMIT 1 \gset

-- ====================================================================
-- The clock, sweep() and verification
-- ====================================================================
SELECT status, verify_due, verify_light FROM miaopi.clock WHERE application = :app1;
SET miaopi.clock_now = '2026-12-03 10:00:00+08';
SELECT verify_light FROM miaopi.clock WHERE application = :app1;
SET miaopi.clock_now = '2026-12-08 10:00:00+08';
SELECT verify_light FROM miaopi.clock WHERE application = :app1;
SELECT miaopi.sweep() AS found;
SELECT miaopi.sweep() AS found_again;
SELECT action, actor, detail FROM miaopi.event WHERE application_id = :app1 ORDER BY id;

-- errors, each changing nothing
SELECT miaopi.act(:app1, 'verify_failed');
SELECT miaopi.act(:app1, 'verify_failed', NULL);
SELECT miaopi.act(:app3, 'verify');
SELECT miaopi.act(999999, 'verify');
SELECT status, verified_at FROM miaopi.application WHERE id = :app1;

-- the verification fails: the approval is withdrawn
SELECT miaopi.act(:app1, 'verify_failed', '现场核查未见安全生产方案');
SELECT status, verified_at IS NOT NULL AS verified, closed_at IS NOT NULL AS closed
FROM miaopi.application WHERE id = :app1;
SELECT status, verify_light FROM miaopi.clock WHERE application = :app1;
SELECT action, from_status, to_status, comment, detail FROM miaopi.event
WHERE application_id = :app1 AND action LIKE 'verify%' ORDER BY id;
-- closed once
SELECT miaopi.act(:app1, 'verify');
SELECT miaopi.act(:app1, 'approve');

-- a verification that succeeds
SET miaopi.clock_now = '2026-12-01 11:00:00+08';
INSERT INTO miaopi.application (service_code, applicant_id, payload, commitments)
VALUES ('hire-filing', '91350100MA2XXXXXXA', '{}', '{safety_plan}') RETURNING id AS app2 \gset
SELECT miaopi.act(:app2, 'verify');
SELECT status, verified_at IS NOT NULL AS verified FROM miaopi.application WHERE id = :app2;
SELECT action, detail->'late' AS late FROM miaopi.event WHERE application_id = :app2;

-- a person approves on commitments: the verification clock starts then
SELECT * FROM miaopi.load_rules($$
service: hire-licence
name: 用工许可
kind: public_service
time_limit: {statutory: 20, promised: 5}
materials:
  safety_plan: {required: true, commitment: {verify_within: 10}}
$$);
INSERT INTO miaopi.application (service_code, applicant_id, payload, commitments)
VALUES ('hire-licence', '91350100MA2XXXXXXA', '{}', '{safety_plan}')
RETURNING id AS app4, status, verify_days, verify_due \gset
SELECT :'status' AS status, :verify_days AS verify_days;
SELECT miaopi.act(:app4, 'verify');
SELECT miaopi.act(:app4, 'accept');
SELECT miaopi.act(:app4, 'approve');
SELECT verify_days, verify_due FROM miaopi.application WHERE id = :app4;
SELECT action, detail FROM miaopi.event WHERE application_id = :app4 AND action = 'commitment';

-- every step above is on the audit ledger's chains, unbroken
SELECT * FROM miaopi.verify_events();

\c contrib_regression
DROP DATABASE miaopi_lesssubmit;
