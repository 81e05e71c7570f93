-- E-licences: issued on approval (machine and person), shared with a later
-- service, status changes, renewal, verify_licence, the one-time notice.
SET miaopi.clock_now = '2026-12-01 10:00:00+08';
\set ECHO none
\i test/fixtures/reference.sql
\set ECHO all

-- ISO/IEC 7064 MOD 37,36: the vectors computed by hand in extension/codes.c
SELECT v, miaopi.mod37_36_check(v) AS check_char
FROM unnest(ARRAY['A', '1', 'Z', 'AB', 'A12425GABC1234002']) AS v;
SELECT miaopi.mod37_36_check('a1') AS lower_case, miaopi.mod37_36_check('') AS empty;
SELECT miaopi.licence_identifier_valid('1.2.156.3005.2.11100000000013338W033.11350100003652044H.2026000001.001.N') AS good,
	   miaopi.licence_identifier_valid('1.2.156.3005.2.11100000000013338W032.11350100003652044H.2026000002.001.9') AS wrong_check,
	   miaopi.licence_identifier_valid('1..2.H') AS empty_part;

-- the example rules under codes of this test's own (services and licence
-- types), so that nothing another test loaded or issued shows here
\set src `sed -e s/muck-transport-filing/t-muck-filing/ -e s/muck-transport-cert/t-muck-cert/g -e s/ZTBA-/TZBA-/ -e s/13338W032/13338W033/ rules/muck-transport-filing.yaml`
SELECT service, version, checks, tests_passed FROM miaopi.load_rules(:'src');
\set src `sed -e s/muck-vehicle-road-pass/t-road-pass/ -e s/muck-transport-cert/t-muck-cert/g rules/muck-vehicle-road-pass.yaml`
SELECT service, version, checks, tests_passed FROM miaopi.load_rules(:'src');

-- a machine approval issues the filing receipt inside the INSERT
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials)
VALUES ('t-muck-filing', '91350103100079190E', '福州恒通渣土运输有限公司',
		'{"project_name": "仓山区城门镇安置房二期", "discharge_permit": "榕建废排2026-00421",
		  "disposal_site": "福州市红庙岭建筑垃圾消纳场", "vehicle_count": 2,
		  "plates": ["闽AE7514", "闽AF5433"], "start_date": "2026-12-01", "end_date": "2027-01-31"}',
		'{transport_contract,vehicle_list,disposal_agreement,road_permit}')
RETURNING id AS filing_id, status AS filing_status \gset
SELECT :'filing_status' AS status;
SELECT number, identifier, type, name, service_code, application_id = :filing_id AS of_filing, holder_id, holder_type,
	   valid_from, valid_until, status, data, previous,
	   miaopi.licence_identifier_valid(identifier) AS identifier_valid
FROM miaopi.licence WHERE type = 't-muck-cert';
SELECT application_id = :filing_id AS of_filing, action, actor, detail - 'licence_id' AS detail FROM miaopi.event
WHERE action LIKE 'licence%' AND application_id = :filing_id ORDER BY id;

-- a rejected filing issues nothing
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials)
VALUES ('t-muck-filing', '91350103100079190F', '福州恒通渣土运输有限公司',
		'{"project_name": "x", "discharge_permit": "榕建废排2026-00421", "disposal_site": "y",
		  "vehicle_count": 1, "plates": ["闽AE7514"], "start_date": "2026-12-01", "end_date": "2027-01-31"}',
		'{transport_contract,vehicle_list,road_permit}')
RETURNING id AS rejected_id, status AS rejected_status \gset
SELECT :'rejected_status' AS status;
SELECT count(*) AS licences FROM miaopi.licence WHERE type = 't-muck-cert';
-- explain() shows each reason's legal basis
SELECT check_id, result, basis FROM miaopi.explain(:rejected_id) WHERE result <> 'pass';

-- the road pass relies on the e-licence instead of the paper receipt
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials)
VALUES ('t-road-pass', '91350103100079190E', '福州恒通渣土运输有限公司',
		'{"plates": ["闽AE7514"], "start_date": "2026-12-02", "end_date": "2027-01-31", "route": "浦上大道"}',
		'{route_plan}')
RETURNING id AS pass_id, status AS pass_status \gset
SELECT :'pass_status' AS status;
SELECT l.number, u.application_id = :pass_id AS of_pass, u.purpose FROM miaopi.licence_use u
	JOIN miaopi.licence l ON l.id = u.licence_id ORDER BY u.id;
SELECT application_id = :pass_id AS of_pass, action, detail->>'purpose' AS purpose FROM miaopi.event
WHERE action = 'licence_use' ORDER BY id;

-- licence_valid in SQL: dates, other holders, nulls
SELECT miaopi.licence_valid('t-muck-cert', '91350103100079190E', '2026-12-01') AS first_day,
	   miaopi.licence_valid('t-muck-cert', '91350103100079190E', '2027-01-31') AS last_day,
	   miaopi.licence_valid('t-muck-cert', '91350103100079190E', '2027-02-01') AS expired,
	   miaopi.licence_valid('t-muck-cert', '91350103100079190E', '2026-11-30') AS before,
	   miaopi.licence_valid('t-muck-cert', '913501051002375744', '2026-12-05') AS other_holder,
	   miaopi.licence_valid('t-other-cert', '91350103100079190E', '2026-12-05') AS other_type,
	   miaopi.licence_valid('t-muck-cert', NULL, '2026-12-05') AS null_holder,
	   miaopi.licence_valid(NULL, '91350103100079190E', '2026-12-05') AS null_type;

-- anyone may verify: never the holder id or data
SELECT * FROM miaopi.verify_licence('TZBA-2026-000001');
SELECT * FROM miaopi.verify_licence('1.2.156.3005.2.11100000000013338W033.11350100003652044H.2026000001.001.N');
SELECT * FROM miaopi.verify_licence('TZBA-2026-999999');
SET miaopi.clock_now = '2027-02-01 10:00:00+08';
SELECT * FROM miaopi.verify_licence('TZBA-2026-000001');
SET miaopi.clock_now = '2026-12-01 10:00:00+08';

-- status changes: the legal ones, each recorded twice
SELECT miaopi.suspend_licence('TZBA-2026-000001', '车辆未按规定路线行驶（《城市建筑垃圾管理规定》第二十三条）');
SELECT miaopi.licence_valid('t-muck-cert', '91350103100079190E', '2026-12-05') AS while_suspended;
SELECT status FROM miaopi.verify_licence('TZBA-2026-000001');
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials)
VALUES ('t-road-pass', '91350103100079190E', '福州恒通渣土运输有限公司',
		'{"plates": ["闽AE7514"], "start_date": "2026-12-02", "end_date": "2027-01-31", "route": "浦上大道"}',
		'{route_plan}')
RETURNING status, reasons->0->>'detail' AS missing;
SELECT miaopi.reinstate_licence('TZBA-2026-000001', '整改完成');
SELECT miaopi.licence_valid('t-muck-cert', '91350103100079190E', '2026-12-05') AS reinstated;
SELECT miaopi.revoke_licence('TZBA-2026-000001', '以欺骗手段取得（《中华人民共和国行政许可法》第六十九条）');
SELECT e.action, e.from_status, e.to_status, e.reason, e.actor, e.session_actor
FROM miaopi.licence_event e JOIN miaopi.licence l ON l.id = e.licence_id
WHERE l.type = 't-muck-cert' ORDER BY e.id;
SELECT action, comment, detail->>'from' AS from_status, detail->>'to' AS to_status
FROM miaopi.event WHERE action LIKE 'licence\_%' AND action NOT IN ('licence_issue', 'licence_use')
	AND application_id = :filing_id ORDER BY id;

-- refused: nothing changes
SELECT miaopi.revoke_licence('TZBA-2026-000001', 'again');
SELECT miaopi.reinstate_licence('TZBA-2026-000001', 'please');
SELECT miaopi.suspend_licence('TZBA-2026-000001', 'x');
SELECT miaopi.revoke_licence('TZBA-2026-424242', 'x');
SELECT miaopi.cancel_licence('TZBA-2026-000001', NULL);
SELECT miaopi.cancel_licence(NULL, 'x');
SELECT count(*) AS licence_events FROM miaopi.licence_event e JOIN miaopi.licence l ON l.id = e.licence_id
WHERE l.type = 't-muck-cert';
UPDATE miaopi.licence SET status = 'valid';
DELETE FROM miaopi.licence;
UPDATE miaopi.licence_event SET reason = 'edited';
SELECT status FROM miaopi.licence WHERE type = 't-muck-cert';

-- a person's approval issues the licence in act(); a renewal (art. 50)
-- ends the old licence as the new one starts
SELECT service, version, checks, tests_passed FROM miaopi.load_rules($$
service: lab-permit
name: 实验室许可
kind: filing
time_limit: {statutory: 20, promised: 5}
auto_approve: false
fields:
  end_date: date
licence:
  type: lab-cert
  number: "SYS{yy}{mm}-{service}-{seq:3}"
  valid_until: payload.end_date
---
service: lab-permit-auto
name: 实验室许可（自动）
kind: filing
time_limit: {statutory: 20, promised: 5}
auto_approve: true
fields:
  end_date: date
licence:
  type: lab-cert
  number: "SYS{yy}{mm}-{service}-{seq:3}"
  valid_until: payload.end_date
---
service: lab-permit-renewal
name: 实验室许可延续
kind: filing
time_limit: {statutory: 20, promised: 5}
auto_approve: true
renews: lab-cert
materials:
  old_permit: {required: true, or_licence: lab-cert}
licence:
  type: lab-cert
  name: 实验室许可证
  number: "SYS{yy}{mm}-{service}-{seq:3}"
  valid_days: 730
$$);
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload)
VALUES ('lab-permit', '350103198109061132', '赵俊彬', '{"end_date": "2027-06-30"}') RETURNING status;
SELECT count(*) AS before_approval FROM miaopi.licence WHERE type = 'lab-cert';
SELECT miaopi.act(currval('miaopi.application_id_seq'), 'approve');
SELECT number, holder_type, valid_from, valid_until, status, identifier IS NULL AS no_identifier
FROM miaopi.licence WHERE type = 'lab-cert' ORDER BY id;

-- a valid_until missing at approval time: the machine hands it to a person,
-- and a person cannot approve it either
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload)
VALUES ('lab-permit-auto', '350103198109061132', '赵俊彬', '{}')
RETURNING status, reasons;
\set VERBOSITY sqlstate
SELECT miaopi.act(currval('miaopi.application_id_seq'), 'approve');
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload)
VALUES ('lab-permit', '350103198109061132', '赵俊彬', '{}') RETURNING status;
SELECT miaopi.act(currval('miaopi.application_id_seq'), 'approve');
\set VERBOSITY default
SELECT status FROM miaopi.application WHERE id = currval('miaopi.application_id_seq');
SELECT count(*) AS lab_licences FROM miaopi.licence WHERE type = 'lab-cert';

-- an end before the day of issue: the machine hands it to a person, who may
-- approve it knowingly; the licence is then born expired
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload)
VALUES ('lab-permit-auto', '350103198109061133', '赵俊', '{"end_date": "2026-11-20"}')
RETURNING status, reasons->0->>'detail' AS why;
SELECT miaopi.act(currval('miaopi.application_id_seq'), 'approve');
SELECT number, valid_from, valid_until, status, (SELECT v.status FROM miaopi.verify_licence(number) v) AS verified
FROM miaopi.licence WHERE holder_id = '350103198109061133';

-- the renewal relies on the old licence and replaces it
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload)
VALUES ('lab-permit-renewal', '350103198109061132', '赵俊彬', '{}') RETURNING status;
SELECT l.number, l.valid_from, l.valid_until, l.status, p.number AS previous
FROM miaopi.licence l LEFT JOIN miaopi.licence p ON p.id = l.previous
WHERE l.type = 'lab-cert' ORDER BY l.id;
SELECT e.action, e.from_status, e.to_status, e.reason FROM miaopi.licence_event e
	JOIN miaopi.licence l ON l.id = e.licence_id WHERE l.type = 'lab-cert';
SELECT miaopi.licence_valid('lab-cert', '350103198109061132', '2028-01-01') AS renewed;

-- the one-time notice
SELECT regexp_replace(miaopi.notice(:filing_id), '申请编号：[0-9]+', '申请编号：#') AS notice;
SELECT regexp_replace(miaopi.notice(:pass_id), '申请编号：[0-9]+', '申请编号：#') AS notice;
SELECT regexp_replace(miaopi.notice(:rejected_id), '申请编号：[0-9]+', '申请编号：#') AS notice;
SELECT miaopi.notice(-1);
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload)
VALUES ('lab-permit', '350103198109061132', '赵俊彬', '{}') RETURNING status;
\set VERBOSITY sqlstate
SELECT miaopi.notice(currval('miaopi.application_id_seq'));
\set VERBOSITY default
SELECT miaopi.act(currval('miaopi.application_id_seq'), 'request_supplement', '请补充有效期截止日期');
SELECT regexp_replace(miaopi.notice(currval('miaopi.application_id_seq')), '申请编号：[0-9]+', '申请编号：#') AS notice;

\set ECHO none
SET client_min_messages = warning;
DROP SCHEMA fixture, registry, health, housing CASCADE;
RESET client_min_messages;
\set ECHO all
RESET miaopi.clock_now;
