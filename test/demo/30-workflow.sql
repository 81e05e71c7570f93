/*
 * test/demo/30-workflow.sql: the human path of `make demo`, when miaopi.act() exists.
 *
 * Two staff roles: a reviewer (经办人) who accepts and reviews, and a decider
 * (审批人) who approves or rejects; a licence needs both (four eyes).
 */
\echo '   (the first decision of a backend also compiles and caches the ruleset: see max_us)'

\echo
\echo '── 10. The human path: reviewers act on pending applications ──'
SELECT to_regprocedure('miaopi.act(bigint,text,text)') IS NOT NULL AS has_act,
	   to_regclass('miaopi.clock') IS NOT NULL AS has_clock \gset
\if :has_act
CREATE ROLE demo_reviewer;
CREATE ROLE demo_decider;
GRANT USAGE ON SCHEMA miaopi TO demo_reviewer, demo_decider;
GRANT SELECT ON miaopi.application, miaopi.clock TO demo_reviewer, demo_decider;
GRANT EXECUTE ON FUNCTION miaopi.act(bigint, text, text) TO demo_reviewer, demo_decider;
-- two people, each with an act scope for every service (four eyes compares
-- the login roles, so they act under SET SESSION AUTHORIZATION)
INSERT INTO miaopi.scope (role, action) VALUES ('demo_reviewer', 'act'), ('demo_decider', 'act');

\echo
\echo '   Wednesday 2026-12-02 09:30: the pending queue, by the time-limit clock'
SET miaopi.clock_now = '2026-12-02 09:30+08';
SELECT service, step, light, count(*) AS applications,
	   min(promised_due)::date AS "earliest 承诺 due",
	   min(statutory_due)::date AS "earliest 法定 due"
FROM miaopi.clock
WHERE status = 'pending'
GROUP BY service, step, light
ORDER BY service, step, light;

-- One application of each kind, moved by hand
SELECT min(id) AS lic FROM miaopi.application
WHERE service_code = 'radiation-worker-certificate' AND status = 'pending' \gset
SELECT min(id) AS fil FROM miaopi.application
WHERE service_code = 'muck-transport-filing' AND status = 'pending' \gset
SELECT min(id) AS pub FROM miaopi.application
WHERE service_code = 'housing-fund-rent-withdrawal' AND status = 'pending' \gset

\echo
\echo '   Three of them, moved by hand (each act() returns the new status):'
\echo '   放射工作人员证 (licence): the reviewer accepts and reviews, the decider approves'
SET SESSION AUTHORIZATION demo_reviewer;
SELECT miaopi.act(:lic, 'accept') AS s \gset
SELECT miaopi.act(:lic, 'review', '培训证明原件已核验，体检复查合格') AS s \gset
RESET SESSION AUTHORIZATION;
SET miaopi.clock_now = '2026-12-02 14:10+08';
SET SESSION AUTHORIZATION demo_decider;
SELECT miaopi.act(:lic, 'approve', '同意发证') AS s \gset
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION demo_reviewer;
SELECT miaopi.act(:lic, 'deliver') AS s \gset
RESET SESSION AUTHORIZATION;

\echo '   建筑垃圾运输备案 (filing): the decider approves at once'
SET SESSION AUTHORIZATION demo_decider;
SELECT miaopi.act(:fil, 'approve', '续保凭证已核对') AS s \gset
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION demo_reviewer;
SELECT miaopi.act(:fil, 'deliver') AS s \gset
RESET SESSION AUTHORIZATION;

\echo '   住房公积金租房提取 (public service): a supplement first, then a rejection'
SET SESSION AUTHORIZATION demo_reviewer;
SELECT miaopi.act(:pub, 'request_supplement', '请补交房屋租赁合同备案证明') AS s \gset
RESET SESSION AUTHORIZATION;
SET miaopi.clock_now = '2026-12-03 10:00+08';
SET SESSION AUTHORIZATION demo_reviewer;
SELECT miaopi.act(:pub, 'supplement_received') AS s \gset
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION demo_decider;
SELECT miaopi.act(:pub, 'reject', '本市有登记住房，不符合租房提取条件') AS s \gset
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION demo_reviewer;
SELECT miaopi.act(:pub, 'deliver') AS s \gset
RESET SESSION AUTHORIZATION;

\echo '   Their event log (miaopi.event, append-only):'
SELECT e.application_id AS id, a.service_code AS service, e.at, e.action, e.actor,
	   e.from_status || ' → ' || e.to_status AS status, e.comment
FROM miaopi.event e
	JOIN miaopi.application a ON a.id = e.application_id
WHERE e.application_id IN (:lic, :fil, :pub)
ORDER BY e.application_id, e.id;

\echo
\echo '   Four more, each showing one rule of the law (2026-12-03):'
SET miaopi.clock_now = '2026-12-03 09:00+08';
SELECT min(id) FILTER (WHERE service_code = 'radiation-worker-certificate') AS hearing,
	   max(id) FILTER (WHERE service_code = 'radiation-worker-certificate') AS inspect,
	   min(id) FILTER (WHERE service_code = 'housing-fund-rent-withdrawal') AS refuse,
	   max(id) FILTER (WHERE service_code = 'housing-fund-rent-withdrawal') AS supplement
FROM miaopi.application
WHERE status = 'pending' AND id NOT IN (:lic, :fil, :pub) \gset
GRANT EXECUTE ON FUNCTION miaopi.pause(bigint, text), miaopi.resume(bigint),
	miaopi.extend(bigint, int, text) TO demo_reviewer;
SET SESSION AUTHORIZATION demo_reviewer;
SELECT miaopi.act(:hearing, 'accept') AS s, miaopi.act(:inspect, 'accept') AS s2 \gset
SELECT miaopi.pause(:hearing, 'hearing') AS paused \gset
SELECT 'a hearing (听证): the clock pauses, the time is not counted' AS "what", :hearing AS id,
	   (SELECT status FROM miaopi.clock WHERE application = :hearing) AS status,
	   (SELECT paused FROM miaopi.clock WHERE application = :hearing)::text AS result
UNION ALL
SELECT 'an extension by 10 working days (art. 42): new 法定 due', :inspect, 'accepted',
	   miaopi.extend(:inspect, 10, '需现场核查')::date::text
UNION ALL
SELECT 'a refusal (不予受理): not this agency''s matter', :refuse,
	   miaopi.act(:refuse, 'refuse', '不属于本机关职权范围'), 'closed'
UNION ALL
SELECT 'a supplement (补正): everything missing, in one notice', :supplement,
	   miaopi.act(:supplement, 'request_supplement', '请一次性补正：房屋租赁合同备案证明、租金发票'), 'clock not started';
RESET SESSION AUTHORIZATION;
SELECT to_regprocedure('miaopi.notice(bigint)') IS NOT NULL AS has_notice \gset
\if :has_notice
\echo '   The one-time notice (一次性告知) sent for the supplement:'
SELECT miaopi.notice(:supplement) AS notice;
\endif
CREATE TEMP TABLE demo_kept AS SELECT unnest(ARRAY[:hearing, :inspect]::bigint[]) AS id;
GRANT SELECT ON demo_kept TO demo_reviewer, demo_decider;

\echo
\echo '   Thursday 2026-12-03: the staff work through what was submitted before 11-30'
\echo '   (except a few from the first days of November, left open: they will be overdue)'
SET miaopi.clock_now = '2026-12-03 16:00+08';
DO $wf$
DECLARE
	a			record;
BEGIN
	-- the reviewer accepts, and reviews the licences
	EXECUTE 'SET SESSION AUTHORIZATION demo_reviewer';
	FOR a IN SELECT id, service_code FROM miaopi.application
			 WHERE status = 'pending' AND submitted_at < '2026-11-30 00:00+08'
				AND NOT (submitted_at < '2026-11-04 00:00+08' AND id % 5 = 0)
				AND service_code <> 'muck-transport-filing'
			 ORDER BY id LOOP
		PERFORM miaopi.act(a.id, 'accept');
		IF a.service_code = 'radiation-worker-certificate' THEN
			PERFORM miaopi.act(a.id, 'review', '已核验');
		END IF;
	END LOOP;
	-- the decider decides: approve, unless a reject-worthy doubt (every 4th)
	EXECUTE 'SET SESSION AUTHORIZATION demo_decider';
	FOR a IN SELECT id FROM miaopi.application
			 WHERE status IN ('pending', 'accepted', 'reviewed')
				AND submitted_at < '2026-11-30 00:00+08'
				AND NOT (submitted_at < '2026-11-04 00:00+08' AND id % 5 = 0)
				AND id NOT IN (SELECT id FROM demo_kept)
			 ORDER BY id LOOP
		IF a.id % 4 = 0 THEN
			PERFORM miaopi.act(a.id, 'reject', '经人工核实不符合条件');
		ELSE
			PERFORM miaopi.act(a.id, 'approve', '经人工核实符合条件');
		END IF;
	END LOOP;
	-- and the reviewer delivers the results (证照, 回执, transfer)
	EXECUTE 'SET SESSION AUTHORIZATION demo_reviewer';
	FOR a IN SELECT id FROM miaopi.application
			 WHERE decided_by <> 'miaopi' AND closed_at IS NULL
			 ORDER BY id LOOP
		PERFORM miaopi.act(a.id, 'deliver');
	END LOOP;
	RESET SESSION AUTHORIZATION;
END
$wf$;

\echo
\echo '   Monday 2026-12-07: the hearing is over, the clock runs again'
SET miaopi.clock_now = '2026-12-07 10:00+08';
SET SESSION AUTHORIZATION demo_reviewer;
SELECT miaopi.resume(:hearing) AS "hearing over 2026-12-07: working days paused";
RESET SESSION AUTHORIZATION;

\echo
\echo '   Wednesday 2026-12-09 10:00: sweep() records each deadline crossing once and applies'
\echo '   art. 32''s deemed acceptance to applications nobody answered; what is still open:'
SET miaopi.clock_now = '2026-12-09 10:00+08';
SELECT miaopi.sweep() AS "deadline events recorded";
SELECT c.service, c.status, c.step, c.light, count(*) AS applications,
	   min(c.remaining_working_days) AS "min days left (承诺)"
FROM miaopi.clock c
WHERE c.closed_at IS NULL
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4;

\echo
\echo '   How the applications ended up'
SELECT coalesce(service_code, 'total') AS service,
	   count(*) FILTER (WHERE decided_by = 'miaopi' AND status = 'approved') AS "machine approved",
	   count(*) FILTER (WHERE decided_by = 'miaopi' AND status = 'rejected') AS "machine rejected",
	   count(*) FILTER (WHERE decided_by <> 'miaopi' AND decision = 'approve') AS "staff approved",
	   count(*) FILTER (WHERE decided_by <> 'miaopi' AND decision = 'reject') AS "staff rejected",
	   count(*) FILTER (WHERE decided_at IS NULL) AS "still open"
FROM miaopi.application
GROUP BY ROLLUP (service_code)
ORDER BY service_code NULLS LAST;

\echo
\echo '   Decisions against the time limits (miaopi.clock)'
SELECT service,
	   count(*) FILTER (WHERE within_promised) AS "within 承诺",
	   count(*) FILTER (WHERE NOT within_promised) AS "late vs 承诺",
	   count(*) FILTER (WHERE within_statutory) AS "within 法定",
	   count(*) FILTER (WHERE NOT within_statutory) AS "late vs 法定"
FROM miaopi.clock
WHERE within_promised IS NOT NULL
GROUP BY service
ORDER BY service;
\else
\echo '   miaopi.act() is not in this build yet: the manual workflow part is skipped.'
\endif
