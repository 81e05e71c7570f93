/*
 * test/demo/20-decisions.sql: applications decided inside their INSERT.
 */
\echo
\echo '── 3. One filing, 2026-12-01 09:12: pre-checked online, then decided inside its INSERT ──'
SET miaopi.clock_now = '2026-12-01 09:12:03+08';

\echo '   The company''s app first asks miaopi.evaluate() (网上预审): nothing is stored.'
SELECT d->>'decision' AS decision, jsonb_array_length(d->'reasons') AS checks
FROM miaopi.evaluate('muck-transport-filing', '91350103100079190E',
		'{"project_name": "仓山区城门镇安置房二期", "discharge_permit": "榕建废排2026-00421",
		  "disposal_site": "福州市红庙岭建筑垃圾消纳场", "vehicle_count": 3,
		  "plates": ["闽AE7514", "闽AF5433", "闽AG3352"],
		  "start_date": "2026-12-01", "end_date": "2027-01-31"}',
		ARRAY['transport_contract', 'vehicle_list', 'disposal_agreement', 'road_permit'],
		'福州恒通渣土运输有限公司') AS d;

\echo '   Then it submits: INSERT ... RETURNING comes back decided.'
INSERT INTO miaopi.application
	(service_code, applicant_id, applicant_name, payload, materials, channel)
VALUES ('muck-transport-filing', '91350103100079190E', '福州恒通渣土运输有限公司',
		jsonb_build_object(
			'project_name', '仓山区城门镇安置房二期',
			'discharge_permit', '榕建废排2026-00421',
			'disposal_site', '福州市红庙岭建筑垃圾消纳场',
			'vehicle_count', 3,
			'plates', jsonb_build_array('闽AE7514', '闽AF5433', '闽AG3352'),
			'start_date', '2026-12-01',
			'end_date', '2027-01-31'),
		ARRAY['transport_contract', 'vehicle_list', 'disposal_agreement', 'road_permit'],
		'online')
RETURNING id AS first_id, status, decided_by, decision_us AS us, decided_at \gset

SELECT :first_id AS id, :'status' AS status, :'decided_by' AS decided_by,
	   :us AS "decision µs", :'decided_at' AS decided_at;
SELECT * FROM miaopi.explain(:first_id);

\echo
\echo '── 4. Four weeks of applications: 3,000 submissions, 2026-11-02 .. 2026-11-30 ──'
\echo '   (most are clean; some carry a mistyped code, a missing material, a vehicle'
\echo '    whose insurance lapsed, an expired certificate, a sealed fund account ...)'

DO $demo$
DECLARE
	i			int;
	t			timestamptz;
	today		date;
	u			float8;
	pn			int;
	k			int;
	o			int;
	svc			text;
	aid			text;
	aname		text;
	payload		jsonb;
	mats		text[];
	chan		text;
	-- muck
	plates		jsonb;
	vcount		int;
	start_d		date;
	permit		text;
	-- radiation
	issue		text;
	-- housing
	acct		text;
	bal			numeric;
	cno			text;
	rent		numeric;
	months		int;
	amount		numeric;
	card		text;
BEGIN
	PERFORM setseed(0.2026);
	FOR i IN 1..3000 LOOP
		-- one submission every 13 minutes, around the clock (online never closes)
		t := timestamptz '2026-11-02 08:00+08' + i * interval '13 minutes';
		today := (t AT TIME ZONE 'Asia/Shanghai')::date;
		PERFORM set_config('miaopi.clock_now', t::text, false);
		chan := (ARRAY['online', 'online', 'online', 'mobile', 'mobile', 'kiosk', 'window', 'window'])[1 + floor(random() * 8)::int];
		u := random();

		IF i % 5 IN (0, 1) THEN
			-- 建筑垃圾运输备案: a company files 1-5 of its own vehicles
			svc := 'muck-transport-filing';
			pn := 1 + floor(random() * 2000)::int;
			aid := fixture.make_uscc(pn);
			SELECT c.name INTO aname FROM registry.company c WHERE c.uscc = aid;
			k := 1 + floor(random() * 5)::int;
			o := floor(random() * 6)::int;
			SELECT jsonb_agg(fixture.make_plate(pn * 6 + (o + j) % 6)) INTO plates
			FROM generate_series(0, k - 1) AS j;
			vcount := k;
			start_d := today + floor(random() * 5)::int;
			permit := '榕建废排2026-' || lpad(floor(random() * 99999)::int::text, 5, '0');
			mats := ARRAY['transport_contract', 'vehicle_list', 'disposal_agreement', 'road_permit'];
			IF u < 0.05 THEN
				-- a mistyped credit code: one character changed
				aid := overlay(aid PLACING CASE WHEN right(aid, 1) = '0' THEN '1' ELSE '0' END FROM 18);
			ELSIF u < 0.10 THEN
				mats := array_remove(mats, 'disposal_agreement');
			ELSIF u < 0.13 THEN
				-- a borrowed vehicle of another company
				plates := plates || to_jsonb(fixture.make_plate((pn % 2000 + 1) * 6));
				vcount := k + 1;
			ELSIF u < 0.16 THEN
				permit := '闽建废' || floor(random() * 999)::int;
			ELSIF u < 0.18 THEN
				vcount := k + 1;
			END IF;
			payload := jsonb_build_object(
				'project_name', (ARRAY['仓山区城门镇安置房', '晋安区新店棚户区改造', '鼓楼区温泉路道路改造',
									   '台江区滨江片区旧改', '马尾区快安地铁上盖', '长乐区滨海新城学校'])[1 + floor(random() * 6)::int]
								|| (1 + floor(random() * 4)::int) || '期',
				'discharge_permit', permit,
				'disposal_site', (ARRAY['福州市红庙岭建筑垃圾消纳场', '闽侯县荆溪消纳场', '长乐区文岭消纳场'])[1 + floor(random() * 3)::int],
				'vehicle_count', vcount,
				'plates', plates,
				'start_date', start_d,
				'end_date', start_d + 14 + floor(random() * 46)::int);

		ELSIF i % 5 IN (2, 3) THEN
			-- 住房公积金租房提取: withdraw rent paid, at most the balance
			svc := 'housing-fund-rent-withdrawal';
			pn := 3001 + floor(random() * 3000)::int;
			SELECT p.id_number, p.name, a.account_no, a.balance
			INTO aid, aname, acct, bal
			FROM fixture.person p JOIN housing.account a USING (id_number)
			WHERE p.n = pn;
			cno := NULL;
			SELECT c.contract_no, c.monthly_rent INTO cno, rent
			FROM housing.rental_contract c WHERE c.tenant_id = aid;
			IF cno IS NULL THEN
				-- a contract the agency never registered
				cno := 'FZZL' || lpad(floor(random() * 9999999)::int::text, 7, '0');
				rent := 1500 + 50 * floor(random() * 40);
			END IF;
			months := 1 + floor(random() * 12)::int;
			amount := least(rent * months, floor(bal));
			card := '62' || lpad(floor(random() * 1e17)::bigint::text, 17, '0');
			mats := ARRAY['id_card', 'rental_contract', 'rent_invoice'];
			payload := jsonb_build_object('account_no', acct, 'contract_no', cno,
										  'monthly_rent', rent, 'months', months);
			IF u < 0.05 THEN
				amount := rent * months + 500;
			ELSIF u < 0.08 THEN
				payload := payload || jsonb_build_object('monthly_rent', rent + 300);
			ELSIF u < 0.11 THEN
				-- joint withdrawal, marriage certificate forgotten
				payload := payload || jsonb_build_object('spouse_id', fixture.make_idcard(pn + 1));
			ELSIF u < 0.18 THEN
				payload := payload || jsonb_build_object('spouse_id', fixture.make_idcard(pn + 1));
				mats := mats || 'marriage_certificate'::text;
			ELSIF u < 0.21 THEN
				card := substr(card, 1, 4) || ' ' || substr(card, 5);
			ELSIF u < 0.24 THEN
				mats := array_remove(mats, 'rent_invoice');
			ELSIF u < 0.27 THEN
				aid := overlay(aid PLACING CASE WHEN right(aid, 1) = '0' THEN '1' ELSE '0' END FROM 18);
			END IF;
			payload := payload || jsonb_build_object('amount', amount, 'bank_card', card);

		ELSE
			-- 放射工作人员证: a hospital's radiographer, first issue or renewal
			svc := 'radiation-worker-certificate';
			pn := 1 + floor(random() * 3000)::int;
			SELECT p.id_number, p.name INTO aid, aname FROM fixture.person p WHERE p.n = pn;
			issue := CASE WHEN random() < 0.6 THEN '首发' ELSE '换发' END;
			mats := ARRAY['application_form', 'id_card', 'training_certificate',
						  'health_exam_report', 'photo'];
			payload := jsonb_build_object(
				'employer_uscc', fixture.make_uscc(100001 + floor(random() * 60)::int, '12'),
				'occupation', (ARRAY['2A', '2A', '2A', '2B', '2C', '2D', '2E'])[1 + floor(random() * 7)::int],
				'issue_type', issue,
				'phone', '1390591' || lpad(floor(random() * 9999)::int::text, 4, '0'));
			IF issue = '换发' AND random() < 0.85 THEN
				mats := mats || 'dose_record'::text;
				payload := payload || jsonb_build_object(
					'dose_badge_no', 'FJ-' || (2020 + floor(random() * 6)::int) || '-' || lpad(pn::text, 5, '0'));
			END IF;
			IF u < 0.04 THEN
				aid := overlay(aid PLACING CASE WHEN right(aid, 1) = '0' THEN '1' ELSE '0' END FROM 18);
			ELSIF u < 0.07 THEN
				mats := array_remove(mats, 'photo');
			ELSIF u < 0.09 THEN
				payload := payload || '{"occupation": "3A"}';
			ELSIF u < 0.10 THEN
				SELECT p.id_number, p.name INTO aid, aname FROM fixture.person p WHERE p.n = 9003;
			END IF;
		END IF;

		INSERT INTO miaopi.application
			(service_code, applicant_id, applicant_name, payload, materials, channel)
		VALUES (svc, aid, aname, payload, mats, chan);
	END LOOP;
END
$demo$;

SET miaopi.clock_now = '2026-12-01 17:30+08';

\echo
\echo '── 5. What the machine decided ──'
SELECT coalesce(s.name, '合计 total') AS service,
	   count(*) AS applications,
	   count(*) FILTER (WHERE a.status = 'approved') AS approved,
	   count(*) FILTER (WHERE a.status = 'rejected') AS rejected,
	   count(*) FILTER (WHERE a.status = 'pending') AS "pending (human)",
	   round(100.0 * count(*) FILTER (WHERE a.status = 'approved') / count(*), 1) AS "approved %"
FROM miaopi.application a
	JOIN miaopi.service s ON s.code = a.service_code
GROUP BY ROLLUP (s.name)
ORDER BY s.name NULLS LAST;

\echo
\echo '── 6. Why: checks that did not pass (fail = rule false, error = could not tell) ──'
SELECT a.service_code AS service,
	   r->>'check' AS "check",
	   r->>'on_fail' AS on_fail,
	   count(*) FILTER (WHERE r->>'result' = 'fail') AS fail,
	   count(*) FILTER (WHERE r->>'result' = 'error') AS error,
	   min(r->>'message') AS message
FROM miaopi.application a,
	jsonb_array_elements(a.reasons) AS r
WHERE r->>'result' IS DISTINCT FROM 'pass'
GROUP BY 1, 2, 3
ORDER BY 1, 4 + 5 DESC, 2;

\echo
\echo '── 7. Three applications in full: miaopi.explain(id) ──'
SELECT id AS ex1, applicant_name AS ex1_name
FROM miaopi.application
WHERE service_code = 'muck-transport-filing' AND status = 'rejected'
ORDER BY (SELECT count(*) FROM jsonb_array_elements(reasons) r
		  WHERE r->>'result' IS DISTINCT FROM 'pass') DESC, id
LIMIT 1 \gset
\echo 建筑垃圾运输备案, rejected: application :ex1 (:ex1_name)
SELECT * FROM miaopi.explain(:ex1);

SELECT id AS ex2, applicant_name AS ex2_name
FROM miaopi.application
WHERE service_code = 'radiation-worker-certificate' AND status = 'pending'
ORDER BY id LIMIT 1 \gset
\echo 放射工作人员证, pending: application :ex2 (:ex2_name)
SELECT * FROM miaopi.explain(:ex2);

SELECT id AS ex3, applicant_name AS ex3_name
FROM miaopi.application
WHERE service_code = 'housing-fund-rent-withdrawal' AND status = 'pending'
ORDER BY id DESC LIMIT 1 \gset
\echo 住房公积金租房提取, pending: application :ex3 (:ex3_name)
SELECT * FROM miaopi.explain(:ex3);

\echo
\echo '── 8. Online pre-check (网上预审): the same rules, nothing stored ──'
SELECT v.what, d->>'decision' AS decision,
	   (SELECT string_agg(r->>'check' || ' (' || (r->>'result') || ')', ', ')
		FROM jsonb_array_elements(d->'reasons') r
		WHERE r->>'result' IS DISTINCT FROM 'pass') AS "not passed"
FROM (VALUES
		('6 months of rent', '{"monthly_rent": 2650, "months": 6, "amount": 15900}'::jsonb,
		 ARRAY['id_card', 'rental_contract', 'rent_invoice']),
		('more than rent x months', '{"monthly_rent": 2650, "months": 12, "amount": 33000}',
		 ARRAY['id_card', 'rental_contract', 'rent_invoice']),
		('rent receipt forgotten', '{"monthly_rent": 2650, "months": 6, "amount": 15900}',
		 ARRAY['id_card', 'rental_contract']),
		('declared rent above the registered one', '{"monthly_rent": 3000, "months": 6, "amount": 18000}',
		 ARRAY['id_card', 'rental_contract', 'rent_invoice'])
	 ) AS v(what, p, mats),
	LATERAL miaopi.evaluate('housing-fund-rent-withdrawal', '350103197812111133',
							'{"account_no": "350123764919", "contract_no": "FZZL3764919",
							  "bank_card": "6222021001123456789"}'::jsonb || v.p,
							v.mats, '赵俊彬') AS d;

\echo
\echo '── 9. Decision time inside the INSERT (decision_us, microseconds) ──'
SELECT coalesce(service_code, 'all') AS service,
	   count(*) AS decisions,
	   percentile_disc(0.5) WITHIN GROUP (ORDER BY decision_us) AS median_us,
	   percentile_disc(0.95) WITHIN GROUP (ORDER BY decision_us) AS p95_us,
	   max(decision_us) AS max_us
FROM miaopi.application
GROUP BY ROLLUP (service_code)
ORDER BY service_code NULLS LAST;
