-- The example services of rules/: every file loads with its tests run, so the
-- examples cannot rot; then a handful of applications per service are decided.
-- The fixture's world is 2026-12-01 (test/fixtures/reference.sql).
SET miaopi.clock_now = '2026-12-01 10:00:00+08';
\set ECHO none
\i test/fixtures/reference.sql
\set ECHO all

\set src `cat rules/muck-transport-filing.yaml`
SELECT service, version, checks, tests_passed FROM miaopi.load_rules(:'src');
\set src `cat rules/radiation-worker-certificate.yaml`
SELECT service, version, checks, tests_passed FROM miaopi.load_rules(:'src');
\set src `cat rules/housing-fund-rent-withdrawal.yaml`
SELECT service, version, checks, tests_passed FROM miaopi.load_rules(:'src');
\set src `cat rules/muck-vehicle-road-pass.yaml`
SELECT service, version, checks, tests_passed FROM miaopi.load_rules(:'src');
\set src `cat rules/tech-sme-rd-subsidy.yaml`
SELECT service, version, checks, tests_passed FROM miaopi.load_rules(:'src');
\set src `cat rules/employment-absorption-subsidy.yaml`
SELECT service, version, checks, tests_passed FROM miaopi.load_rules(:'src');

-- a new file in rules/ must be added above (and to this count)
\set nfiles `ls rules/*.yaml | wc -l`
SELECT :nfiles AS rules_files, count(*) AS loaded
FROM miaopi.service
WHERE code IN ('muck-transport-filing', 'radiation-worker-certificate',
			   'housing-fund-rent-withdrawal', 'tech-sme-rd-subsidy',
			   'employment-absorption-subsidy', 'muck-vehicle-road-pass');

SELECT code, kind, calendar, statutory_days, promised_days, extension_days, warn_ratio, auto_approve
FROM miaopi.service
WHERE code IN ('muck-transport-filing', 'radiation-worker-certificate',
			   'housing-fund-rent-withdrawal')
ORDER BY code;
SELECT code, steps
FROM miaopi.service
WHERE code IN ('muck-transport-filing', 'radiation-worker-certificate',
			   'housing-fund-rent-withdrawal')
ORDER BY code;

-- the generated codes really pass the check-digit algorithms
SELECT (SELECT count(*) FILTER (WHERE NOT miaopi.uscc_valid(uscc)) FROM registry.company) AS bad_uscc,
	   (SELECT count(*) FILTER (WHERE NOT miaopi.idcard_valid(id_number)) FROM fixture.person) AS bad_idcard,
	   (SELECT count(*) FROM registry.company) AS companies,
	   (SELECT count(*) FROM fixture.person) AS people;
SELECT code, valid, miaopi.uscc_valid(code) AS uscc_valid FROM fixture.uscc_vector ORDER BY code;
SELECT number, valid, miaopi.idcard_valid(number) AS idcard_valid FROM fixture.idcard_vector ORDER BY number;

CREATE FUNCTION pg_temp.not_passed(reasons jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(string_agg(r->>'check' || CASE WHEN r->>'result' = 'error' THEN ' (error)' ELSE '' END,
							   ', ' ORDER BY n), '')
	FROM jsonb_array_elements(reasons) WITH ORDINALITY AS x(r, n)
	WHERE r->>'result' <> 'pass'
$$;

-- 建筑垃圾运输备案
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials)
SELECT 'muck-transport-filing', a.id, a.name,
	   jsonb_build_object('project_name', '仓山区城门镇安置房二期',
						  'discharge_permit', a.permit,
						  'disposal_site', '福州市红庙岭建筑垃圾消纳场',
						  'vehicle_count', a.n, 'plates', a.plates,
						  'start_date', '2026-12-01', 'end_date', a.end_date),
	   a.mats
FROM (VALUES
	(1, '91350103100079190E', '恒通 clean, 3 plates', 3, '["闽AE7514", "闽AF5433", "闽AG3352"]'::jsonb,
		'2027-01-31', '榕建废排2026-00421', '{transport_contract,vehicle_list,disposal_agreement,road_permit}'::text[]),
	(2, '91350103100079190E', '恒通 vehicle uninsured past the end', 1, '["闽AE7514"]',
		'2027-03-31', '榕建废排2026-00421', '{transport_contract,vehicle_list,disposal_agreement,road_permit}'),
	(3, '91350103100079190E', '恒通 borrowed plate', 2, '["闽AE7514", "闽AK5028"]',
		'2027-01-31', '榕建废排2026-00421', '{transport_contract,vehicle_list,disposal_agreement,road_permit}'),
	(4, '91350102103167604E', '鑫达 revoked', 1, '["闽AY0560"]',
		'2027-01-31', '榕建废排2026-00388', '{transport_contract,vehicle_list,disposal_agreement,road_permit}'),
	(5, '91350211M00013FA1N', 'real pilot code failing GB 32100', 1, '["闽AE7514"]',
		'2027-01-31', '榕建废排2026-00388', '{transport_contract,vehicle_list,disposal_agreement,road_permit}'),
	(6, '91350103100079190E', '恒通 no contract', 1, '["闽AE7514"]',
		'2027-01-31', '榕建废排2026-00421', '{vehicle_list,disposal_agreement,road_permit}')
	) AS a(k, id, name, n, plates, end_date, permit, mats)
ORDER BY a.k
RETURNING applicant_name, status, decision, pg_temp.not_passed(reasons) AS not_passed;

-- 放射工作人员证
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials)
SELECT 'radiation-worker-certificate', p.id_number, a.label,
	   jsonb_build_object('employer_uscc', fixture.make_uscc(a.hospital, '12'),
						  'occupation', a.occupation, 'issue_type', '首发',
						  'phone', '13905910000'),
	   '{application_form,id_card,training_certificate,health_exam_report,photo}'
FROM (VALUES
	(1, 2, 'n=2 trained and fit', 100001, '2A'),
	(2, 19, 'n=19 examined in 2024', 100002, '2C'),
	(3, 29, 'n=29 never trained', 100003, '2D'),
	(4, 37, 'n=37 fit with restrictions', 100004, '2E'),
	(5, 43, 'n=43 unfit', 100005, '2A'),
	(6, 9001, 'GB 11643 worked example, revoked employer', 100060, '2B'),
	(7, 9003, 'a minor (real vector)', 100001, '2A')
	) AS a(k, n, label, hospital, occupation)
	JOIN fixture.person p ON p.n = a.n
ORDER BY a.k
RETURNING applicant_name, status, decision, pg_temp.not_passed(reasons) AS not_passed;

-- 住房公积金租房提取: withdraw min(rent x months, balance) against the
-- registered contract, as the agency's app would fill it in
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials)
SELECT 'housing-fund-rent-withdrawal', p.id_number, a.label,
	   jsonb_build_object('account_no', ac.account_no,
						  'contract_no', coalesce(c.contract_no, 'FZZL0000001'),
						  'monthly_rent', coalesce(c.monthly_rent, 2000),
						  'months', a.months,
						  'amount', least(coalesce(c.monthly_rent, 2000) * a.months, ac.balance),
						  'bank_card', a.card),
	   '{id_card,rental_contract,rent_invoice}'
FROM (VALUES
	(1, 3001, 'n=3001 clean', 12, '6222021001123456789'),
	(2, 3002, 'n=3002 contract ended', 3, '6222021001123456780'),
	(3, 3014, 'n=3014 owns a home', 3, '6222021001123456781'),
	(4, 3016, 'n=3016 no registered contract', 3, '6222021001123456782'),
	(5, 3034, 'n=3034 sealed account', 1, '6222021001123456783'),
	(6, 3050, 'n=3050 two months of deposits', 2, '6222 0210 0112 3456 784')
	) AS a(k, n, label, months, card)
	JOIN fixture.person p ON p.n = a.n
	JOIN housing.account ac ON ac.id_number = p.id_number
	LEFT JOIN housing.rental_contract c ON c.tenant_id = p.id_number
ORDER BY a.k
RETURNING applicant_name, status, decision, pg_temp.not_passed(reasons) AS not_passed;

-- one application in full
SELECT check_id, result, on_fail, detail
FROM miaopi.explain((SELECT max(id) FROM miaopi.application
					 WHERE service_code = 'muck-transport-filing'
						AND applicant_name = '恒通 borrowed plate'));

-- a lookup that finds no row is an error: a human decides, never the machine
SELECT check_id, result, on_fail, detail
FROM miaopi.explain((SELECT max(id) FROM miaopi.application
					 WHERE service_code = 'housing-fund-rent-withdrawal'
						AND applicant_name = 'n=3016 no registered contract'))
WHERE result <> 'pass';

-- online pre-check: the same decision, nothing stored
SELECT e->>'decision' AS decision, pg_temp.not_passed(e->'reasons') AS not_passed
FROM miaopi.evaluate('housing-fund-rent-withdrawal', '350103197812111133',
					 '{"account_no": "350123764919", "contract_no": "FZZL3764919",
					   "monthly_rent": 2650, "months": 6, "amount": 15900,
					   "bank_card": "6222021001123456789"}',
					 '{id_card,rental_contract,rent_invoice}') AS e;

-- the reference schemas go; later tests make their own
\set ECHO none
SET client_min_messages = warning;
DROP SCHEMA fixture, registry, health, housing CASCADE;
RESET client_min_messages;
\set ECHO all
RESET miaopi.clock_now;
