/*
 * test/bench/setup.sql: everything `make bench` measures against, run once
 * in the throwaway cluster by run-bench.sh (psql -v muck_src=... -v
 * nolookup_src=...).
 *
 *	bench.pool				10,000 prebuilt muck filings (1-5 plates each, random
 *							active companies and their insured vehicles), so both
 *							pgbench scripts build rows the same, cheap way
 *	bench.plain_application	miaopi.application's twin (LIKE ... INCLUDING ALL:
 *							same columns, defaults, identity, constraints and
 *							indexes) with no trigger
 *	bench.stored_application another twin, INSERTed with the decision columns
 *							precomputed (the cost of storing, not of deciding)
 *	bench.plpgsql_application the same twin, with a PL/pgSQL BEFORE INSERT
 *							trigger implementing the muck checks by hand
 *	bench.result			the numbers, printed by report.sql
 */
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION IF NOT EXISTS miaopi;
\i test/fixtures/reference.sql
SET client_min_messages = warning;

SELECT service, version, checks, tests_passed FROM miaopi.load_rules(:'muck_src');
SELECT service, version, checks, tests_passed FROM miaopi.load_rules(:'nolookup_src');

DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

CREATE TABLE bench.result (
	id			int GENERATED ALWAYS AS IDENTITY,
	section		text NOT NULL,
	metric		text NOT NULL,
	value		numeric,
	unit		text,
	target		text
);

/* elapsed_ms runs q (with $1 = arg) and returns its wall-clock time */
CREATE FUNCTION bench.elapsed_ms(q text, arg text DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql
AS $$
DECLARE
	t0			timestamptz := clock_timestamp();
BEGIN
	IF arg IS NULL THEN
		EXECUTE q;
	ELSE
		EXECUTE q USING arg;
	END IF;
	RETURN round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 3);
END
$$;

-- ====================================================================
-- The pool of applications: active companies, 1-5 of their own vehicles
-- insured past the end date, so every row is a clean filing.
-- ====================================================================

CREATE TABLE bench.pool (
	i				int PRIMARY KEY,
	applicant_id	text NOT NULL,
	applicant_name	text NOT NULL,
	payload			jsonb NOT NULL,
	materials		text[] NOT NULL,
	reasons			jsonb			-- what miaopi decides for it (the "stored" twin)
);

INSERT INTO bench.pool (i, applicant_id, applicant_name, payload, materials)
WITH active AS (
	SELECT array_agg(n ORDER BY n) AS ns
	FROM generate_series(1, 2000) AS n
	WHERE n % 40 <> 0 AND n % 97 <> 0		-- revoked and cancelled ones
)
SELECT i, c.uscc, c.name,
	   jsonb_build_object(
		   'project_name', '仓山区城门镇安置房' || (i % 9 + 1) || '期',
		   'discharge_permit', '榕建废排2026-' || lpad((i % 100000)::text, 5, '0'),
		   'disposal_site', '福州市红庙岭建筑垃圾消纳场',
		   'vehicle_count', k,
		   'plates', v.plates,
		   'start_date', '2026-12-01',
		   'end_date', '2026-12-31'),
	   ARRAY['transport_contract', 'vehicle_list', 'disposal_agreement', 'road_permit']
FROM active,
	generate_series(1, 10000) AS i,
	LATERAL (SELECT 1 + i % 5 AS k,
					ns[1 + (i * 7919) % cardinality(ns)] AS n) AS x,
	LATERAL (SELECT co.uscc, co.name FROM registry.company co
			 WHERE co.uscc = fixture.make_uscc(x.n)) AS c,
	LATERAL (SELECT jsonb_agg(plate ORDER BY plate) AS plates
			 FROM (SELECT ve.plate FROM registry.vehicle ve
				   WHERE ve.owner_uscc = c.uscc AND ve.insurance_until >= date '2026-12-31'
				   ORDER BY md5(ve.plate || i) LIMIT x.k) AS s) AS v;
UPDATE bench.pool
SET reasons = miaopi.evaluate('muck-transport-filing', applicant_id, payload,
							  materials, applicant_name)->'reasons';
VACUUM ANALYZE bench.pool;

-- ====================================================================
-- The plain twin, and the PL/pgSQL twin
-- ====================================================================

CREATE TABLE bench.plain_application (LIKE miaopi.application INCLUDING ALL);
-- The plain twin again, for an INSERT that also writes miaopi's decision
-- columns (precomputed): the cost of storing a decision, without deciding.
CREATE TABLE bench.stored_application (LIKE miaopi.application INCLUDING ALL);
CREATE TABLE bench.plpgsql_application (LIKE miaopi.application INCLUDING ALL);

/*
 * muck_decide is what a competent DBA writes without miaopi: the seven muck
 * checks, the required fields and materials, and a reasons array, by hand.
 */
CREATE FUNCTION bench.muck_decide()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
	t0			timestamptz := clock_timestamp();
	p			jsonb := NEW.payload;
	r			jsonb := '[]';
	rej			boolean := false;
	man			boolean := false;
	ok			boolean;
	plates		text[];
	start_d		date;
	end_d		date;
	today		date := (miaopi.now() AT TIME ZONE 'Asia/Shanghai')::date;
BEGIN
	NEW.submitted_at := miaopi.now();
	IF NOT NEW.materials @> ARRAY['transport_contract', 'vehicle_list',
								  'disposal_agreement', 'road_permit'] THEN
		rej := true;
		r := r || jsonb_build_object('check', 'missing_material', 'result', 'fail');
	END IF;
	IF jsonb_typeof(p->'project_name') IS DISTINCT FROM 'string'
		OR jsonb_typeof(p->'discharge_permit') IS DISTINCT FROM 'string'
		OR jsonb_typeof(p->'disposal_site') IS DISTINCT FROM 'string'
		OR jsonb_typeof(p->'vehicle_count') IS DISTINCT FROM 'number'
		OR jsonb_typeof(p->'plates') IS DISTINCT FROM 'array'
		OR jsonb_typeof(p->'start_date') IS DISTINCT FROM 'string'
		OR jsonb_typeof(p->'end_date') IS DISTINCT FROM 'string' THEN
		NEW.status := 'rejected';
		NEW.decision := 'reject';
		NEW.reasons := r || jsonb_build_object('check', 'invalid_payload', 'result', 'fail');
		RETURN NEW;
	END IF;
	plates := ARRAY(SELECT jsonb_array_elements_text(p->'plates'));
	start_d := (p->>'start_date')::date;
	end_d := (p->>'end_date')::date;

	ok := NEW.applicant_id ~ '^[0-9A-HJ-NPQRTUWXY]{18}$'
		AND fixture.uscc_check(left(NEW.applicant_id, 17)) = right(NEW.applicant_id, 1);
	rej := rej OR NOT ok;
	r := r || jsonb_build_object('check', 'uscc', 'result', CASE WHEN ok THEN 'pass' ELSE 'fail' END,
								 'on_fail', 'reject', 'message', '统一社会信用代码无效（GB 32100-2015 校验位不符）');

	ok := EXISTS (SELECT 1 FROM registry.company
				  WHERE uscc = NEW.applicant_id AND status = 'active');
	rej := rej OR NOT ok;
	r := r || jsonb_build_object('check', 'company-active', 'result', CASE WHEN ok THEN 'pass' ELSE 'fail' END,
								 'on_fail', 'reject', 'message', '运输企业未登记，或已被吊销、注销');

	ok := start_d >= today AND end_d >= start_d AND end_d - start_d <= 365;
	rej := rej OR NOT ok;
	r := r || jsonb_build_object('check', 'period', 'result', CASE WHEN ok THEN 'pass' ELSE 'fail' END,
								 'on_fail', 'reject', 'message', '运输期限应自今日或以后开始，且不超过一年');

	ok := (p->>'vehicle_count')::int = cardinality(plates)
		AND (p->>'vehicle_count')::int BETWEEN 1 AND 50;
	rej := rej OR NOT ok;
	r := r || jsonb_build_object('check', 'fleet', 'result', CASE WHEN ok THEN 'pass' ELSE 'fail' END,
								 'on_fail', 'reject', 'message', '车辆数量与车牌清单不一致（每次备案 1 至 50 辆）');

	ok := NOT EXISTS (SELECT 1 FROM unnest(plates) AS x
					  WHERE x !~ '^[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z][A-HJ-NP-Z0-9]{5,6}$');
	rej := rej OR NOT ok;
	r := r || jsonb_build_object('check', 'plate-format', 'result', CASE WHEN ok THEN 'pass' ELSE 'fail' END,
								 'on_fail', 'reject', 'message', '车牌号格式不正确');

	ok := NOT EXISTS (SELECT 1 FROM unnest(plates) AS x
					  WHERE NOT EXISTS (SELECT 1 FROM registry.vehicle v
										WHERE v.plate = x AND v.owner_uscc = NEW.applicant_id
											AND v.insurance_until >= end_d));
	man := man OR NOT ok;
	r := r || jsonb_build_object('check', 'vehicles-insured', 'result', CASE WHEN ok THEN 'pass' ELSE 'fail' END,
								 'on_fail', 'manual', 'message', '有车辆未登记在本企业名下，或交强险不能覆盖整个运输期限');

	ok := (p->>'discharge_permit') ~ '^榕建废排[0-9]{4}-[0-9]{5}$';
	man := man OR NOT ok;
	r := r || jsonb_build_object('check', 'permit-number', 'result', CASE WHEN ok THEN 'pass' ELSE 'fail' END,
								 'on_fail', 'manual', 'message', '处置核准证号格式不符，需人工核对');

	NEW.decision := CASE WHEN rej THEN 'reject' WHEN man THEN 'manual' ELSE 'approve' END;
	NEW.status := CASE WHEN rej THEN 'rejected' WHEN man THEN 'pending' ELSE 'approved' END;
	NEW.reasons := r;
	NEW.decided_at := miaopi.now();
	NEW.decided_by := 'plpgsql';
	NEW.decision_us := (extract(epoch FROM clock_timestamp() - t0) * 1000000)::int;
	RETURN NEW;
END
$$;

CREATE TRIGGER muck_decide BEFORE INSERT ON bench.plpgsql_application
	FOR EACH ROW EXECUTE FUNCTION bench.muck_decide();

-- ====================================================================
-- The generated source of 200 services x 20 checks (section c)
-- ====================================================================

/*
 * big_source returns nservices YAML documents of nchecks checks each:
 * comparisons, arithmetic, dates, a regex, list predicates and two lookups
 * per service, and one test per service (run at load, lookups included).
 */
CREATE FUNCTION bench.big_source(nservices int, nchecks int)
RETURNS text
LANGUAGE sql
AS $$
	SELECT string_agg(doc, E'---\n' ORDER BY s)
	FROM (SELECT s, format($tpl$service: bench-%1$s
name: 压测事项 %1$s
department: 压测部门
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  amount: {type: int, required: true}
  start_date: {type: date, required: true}
  end_date: {type: date, required: true}
  plates: {type: "[text]", required: true}
  note: text
materials:
  form: {required: true}
checks:
%2$stests:
  - name: clean
    now: 2026-12-01T10:00:00+08:00
    applicant: {id: 91350103100079190E, name: 福州恒通渣土运输有限公司}
    payload: {amount: 100, start_date: 2026-12-01, end_date: 2026-12-15, plates: [闽AE7514]}
    materials: [form]
    expect: approve
$tpl$, s, checks) AS doc
		  FROM generate_series(1, nservices) AS s,
			  LATERAL (SELECT string_agg(format(E'  - id: c%s\n    rule: "%s"\n    on_fail: %s\n',
												c, rule, CASE WHEN c % 3 = 0 THEN 'manual' ELSE 'reject' END),
										 '' ORDER BY c) AS checks
					   FROM generate_series(1, nchecks) AS c,
						   LATERAL (SELECT CASE c % 10
							   WHEN 0 THEN 'uscc_valid(applicant.id)'
							   WHEN 1 THEN format('payload.amount >= %s and payload.amount <= %s', c, c * 1000)
							   WHEN 2 THEN format('days_between(payload.start_date, payload.end_date) <= %s', c * 10)
							   WHEN 3 THEN format('len(payload.plates) <= %s', c)
							   WHEN 4 THEN $r$all(payload.plates, p, matches(p, '^闽[A-Z][A-Z0-9]{5}$'))$r$
							   WHEN 5 THEN CASE WHEN c < 10
									THEN $r$exists(registry.company, uscc == applicant.id and status == 'active')$r$
									ELSE $r$material('form')$r$ END
							   WHEN 6 THEN format('not has(payload.note) or len(payload.note) <= %s', c * 10)
							   WHEN 7 THEN format('payload.end_date >= payload.start_date and payload.start_date >= add_days(today(), -%s)', c)
							   WHEN 8 THEN CASE WHEN c < 10
									THEN 'all(payload.plates, p, exists(registry.vehicle, plate == p and insurance_until >= payload.end_date))'
									ELSE 'count(payload.plates) == len(payload.plates)' END
							   ELSE format('payload.amount * 2 + %s > 0 and payload.amount %% 7 != %s', c, c % 7 + 10)
							   END AS rule) AS rr) AS cc) AS d
$$;

-- pgbench's per-transaction log of the measured run (section a)
CREATE TABLE bench.txlog (
	client		int,
	tx			bigint,
	latency_us	bigint,
	script		int,				-- 0 miaopi, 1 plain, 2 plpgsql, 3 stored
	epoch		bigint,
	epoch_us	int
);
