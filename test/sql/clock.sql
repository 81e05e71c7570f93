-- The time-limit clock: dues, lights, step limits, pause/resume/extend,
-- deemed acceptance, sweep, provisional dues, bad input.
SET datestyle = 'ISO, YMD';
SET timezone = 'Asia/Shanghai';
SET miaopi.clock_now = '2026-03-02 09:00+08';

SELECT service, version FROM miaopi.load_rules($y$
service: ck-licence
name: 计时许可
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: false
steps: {accept: 1, review: 2, decide: 10, deliver: 1}
fields: {}
checks: []
---
service: ck-public
name: 计时公共服务
kind: public_service
time_limit: {statutory: 10, promised: 5, warn_at: 0.5}
auto_approve: false
fields: {}
checks: []
---
service: ck-auto
name: 即办备案
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields: {}
checks: []
$y$);

-- ids are printed: make them independent of other tests
ALTER TABLE miaopi.application ALTER COLUMN id RESTART WITH 3001;
CREATE ROLE regress_miaopi_clerk;
GRANT USAGE ON SCHEMA miaopi TO regress_miaopi_clerk;
GRANT EXECUTE ON FUNCTION miaopi.act(bigint, text, text) TO regress_miaopi_clerk;
INSERT INTO miaopi.scope (role, action) VALUES ('regress_miaopi_clerk', 'act');

CREATE FUNCTION pg_temp.submit(service text) RETURNS bigint
LANGUAGE sql AS $$
	INSERT INTO miaopi.application (service_code, applicant_id, payload)
	VALUES (service, '91350100M000100Y43', '{}') RETURNING id
$$;
-- the clock of one application, and what a sweep records at that moment
CREATE FUNCTION pg_temp.look(app bigint)
RETURNS TABLE (now text, step text, light text, used int, remaining int, paused boolean,
			   step_due date, promised_due date, statutory_due date, sweep bigint)
LANGUAGE sql AS $$
	SELECT to_char(miaopi.now(), 'MM-DD Dy HH24:MI'), c.step, c.light, c.used_working_days,
		c.remaining_working_days, c.paused, c.step_due::date, c.promised_due::date,
		c.statutory_due::date, miaopi.sweep()
	FROM miaopi.clock c WHERE c.application = app
$$;
CREATE VIEW pg_temp.events AS
SELECT e.id, e.application_id AS app, to_char(e.at, 'MM-DD HH24:MI') AS at, e.action, e.actor,
	e.from_status, e.to_status, e.detail->>'light' AS light, e.detail->>'cause' AS cause,
	e.detail->>'step' AS step, (e.detail->>'due')::timestamptz::date AS due
FROM miaopi.event e;

-- ===== A licence walks green -> yellow -> red -> overdue =====
-- Accepted Monday 2026-03-02: promised 5 working days (03-09), statutory 20 (03-30)
SELECT pg_temp.submit('ck-licence') AS lic \gset
SELECT * FROM pg_temp.look(:lic);
SET miaopi.clock_now = '2026-03-02 10:00+08';
SELECT miaopi.act(:lic, 'accept');
SELECT * FROM pg_temp.look(:lic);
SET miaopi.clock_now = '2026-03-03 10:00+08';
SELECT miaopi.act(:lic, 'review');
SELECT * FROM pg_temp.look(:lic);
SET miaopi.clock_now = '2026-03-05 10:00+08';
SELECT * FROM pg_temp.look(:lic);
-- one working day left: yellow, recorded once
SET miaopi.clock_now = '2026-03-06 10:00+08';
SELECT * FROM pg_temp.look(:lic);
SELECT * FROM pg_temp.look(:lic);
SET miaopi.clock_now = '2026-03-09 23:59:59+08';
SELECT * FROM pg_temp.look(:lic);
-- past promised_due: red
SET miaopi.clock_now = '2026-03-10 00:00:01+08';
SELECT * FROM pg_temp.look(:lic);
SET miaopi.clock_now = '2026-03-30 18:00+08';
SELECT * FROM pg_temp.look(:lic);
-- past statutory_due: overdue; and the decide step (10 days from 03-03) ran over
SET miaopi.clock_now = '2026-03-31 09:00+08';
SELECT * FROM pg_temp.look(:lic);
SELECT * FROM pg_temp.look(:lic);
SET SESSION AUTHORIZATION regress_miaopi_clerk;
SELECT miaopi.act(:lic, 'approve');
RESET SESSION AUTHORIZATION;
SELECT step, light, used_working_days, remaining_working_days, within_promised, within_statutory
FROM miaopi.clock WHERE application = :lic;
SET miaopi.clock_now = '2026-04-03 09:00+08';
SELECT miaopi.act(:lic, 'deliver');
SELECT step, step_due, light, closed_at, within_promised, within_statutory
FROM miaopi.clock WHERE application = :lic;
SELECT at, action, actor, from_status, to_status, light, cause, step, due
FROM pg_temp.events WHERE app = :lic ORDER BY id;

-- ===== A decision late against the promise, never swept: recorded at the decision =====
SET miaopi.clock_now = '2026-03-02 10:00+08';
SELECT pg_temp.submit('ck-public') AS pub \gset
SELECT miaopi.act(:pub, 'accept');
SET miaopi.clock_now = '2026-03-10 10:00+08';
SELECT miaopi.act(:pub, 'approve');
SELECT light, within_promised, within_statutory FROM miaopi.clock WHERE application = :pub;
SELECT at, action, light, cause, due FROM pg_temp.events WHERE app = :pub ORDER BY id;

-- warn_at 0.5: yellow once half the promised days are used
SET miaopi.clock_now = '2026-03-02 10:00+08';
SELECT pg_temp.submit('ck-public') AS pub2 \gset
SELECT miaopi.act(:pub2, 'accept');
SET miaopi.clock_now = '2026-03-04 10:00+08';
SELECT * FROM pg_temp.look(:pub2);
SET miaopi.clock_now = '2026-03-05 10:00+08';
SELECT * FROM pg_temp.look(:pub2);

-- ===== Pause and resume across National Day 2025 =====
-- accepted Wed 09-24: promised 5 (09-30), statutory 20 (10-28)
SET miaopi.clock_now = '2025-09-24 10:00+08';
SELECT pg_temp.submit('ck-licence') AS lic2 \gset
SELECT miaopi.act(:lic2, 'accept');
SELECT promised_due, statutory_due, step_due FROM miaopi.application WHERE id = :lic2;
SET miaopi.clock_now = '2025-09-29 10:00+08';
SELECT miaopi.pause(:lic2, 'hearing');
SELECT miaopi.pause(:lic2, 'inspection');
SET miaopi.clock_now = '2025-10-09 10:00+08';
-- frozen where the pause began
SELECT * FROM pg_temp.look(:lic2);
SET miaopi.clock_now = '2025-10-10 15:00+08';
-- 09-30, 10-09 and 10-10 were paused: both dues and the step due move by 3
SELECT miaopi.resume(:lic2);
SELECT paused_at, paused_days, promised_due, statutory_due, step_due
FROM miaopi.application WHERE id = :lic2;
SELECT miaopi.resume(:lic2);
SELECT at, action, (SELECT detail FROM miaopi.event x WHERE x.application_id = :lic2
					AND x.action = e.action LIMIT 1) AS detail
FROM pg_temp.events e WHERE app = :lic2 AND action IN ('pause', 'resume') ORDER BY at;
-- an action on a paused application ends the pause first
SET miaopi.clock_now = '2025-10-11 09:00+08';
SELECT miaopi.pause(:lic2, 'expert_review');
SET miaopi.clock_now = '2025-10-14 09:00+08';
SELECT miaopi.act(:lic2, 'review');
SELECT paused, paused_days, promised_due, statutory_due FROM miaopi.clock WHERE application = :lic2;
SELECT at, action, from_status, to_status FROM pg_temp.events
WHERE app = :lic2 AND action IN ('pause', 'resume', 'review') ORDER BY id;

-- ===== Extension (art. 42): once, at most 10 working days, licences only =====
SELECT miaopi.extend(:lic2, 11, '需要专家评审');
SELECT miaopi.extend(:lic2, 0, '需要专家评审');
SELECT miaopi.extend(:lic2, 5, NULL);
SELECT miaopi.extend(:lic2, 10, '需要专家评审');
SELECT miaopi.extend(:lic2, 1, '再延一天');
SELECT statutory_due FROM miaopi.application WHERE id = :lic2;
SELECT miaopi.extend(:pub2, 3, '情况复杂');
-- not before acceptance, not once closed, not after the statutory due
SET miaopi.clock_now = '2026-03-02 10:00+08';
SELECT pg_temp.submit('ck-licence') AS lic3 \gset
SELECT miaopi.extend(:lic3, 5, '情况复杂');
SELECT miaopi.pause(:lic3, 'hearing');
SELECT miaopi.act(:lic3, 'accept');
SET miaopi.clock_now = '2026-04-01 10:00+08';
SELECT miaopi.extend(:lic3, 5, '太晚了');
SELECT miaopi.act(:lic3, 'withdraw');
SELECT miaopi.pause(:lic3, 'hearing');
SELECT miaopi.resume(:lic3);
SELECT miaopi.pause(:lic3, 'lunch');
SELECT miaopi.pause(999999, 'hearing');
SELECT miaopi.pause(NULL, 'hearing');
SELECT miaopi.resume(NULL);
SELECT miaopi.extend(:lic2, NULL, 'x');

-- ===== Deemed acceptance (art. 32): five working days without a word =====
-- submitted Friday 2025-09-26 23:30 Shanghai: days 09-28 (Sun), 09-29, 09-30, 10-09, 10-10
SET miaopi.clock_now = '2025-09-26 23:30+08';
SELECT pg_temp.submit('ck-public') AS pub3 \gset
SET miaopi.clock_now = '2025-10-10 23:59:59+08';
SELECT * FROM pg_temp.look(:pub3);
SET miaopi.clock_now = '2025-10-11 00:00:01+08';
SELECT * FROM pg_temp.look(:pub3);
SELECT * FROM pg_temp.look(:pub3);
SELECT status, accepted_at, promised_due, statutory_due FROM miaopi.application WHERE id = :pub3;
SELECT at, action, actor, from_status, to_status, light, cause, due
FROM pg_temp.events WHERE app = :pub3 ORDER BY id;
SELECT detail->>'reason' AS reason, detail->>'deadline' AS deadline
FROM miaopi.event WHERE application_id = :pub3 AND action = 'deemed_acceptance';
-- a supplement request in time stops it
SET miaopi.clock_now = '2025-09-26 10:00+08';
SELECT pg_temp.submit('ck-public') AS pub4 \gset
SELECT miaopi.act(:pub4, 'request_supplement', '缺身份证明');
SET miaopi.clock_now = '2025-10-20 10:00+08';
SELECT * FROM pg_temp.look(:pub4);
-- (that sweep recorded other applications' crossings)
SELECT app, action, light, cause FROM pg_temp.events WHERE at = '10-20 10:00' ORDER BY id;

-- ===== Machine decisions and the implicit acceptance of filings =====
SET miaopi.clock_now = '2026-03-02 10:00+08';
SELECT pg_temp.submit('ck-auto') AS auto \gset
SELECT status, step, accepted_at, promised_due, statutory_due, light, closed_at,
	within_promised, within_statutory
FROM miaopi.clock WHERE application = :auto;

-- ===== Provisional: dues past published_through (2026-12-31) =====
SET miaopi.clock_now = '2026-12-21 10:00+08';
SELECT pg_temp.submit('ck-licence') AS lic4 \gset
SELECT provisional FROM miaopi.clock WHERE application = :lic4;
SELECT miaopi.act(:lic4, 'accept');
SELECT promised_due, statutory_due, provisional FROM miaopi.clock WHERE application = :lic4;
SELECT clock_flags & 128 AS provisional_flag FROM miaopi.application WHERE id = :lic4;

-- ===== The whole board =====
SET miaopi.clock_now = '2026-03-04 10:00+08';
SELECT light, count(*) FROM miaopi.clock WHERE service LIKE 'ck-%' GROUP BY 1 ORDER BY 1;
SELECT status, step, light, count(*) FROM miaopi.clock WHERE service LIKE 'ck-%'
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
-- the view's function is internal but callable; an unknown service or status
-- gives NULL (every computed column of the view NULL)
SELECT miaopi.clock_columns('no-such-service', 'pending', now(), NULL, NULL, NULL, NULL, NULL,
	NULL, NULL, 0, 0) IS NULL AS unknown_service;
SELECT miaopi.clock_columns(service_code, 'no-such-status', submitted_at, NULL, NULL, NULL,
	NULL, NULL, NULL, NULL, 0, 0) IS NULL AS unknown_status
FROM miaopi.application WHERE id = :lic4;
-- the view scans each application once; each column read is a field of
-- clock_columns(), whose calls after the first for a row find the result the
-- first remembered
EXPLAIN (COSTS OFF) SELECT light, used_working_days, within_promised FROM miaopi.clock;
-- and those remembered results are what one call per row computes: every
-- column of every application, both ways (no row in either difference)
CREATE TEMP VIEW clock_once AS
SELECT a.id AS application, c.step, c.accepted_at, c.promised_due, c.statutory_due,
	c.step_due, c.used_working_days, c.remaining_working_days, c.provisional, c.light,
	c.within_promised, c.within_statutory
FROM miaopi.application a, miaopi.clock_columns(a.service_code, a.status, a.submitted_at,
	a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due,
	a.paused_at, a.paused_days, a.clock_flags) c;
SELECT count(*) > 5 AS several_applications FROM clock_once;
SELECT 'only in the view' AS side, count(*) FROM (
	SELECT application, step, accepted_at, promised_due, statutory_due, step_due,
		used_working_days, remaining_working_days, provisional, light,
		within_promised, within_statutory FROM miaopi.clock
	EXCEPT ALL SELECT * FROM clock_once) d
UNION ALL
SELECT 'only once per row', count(*) FROM (
	SELECT * FROM clock_once
	EXCEPT ALL
	SELECT application, step, accepted_at, promised_due, statutory_due, step_due,
		used_working_days, remaining_working_days, provisional, light,
		within_promised, within_statutory FROM miaopi.clock) d;

DELETE FROM miaopi.scope WHERE role = 'regress_miaopi_clerk';
DROP OWNED BY regress_miaopi_clerk;
DROP ROLE regress_miaopi_clerk;
RESET miaopi.clock_now;
-- applications and events are never deleted: other tests look at their own services
