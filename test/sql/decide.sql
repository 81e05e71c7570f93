-- The decision trigger: approved, rejected and pending rows, with reasons.
SET datestyle = 'ISO, YMD';
SET timezone = 'Asia/Shanghai';
SET miaopi.clock_now = '2026-12-01 10:00:00+08';
CREATE SCHEMA lab;
CREATE TABLE lab.vehicle (plate text PRIMARY KEY, insured_until date NOT NULL);
INSERT INTO lab.vehicle VALUES ('闽A12345', '2027-12-31'), ('闽A54321', '2027-06-30'),
	('闽A00001', '2026-01-31');

SELECT service, version, checks, tests_passed FROM miaopi.load_rules($y$
service: test-filing
name: 测试备案
department: 测试局
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  vehicle_count: {type: int, required: true}
  plates: {type: "[text]", required: true}
  start_date: {type: date, required: true}
  end_date: date
materials:
  transport_contract: {required: true}
  photo: false
checks:
  - id: uscc
    rule: uscc_valid(applicant.id)
    message: 统一社会信用代码无效
    on_fail: reject
  - id: count
    rule: len(payload.plates) == payload.vehicle_count
    message: 车辆数量与车牌不符
    on_fail: reject
  - id: period
    rule: not has(payload.end_date) or days_between(payload.start_date, payload.end_date) <= 365
    on_fail: manual
  - id: insured
    rule: all(payload.plates, p, exists(lab.vehicle, plate == p and insured_until >= payload.start_date))
    message: 车辆保险无效
    on_fail: manual
tests:
  - name: clean filing
    applicant: {id: 91350900587527783P, name: 某运输公司}
    payload: {vehicle_count: 1, plates: [闽A12345], start_date: 2026-12-01}
    materials: [transport_contract]
    expect: approve
    failed: []
$y$);

-- a clean filing is approved, accepted and closed at once, with its dues
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials)
VALUES ('test-filing', '91350900587527783P', '某运输公司',
	'{"vehicle_count": 2, "plates": ["闽A12345", "闽A54321"], "start_date": "2026-12-01", "end_date": "2027-05-31"}',
	'{transport_contract}')
RETURNING status, decision, decided_by, submitted_at, decided_at, accepted_at, closed_at,
	promised_due, statutory_due, decision_us >= 0 AS timed,
	ruleset_id = (SELECT current_ruleset FROM miaopi.service WHERE code = 'test-filing') AS current;

SELECT check_id, result, on_fail, message, detail
FROM miaopi.explain((SELECT max(id) FROM miaopi.application));

-- invalid code and a wrong count reject; every check is still evaluated
INSERT INTO miaopi.application (service_code, applicant_id, payload, materials)
VALUES ('test-filing', '91350900587527784P',
	'{"vehicle_count": 3, "plates": ["闽A12345"], "start_date": "2026-12-01"}', '{transport_contract}')
RETURNING status, decision, decided_by, accepted_at IS NOT NULL AS accepted, jsonb_pretty(reasons);

-- an uninsured vehicle goes to a human: pending, nothing decided yet
INSERT INTO miaopi.application (service_code, applicant_id, payload, materials)
VALUES ('test-filing', '91350900587527783P',
	'{"vehicle_count": 2, "plates": ["闽A12345", "闽A00001"], "start_date": "2026-12-01"}', '{transport_contract}')
RETURNING status, decision, decided_by, decided_at, accepted_at, closed_at, promised_due;
SELECT check_id, result, detail FROM miaopi.explain((SELECT max(id) FROM miaopi.application))
WHERE result <> 'pass';

-- an unknown plate is not found either
SELECT miaopi.evaluate('test-filing', '91350900587527783P',
	'{"vehicle_count": 1, "plates": ["京B99999"], "start_date": "2026-12-01"}', '{transport_contract}')
	#> '{reasons,3}' AS insured;

-- missing material and invalid payload reject with their codes
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('test-filing', '91350900587527783P',
	'{"vehicle_count": "two", "plates": ["闽A12345", 7], "end_date": "2027-02-30"}')
RETURNING status, decision, jsonb_pretty(reasons);

-- a missing optional value used outside has() makes the check an error: manual
SELECT miaopi.load_rules($y$
service: test-optional
name: 可选字段
kind: public_service
time_limit: {statutory: 3, promised: 1}
auto_approve: true
fields:
  income: decimal
  note: text
checks:
  - {id: income, rule: payload.income < 10000.50, on_fail: reject}
  - {id: guarded, rule: not has(payload.note) or len(payload.note) < 10, on_fail: reject}
$y$, false) IS NOT NULL AS loaded;
SELECT miaopi.evaluate('test-optional', 'x', '{}') - 'ruleset' AS missing_income;
SELECT miaopi.evaluate('test-optional', 'x', '{"income": 8000, "note": "短"}')->>'decision' AS decision;
SELECT miaopi.evaluate('test-optional', 'x', '{"income": 12000.25, "note": null}')->'reasons'->0 AS over;

-- client values for miaopi's columns are overwritten on INSERT
INSERT INTO miaopi.application (service_code, applicant_id, payload, status, decision,
	decided_by, ruleset_id, reasons, closed_at)
VALUES ('test-optional', 'x', '{"income": 1}', 'approved', 'approve', 'me', 999,
	'[]', '2020-01-01')
RETURNING status, decision, decided_by, ruleset_id > 0 AS real_ruleset, jsonb_array_length(reasons) AS reasons,
	closed_at = decided_at AS closed_now;

-- and nothing of an application can be updated directly
UPDATE miaopi.application SET status = 'approved' WHERE service_code = 'test-filing' AND status = 'pending';
UPDATE miaopi.application SET payload = '{}' WHERE id = (SELECT min(id) FROM miaopi.application WHERE service_code LIKE 'test-%');
UPDATE miaopi.application SET applicant_name = applicant_name;	-- a no-op update is fine
SELECT status, count(*) FROM miaopi.application WHERE service_code LIKE 'test-%' GROUP BY 1 ORDER BY 1;

-- stored rulesets are immutable
UPDATE miaopi.ruleset SET source = '' ;
DELETE FROM miaopi.ruleset;

-- a new version loaded inside a transaction decides that transaction's next row
BEGIN;
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('test-optional', 'x', '{"income": 1}') RETURNING status, ruleset_id = (SELECT current_ruleset FROM miaopi.service WHERE code = 'test-optional') AS current;
SELECT version FROM miaopi.load_rules(replace((SELECT source FROM miaopi.ruleset WHERE service_code = 'test-optional' ORDER BY version DESC LIMIT 1),
	'< 10000.50', '< 0.50'), false);
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('test-optional', 'x', '{"income": 1}') RETURNING status, ruleset_id = (SELECT current_ruleset FROM miaopi.service WHERE code = 'test-optional') AS current;
ROLLBACK;
-- and after the rollback the old version decides again
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('test-optional', 'x', '{"income": 1}') RETURNING status, ruleset_id = (SELECT current_ruleset FROM miaopi.service WHERE code = 'test-optional') AS current;

-- a parallel worker restores miaopi.clock_now before datetime input is ready:
-- it takes the value as set and parses it when first used
SET miaopi.clock_now = '2026-12-01T10:00:00+08:00';
SET force_parallel_mode = on;
SELECT miaopi.now() AS parallel_now;
SELECT count(*) FILTER (WHERE submitted_at <= miaopi.now()) AS submitted_by_then FROM miaopi.application WHERE service_code LIKE 'test-%';
RESET force_parallel_mode;
SET miaopi.clock_now = 'not a time';
RESET miaopi.clock_now;
