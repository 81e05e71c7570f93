/*
 * test/demo/50-licences.sql: the e-licences (电子证照) the approvals above
 * issued, one reused by a later service instead of paper (一库共享), a
 * status change, a renewal (行政许可法 art. 50), and the one-time notice
 * (一次性告知书, art. 32), when this build has them.
 */
SELECT to_regclass('miaopi.licence') IS NOT NULL AS has_licences \gset
\echo
\echo '── 13. E-licences: every approval issued one, in the same transaction ──'
\if :has_licences
SELECT type, name, count(*) AS issued, min(number) AS first, max(number) AS last,
	   count(*) FILTER (WHERE identifier IS NOT NULL) AS "GB/T 36904 id"
FROM miaopi.licence GROUP BY type, name ORDER BY type;

\echo
\echo '   The first filing''s receipt, as anyone may check it (miaopi.verify_licence: no holder id, no data)'
SELECT number AS first_number FROM miaopi.licence WHERE application_id = :first_id \gset
SELECT * FROM miaopi.verify_licence(:'first_number');
SELECT miaopi.licence_identifier_valid(identifier) AS "MOD 37,36 check ok"
FROM miaopi.licence WHERE number = :'first_number';

\echo
\echo '── 14. 一库共享: the road pass relies on the e-filing receipt, no paper ──'
SET miaopi.clock_now = '2026-12-10 09:00+08';
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials, channel)
VALUES ('muck-vehicle-road-pass', '91350103100079190E', '福州恒通渣土运输有限公司',
		'{"plates": ["闽AE7514", "闽AF5433"], "start_date": "2026-12-11", "end_date": "2027-01-31",
		  "route": "浦上大道—三环路—红庙岭"}',
		ARRAY['route_plan'], 'online')
RETURNING id AS pass_id, status AS pass_status \gset
SELECT :pass_id AS id, :'pass_status' AS status, 'route_plan only: no transport_filing handed in' AS materials;
\echo '   licence_use: what the decision relied on'
SELECT u.application_id, l.number, u.purpose
FROM miaopi.licence_use u JOIN miaopi.licence l ON l.id = u.licence_id
WHERE u.application_id = :pass_id ORDER BY u.id;

\echo
\echo '── 15. A status change is an event: the receipt is suspended, and the next pass is refused ──'
SELECT miaopi.suspend_licence(:'first_number', '车辆未按核准路线行驶（《城市建筑垃圾管理规定》第二十三条）') AS now;
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials, channel)
VALUES ('muck-vehicle-road-pass', '91350103100079190E', '福州恒通渣土运输有限公司',
		'{"plates": ["闽AE7514"], "start_date": "2026-12-11", "end_date": "2026-12-31",
		  "route": "浦上大道—三环路—红庙岭"}',
		ARRAY['route_plan'], 'online')
RETURNING id AS refused_id, status AS refused_status \gset
SELECT :refused_id AS id, :'refused_status' AS status;
\echo '   The one-time notice (一次性告知书) the applicant receives: everything to fix, at once'
\pset format unaligned
\pset tuples_only on
SELECT miaopi.notice(:refused_id);
\pset format aligned
\pset tuples_only off
SELECT miaopi.reinstate_licence(:'first_number', '整改完成，恢复') AS now;
SELECT e.action, e.from_status, e.to_status, e.reason, e.actor
FROM miaopi.licence_event e JOIN miaopi.licence l ON l.id = e.licence_id
WHERE l.number = :'first_number' ORDER BY e.id;

\echo
\echo '── 16. Renewal (行政许可法 art. 50): a new 放射工作人员证 with previous set; the old one ends ──'
SELECT holder_id AS worker, holder_name AS worker_name, data->>'employer_uscc' AS employer,
	   data->>'occupation' AS occupation
FROM miaopi.licence WHERE type = 'radiation-worker-cert' AND status = 'valid'
ORDER BY id LIMIT 1 \gset
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials, channel)
VALUES ('radiation-worker-certificate-renewal', :'worker', :'worker_name',
		jsonb_build_object('employer_uscc', :'employer', 'occupation', :'occupation'),
		ARRAY['health_exam_report'], 'online')
RETURNING id AS renewal_id, status AS renewal_status \gset
SELECT :renewal_id AS id, :'renewal_status' AS status;
SELECT l.number, l.valid_from, l.valid_until, l.status, p.number AS previous
FROM miaopi.licence l LEFT JOIN miaopi.licence p ON p.id = l.previous
WHERE l.holder_id = :'worker' AND l.type = 'radiation-worker-cert' ORDER BY l.id;
\echo
\echo '   And the notice of an approval names its licence'
\pset format unaligned
\pset tuples_only on
SELECT miaopi.notice(:renewal_id);
\pset format aligned
\pset tuples_only off
\else
\echo '   (this build has no e-licences yet)'
\endif
