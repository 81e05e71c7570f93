-- 1.1, statistics and replay: the miaopi.stats_* views, replay().
--
-- roles: miaopi_analyst SELECT miaopi.stats_service
-- roles: miaopi_analyst SELECT miaopi.stats_daily
-- roles: miaopi_analyst SELECT miaopi.stats_checks
-- roles: miaopi_analyst SELECT miaopi.stats_time_limits
-- roles: miaopi_analyst SELECT miaopi.stats_channels
-- roles: miaopi_analyst EXECUTE miaopi.replay(text, timestamptz, timestamptz)
-- roles: miaopi_analyst EXECUTE miaopi.ruleset_checks(bigint)
-- roles: miaopi_analyst EXECUTE miaopi.local_date(timestamptz, text)
-- roles: miaopi_analyst EXECUTE miaopi.clock_columns(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int)
-- roles: (and, if 10-trust revokes them from PUBLIC: miaopi_analyst EXECUTE miaopi.now(),
--         miaopi.working_days_between(timestamptz, timestamptz, text))
-- (A view reads its tables with its owner's rights, but the functions it calls
-- run with the caller's, so those EXECUTE grants are what reading a view takes.
-- The analyst needs no privilege on miaopi.application: the views are not
-- security_invoker, and none of their columns names a person.)
--
-- miaopi.not_passed(jsonb) stays executable by PUBLIC: it is a pure function,
-- and the generated column application.not_passed runs it as whoever inserts.
--
-- Licences issued: stats_service counts miaopi.licence rows per service when
-- that table exists when this fragment runs (30-licence comes before it), and
-- reports 0 otherwise; the view is built by the DO block below.

-- --------------------------------------------------------------------
-- What did not pass, per application (stats_checks and replay read it)
-- --------------------------------------------------------------------

CREATE FUNCTION miaopi.not_passed(reasons jsonb)
RETURNS text[]
AS 'MODULE_PATHNAME', 'miaopi_not_passed'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.not_passed(jsonb) IS
	'The checks of a decision''s reasons that did not pass, as "r:id" (failed, rejects), "m:id" (failed, manual) or "e:id" (error), in order; NULL when all passed';

ALTER TABLE miaopi.application
	ADD COLUMN not_passed text[] GENERATED ALWAYS AS (miaopi.not_passed(reasons)) STORED;
COMMENT ON COLUMN miaopi.application.not_passed IS
	'Generated from reasons: the checks that did not pass, "r:id" failed and rejects, "m:id" failed and sends to a person, "e:id" raised an error; NULL when every check passed';

CREATE FUNCTION miaopi.ruleset_checks(ruleset bigint)
RETURNS TABLE (ordinal int, check_id text, on_fail text)
AS 'MODULE_PATHNAME', 'miaopi_ruleset_checks'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION miaopi.ruleset_checks(bigint) IS
	'The checks of a stored ruleset in file order (ordinal 1..n), after invalid_payload and missing_material (ordinal 0) when the service declares fields or required materials';
REVOKE ALL ON FUNCTION miaopi.ruleset_checks(bigint) FROM PUBLIC;

CREATE FUNCTION miaopi.local_date(ts timestamptz, calendar text)
RETURNS date
AS 'MODULE_PATHNAME', 'miaopi_local_date'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.local_date(timestamptz, text) IS
	'The date of ts in the time zone of calendar (miaopi.calendar.timezone)';
REVOKE ALL ON FUNCTION miaopi.local_date(timestamptz, text) FROM PUBLIC;

-- Steps taken: act() counts them in bits 16..23 of clock_flags (clock.h).
-- Applications moved under 1.0 get the count of their recorded actions.
DO $backfill$
DECLARE
	state "char";
BEGIN
	IF NOT EXISTS (SELECT FROM miaopi.event
				   WHERE action OPERATOR(pg_catalog.=) ANY ('{accept,refuse,request_supplement,supplement_received,review,approve,reject,deliver,withdraw}'::text[])) THEN
		RETURN;
	END IF;
	SELECT t.tgenabled INTO state FROM pg_catalog.pg_trigger t
	WHERE t.tgrelid OPERATOR(pg_catalog.=) 'miaopi.application'::pg_catalog.regclass
		AND t.tgname OPERATOR(pg_catalog.=) 'application_guard';
	ALTER TABLE miaopi.application DISABLE TRIGGER application_guard;
	UPDATE miaopi.application a
	SET clock_flags = (a.clock_flags OPERATOR(pg_catalog.&) -16711681)
		OPERATOR(pg_catalog.|) (LEAST(e.n, 255)::int OPERATOR(pg_catalog.<<) 16)
	FROM (SELECT application_id, pg_catalog.count(*) AS n FROM miaopi.event
		  WHERE action OPERATOR(pg_catalog.=) ANY ('{accept,refuse,request_supplement,supplement_received,review,approve,reject,deliver,withdraw}'::text[])
		  GROUP BY application_id) e
	WHERE a.id OPERATOR(pg_catalog.=) e.application_id;
	-- back to exactly what it was (ALWAYS, if the trust fragment made it so)
	EXECUTE pg_catalog.format('ALTER TABLE miaopi.application %s TRIGGER application_guard',
		CASE state WHEN 'A' THEN 'ENABLE ALWAYS' WHEN 'R' THEN 'ENABLE REPLICA'
			WHEN 'D' THEN 'DISABLE' ELSE 'ENABLE' END);
END
$backfill$;

-- Deadline crossings per step (stats_time_limits) without reading every event.
CREATE INDEX event_deadline ON miaopi.event (application_id)
	WHERE action OPERATOR(pg_catalog.=) 'deadline';
COMMENT ON INDEX miaopi.event_deadline IS
	'The deadline crossings recorded by sweep() and act(), for stats_time_limits'' step overruns';

-- --------------------------------------------------------------------
-- stats_service (built in a DO block: it counts licences when miaopi.licence exists)
-- --------------------------------------------------------------------

DO $stats_service$
DECLARE
	licences text := CASE WHEN pg_catalog.to_regclass('miaopi.licence') IS NOT NULL THEN
		'SELECT l.service_code, pg_catalog.count(*) AS issued FROM miaopi.licence l GROUP BY l.service_code'
	ELSE
		'SELECT NULL::text AS service_code, 0::bigint AS issued WHERE false'
	END;
BEGIN
	EXECUTE pg_catalog.format($view$
CREATE VIEW miaopi.stats_service AS
WITH per AS (
	SELECT a.service_code,
		pg_catalog.count(*) AS submitted,
		pg_catalog.count(*) FILTER (WHERE a.decided_by OPERATOR(pg_catalog.=) 'miaopi'
			AND a.decision OPERATOR(pg_catalog.=) 'approve') AS approved_by_machine,
		pg_catalog.count(*) FILTER (WHERE a.decided_by OPERATOR(pg_catalog.<>) 'miaopi'
			AND a.decision OPERATOR(pg_catalog.=) 'approve') AS approved_by_people,
		pg_catalog.count(*) FILTER (WHERE a.decided_by OPERATOR(pg_catalog.=) 'miaopi'
			AND a.decision OPERATOR(pg_catalog.=) 'reject') AS rejected_by_machine,
		pg_catalog.count(*) FILTER (WHERE a.decided_by OPERATOR(pg_catalog.<>) 'miaopi'
			AND a.decision OPERATOR(pg_catalog.=) 'reject') AS rejected_by_people,
		pg_catalog.count(*) FILTER (WHERE a.status OPERATOR(pg_catalog.=) 'refused') AS refused,
		pg_catalog.count(*) FILTER (WHERE a.status OPERATOR(pg_catalog.=) ANY ('{pending,supplement,accepted,reviewed}'::text[])) AS pending,
		pg_catalog.count(*) FILTER (WHERE a.status OPERATOR(pg_catalog.=) 'withdrawn') AS withdrawn,
		pg_catalog.count(*) FILTER (WHERE a.decided_at IS NOT NULL) AS decided,
		pg_catalog.count(*) FILTER (WHERE a.decided_at OPERATOR(pg_catalog.=) a.submitted_at
			OR miaopi.local_date(a.decided_at, s.calendar)
				OPERATOR(pg_catalog.=) miaopi.local_date(a.submitted_at, s.calendar)) AS same_day,
		pg_catalog.count(*) FILTER (WHERE a.channel OPERATOR(pg_catalog.<>) 'window') AS online,
		pg_catalog.count(*) FILTER (WHERE a.decided_at IS NOT NULL AND a.promised_due IS NOT NULL) AS timed,
		pg_catalog.count(*) FILTER (WHERE a.decided_at OPERATOR(pg_catalog.<=) a.promised_due) AS within_promised,
		pg_catalog.count(*) FILTER (WHERE a.decided_at OPERATOR(pg_catalog.<=) a.statutory_due) AS within_statutory,
		pg_catalog.count(*) FILTER (WHERE a.closed_at IS NULL AND a.decided_at IS NULL
			AND (miaopi.clock_columns(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags)).promised_due
				OPERATOR(pg_catalog.<) miaopi.now()) AS open_past_promised,
		pg_catalog.count(*) FILTER (WHERE a.closed_at IS NULL AND a.decided_at IS NULL
			AND (miaopi.clock_columns(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags)).statutory_due
				OPERATOR(pg_catalog.<) miaopi.now()) AS open_past_statutory,
		pg_catalog.sum((a.clock_flags OPERATOR(pg_catalog.>>) 16) OPERATOR(pg_catalog.&) 255) AS steps,
		pg_catalog.sum(((a.clock_flags OPERATOR(pg_catalog.>>) 5) OPERATOR(pg_catalog.&) 1)
			OPERATOR(pg_catalog.+) ((a.clock_flags OPERATOR(pg_catalog.>>) 6) OPERATOR(pg_catalog.&) 1)) AS supplements
	FROM miaopi.application a
		JOIN miaopi.service s ON s.code OPERATOR(pg_catalog.=) a.service_code
	GROUP BY a.service_code
),
-- percentiles from histograms (hash aggregation, no sort of every row):
-- percentile_disc(p) is the first value whose running count reaches ceil(p * n)
hist AS (
	SELECT 'us' AS measure, a.service_code, a.decision_us AS v, pg_catalog.count(*) AS n
	FROM miaopi.application a
	WHERE a.decided_by OPERATOR(pg_catalog.=) 'miaopi' AND a.decision_us IS NOT NULL
	GROUP BY a.service_code, a.decision_us
	UNION ALL
	SELECT 'days', h.service_code, h.v, pg_catalog.count(*)
	FROM (SELECT a.service_code, miaopi.working_days_between(a.accepted_at, a.decided_at, s.calendar) AS v
		  FROM miaopi.application a
			  JOIN miaopi.service s ON s.code OPERATOR(pg_catalog.=) a.service_code
		  WHERE a.decided_by OPERATOR(pg_catalog.<>) 'miaopi' AND a.accepted_at IS NOT NULL) h
	GROUP BY h.service_code, h.v
),
pct AS (
	SELECT c.service_code,
		pg_catalog.min(c.v) FILTER (WHERE c.measure OPERATOR(pg_catalog.=) 'us'
			AND c.run OPERATOR(pg_catalog.>=) pg_catalog.ceil(0.5 OPERATOR(pg_catalog.*) c.total)) AS us_median,
		pg_catalog.min(c.v) FILTER (WHERE c.measure OPERATOR(pg_catalog.=) 'us'
			AND c.run OPERATOR(pg_catalog.>=) pg_catalog.ceil(0.95 OPERATOR(pg_catalog.*) c.total)) AS us_p95,
		pg_catalog.min(c.v) FILTER (WHERE c.measure OPERATOR(pg_catalog.=) 'days'
			AND c.run OPERATOR(pg_catalog.>=) pg_catalog.ceil(0.5 OPERATOR(pg_catalog.*) c.total)) AS days_median,
		pg_catalog.min(c.v) FILTER (WHERE c.measure OPERATOR(pg_catalog.=) 'days'
			AND c.run OPERATOR(pg_catalog.>=) pg_catalog.ceil(0.95 OPERATOR(pg_catalog.*) c.total)) AS days_p95
	FROM (SELECT h.measure, h.service_code, h.v,
			pg_catalog.sum(h.n) OVER (PARTITION BY h.measure, h.service_code ORDER BY h.v) AS run,
			pg_catalog.sum(h.n) OVER (PARTITION BY h.measure, h.service_code) AS total
		  FROM hist h) c
	GROUP BY c.service_code
),
lic AS (%s)
SELECT s.code AS service,
	s.name,
	s.department,
	s.kind,
	COALESCE(p.submitted, 0) AS submitted,
	COALESCE(p.approved_by_machine, 0) AS approved_by_machine,
	COALESCE(p.approved_by_people, 0) AS approved_by_people,
	COALESCE(p.rejected_by_machine OPERATOR(pg_catalog.+) p.rejected_by_people, 0) AS rejected,
	COALESCE(p.rejected_by_machine, 0) AS rejected_by_machine,
	COALESCE(p.rejected_by_people, 0) AS rejected_by_people,
	COALESCE(p.refused, 0) AS refused,
	COALESCE(p.pending, 0) AS pending,
	COALESCE(p.withdrawn, 0) AS withdrawn,
	CASE WHEN p.submitted OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(p.approved_by_machine::numeric
		OPERATOR(pg_catalog./) p.submitted, 4) END AS machine_approval_rate,
	CASE WHEN p.decided OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(p.same_day::numeric
		OPERATOR(pg_catalog./) p.decided, 4) END AS same_day_rate,
	CASE WHEN p.submitted OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(p.online::numeric
		OPERATOR(pg_catalog./) p.submitted, 4) END AS online_rate,
	q.us_median AS machine_decision_us_median,
	q.us_p95 AS machine_decision_us_p95,
	q.days_median AS human_working_days_median,
	q.days_p95 AS human_working_days_p95,
	CASE WHEN p.timed OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(p.within_promised::numeric
		OPERATOR(pg_catalog./) p.timed, 4) END AS within_promised_rate,
	CASE WHEN p.timed OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(p.within_statutory::numeric
		OPERATOR(pg_catalog./) p.timed, 4) END AS within_statutory_rate,
	COALESCE(p.open_past_promised, 0) AS open_past_promised,
	COALESCE(p.open_past_statutory, 0) AS open_past_statutory,
	CASE WHEN p.submitted OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(p.steps::numeric
		OPERATOR(pg_catalog./) p.submitted, 2) END AS average_steps,
	COALESCE(p.supplements, 0)::bigint AS supplements_requested,
	COALESCE(l.issued, 0) AS licences_issued
FROM miaopi.service s
	LEFT JOIN per p ON p.service_code OPERATOR(pg_catalog.=) s.code
	LEFT JOIN pct q ON q.service_code OPERATOR(pg_catalog.=) s.code
	LEFT JOIN lic l ON l.service_code OPERATOR(pg_catalog.=) s.code
$view$, licences);
END
$stats_service$;
COMMENT ON VIEW miaopi.stats_service IS
	'Per service: what was submitted and how it ended, 秒批率, 即办率, 网办率, decision times, time-limit compliance, steps, supplements, licences; no personal data';
COMMENT ON COLUMN miaopi.stats_service.submitted IS 'Applications submitted';
COMMENT ON COLUMN miaopi.stats_service.approved_by_machine IS 'Approved by the machine inside their INSERT (秒批)';
COMMENT ON COLUMN miaopi.stats_service.approved_by_people IS 'Approved by a person through act()';
COMMENT ON COLUMN miaopi.stats_service.rejected IS 'Rejected, by the machine or a person';
COMMENT ON COLUMN miaopi.stats_service.refused IS 'Refused at acceptance (不予受理)';
COMMENT ON COLUMN miaopi.stats_service.pending IS 'Open and undecided now: pending, supplement, accepted, reviewed';
COMMENT ON COLUMN miaopi.stats_service.withdrawn IS 'Withdrawn by the applicant';
COMMENT ON COLUMN miaopi.stats_service.machine_approval_rate IS 'approved_by_machine / submitted (秒批率); NULL without applications';
COMMENT ON COLUMN miaopi.stats_service.same_day_rate IS 'Decided on the calendar day of submission (service calendar''s time zone) / decided (即办率)';
COMMENT ON COLUMN miaopi.stats_service.online_rate IS 'Submitted through any channel but window / submitted (网办率)';
COMMENT ON COLUMN miaopi.stats_service.machine_decision_us_median IS 'Median decision_us of the applications the machine decided (approve or reject)';
COMMENT ON COLUMN miaopi.stats_service.machine_decision_us_p95 IS '95th percentile decision_us of the applications the machine decided';
COMMENT ON COLUMN miaopi.stats_service.human_working_days_median IS 'Median working days from acceptance to decision of the applications people decided';
COMMENT ON COLUMN miaopi.stats_service.human_working_days_p95 IS '95th percentile of the same';
COMMENT ON COLUMN miaopi.stats_service.within_promised_rate IS 'Decided by promised_due / decided';
COMMENT ON COLUMN miaopi.stats_service.within_statutory_rate IS 'Decided by statutory_due / decided';
COMMENT ON COLUMN miaopi.stats_service.open_past_promised IS 'Open undecided applications whose promised due (miaopi.clock) lies before miaopi.now()';
COMMENT ON COLUMN miaopi.stats_service.open_past_statutory IS 'Open undecided applications whose statutory due lies before miaopi.now()';
COMMENT ON COLUMN miaopi.stats_service.average_steps IS 'Workflow actions (act()) per submitted application; a machine decision takes none';
COMMENT ON COLUMN miaopi.stats_service.supplements_requested IS 'Supplement requests (补正), before and after acceptance';
COMMENT ON COLUMN miaopi.stats_service.licences_issued IS 'Licences issued for the service''s applications (0 until miaopi.licence exists)';

-- --------------------------------------------------------------------
-- stats_daily
-- --------------------------------------------------------------------

CREATE VIEW miaopi.stats_daily AS
SELECT miaopi.local_date(a.submitted_at, s.calendar) AS day,
	a.service_code AS service,
	pg_catalog.count(*) AS submitted,
	pg_catalog.count(*) FILTER (WHERE a.decided_by OPERATOR(pg_catalog.=) 'miaopi'
		AND a.decision OPERATOR(pg_catalog.=) 'approve') AS approved_by_machine,
	pg_catalog.count(*) FILTER (WHERE a.decided_by OPERATOR(pg_catalog.<>) 'miaopi'
		AND a.decision OPERATOR(pg_catalog.=) 'approve') AS approved_by_people,
	pg_catalog.count(*) FILTER (WHERE a.decision OPERATOR(pg_catalog.=) 'reject') AS rejected,
	pg_catalog.count(*) FILTER (WHERE a.status OPERATOR(pg_catalog.=) 'refused') AS refused,
	pg_catalog.count(*) FILTER (WHERE a.status OPERATOR(pg_catalog.=) ANY ('{pending,supplement,accepted,reviewed}'::text[])) AS pending,
	pg_catalog.count(*) FILTER (WHERE a.status OPERATOR(pg_catalog.=) 'withdrawn') AS withdrawn,
	pg_catalog.count(*) FILTER (WHERE a.channel OPERATOR(pg_catalog.<>) 'window') AS online
FROM miaopi.application a
	JOIN miaopi.service s ON s.code OPERATOR(pg_catalog.=) a.service_code
GROUP BY 1, 2;
COMMENT ON VIEW miaopi.stats_daily IS
	'Per day of submission (the service calendar''s time zone) and service: submitted, approved by machine and by people, rejected, refused, still pending, withdrawn, online; for charts';

-- --------------------------------------------------------------------
-- stats_checks
-- --------------------------------------------------------------------

CREATE VIEW miaopi.stats_checks AS
WITH evaluated AS (
	SELECT a.ruleset_id, pg_catalog.count(*) AS n
	FROM miaopi.application a
	GROUP BY a.ruleset_id
),
rulesets AS (
	SELECT r.id, r.service_code, r.version, COALESCE(e.n, 0) AS evaluated
	FROM miaopi.ruleset r
		LEFT JOIN evaluated e ON e.ruleset_id OPERATOR(pg_catalog.=) r.id
	WHERE e.n IS NOT NULL
		OR r.id OPERATOR(pg_catalog.=) ANY (SELECT s.current_ruleset FROM miaopi.service s)
),
failures AS (
	SELECT a.ruleset_id,
		pg_catalog.substr(x.item, 3) AS check_id,
		pg_catalog.count(*) FILTER (WHERE pg_catalog.left(x.item, 1) OPERATOR(pg_catalog.<>) 'e') AS failed,
		pg_catalog.count(*) FILTER (WHERE pg_catalog.left(x.item, 1) OPERATOR(pg_catalog.=) 'e') AS errored,
		pg_catalog.count(*) FILTER (WHERE o.outcome OPERATOR(pg_catalog.=) 'reject'
			AND pg_catalog.left(x.item, 1) OPERATOR(pg_catalog.=) 'r' AND k.rejects OPERATOR(pg_catalog.=) 1) AS rejected_alone,
		pg_catalog.count(*) FILTER (WHERE o.outcome OPERATOR(pg_catalog.=) 'reject'
			AND pg_catalog.left(x.item, 1) OPERATOR(pg_catalog.=) 'r' AND k.rejects OPERATOR(pg_catalog.>) 1) AS rejected_with_others,
		pg_catalog.count(*) FILTER (WHERE o.outcome OPERATOR(pg_catalog.=) 'manual'
			AND pg_catalog.cardinality(a.not_passed) OPERATOR(pg_catalog.=) 1) AS manual_alone,
		pg_catalog.count(*) FILTER (WHERE o.outcome OPERATOR(pg_catalog.=) 'manual'
			AND pg_catalog.cardinality(a.not_passed) OPERATOR(pg_catalog.>) 1) AS manual_with_others
	FROM miaopi.application a
		CROSS JOIN LATERAL (SELECT CASE WHEN a.decided_by OPERATOR(pg_catalog.=) 'miaopi'
			THEN a.decision ELSE 'manual' END AS outcome) o
		-- how many of its entries are reject causes: the "|r:" in "|" || array_to_string(...)
		CROSS JOIN LATERAL (SELECT '|' OPERATOR(pg_catalog.||) pg_catalog.array_to_string(a.not_passed, '|') AS s) j
		CROSS JOIN LATERAL (SELECT (pg_catalog.length(j.s) OPERATOR(pg_catalog.-)
			pg_catalog.length(pg_catalog.replace(j.s, '|r:', ''))) OPERATOR(pg_catalog./) 3 AS rejects) k
		CROSS JOIN LATERAL pg_catalog.unnest(a.not_passed) x(item)
	WHERE a.not_passed IS NOT NULL
	GROUP BY 1, 2
)
SELECT r.service_code AS service,
	r.version,
	r.id AS ruleset,
	c.ordinal,
	c.check_id,
	c.on_fail,
	r.evaluated,
	COALESCE(f.failed, 0) AS failed,
	COALESCE(f.errored, 0) AS errored,
	CASE WHEN r.evaluated OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(COALESCE(f.failed, 0)::numeric
		OPERATOR(pg_catalog./) r.evaluated, 4) END AS fail_rate,
	CASE WHEN r.evaluated OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(COALESCE(f.errored, 0)::numeric
		OPERATOR(pg_catalog./) r.evaluated, 4) END AS error_rate,
	COALESCE(f.rejected_alone, 0) AS rejected_alone,
	COALESCE(f.rejected_with_others, 0) AS rejected_with_others,
	COALESCE(f.manual_alone, 0) AS manual_alone,
	COALESCE(f.manual_with_others, 0) AS manual_with_others
FROM rulesets r
	CROSS JOIN LATERAL miaopi.ruleset_checks(r.id) c
	LEFT JOIN failures f ON f.ruleset_id OPERATOR(pg_catalog.=) r.id
		AND f.check_id OPERATOR(pg_catalog.=) c.check_id;
COMMENT ON VIEW miaopi.stats_checks IS
	'Per service, ruleset version and check: applications evaluated, failed, errored, the rates, and the machine''s reject and manual outcomes it caused alone or with other checks';
COMMENT ON COLUMN miaopi.stats_checks.evaluated IS 'Applications decided by this ruleset (every check runs on each)';
COMMENT ON COLUMN miaopi.stats_checks.failed IS 'Applications where the check''s rule was false (or the material or payload code applied)';
COMMENT ON COLUMN miaopi.stats_checks.errored IS 'Applications where the check could not be evaluated (result error)';
COMMENT ON COLUMN miaopi.stats_checks.rejected_alone IS 'Machine rejections where this was the only failed reject check';
COMMENT ON COLUMN miaopi.stats_checks.rejected_with_others IS 'Machine rejections this failed reject check shared with other failed reject checks';
COMMENT ON COLUMN miaopi.stats_checks.manual_alone IS 'Applications sent to a person where this was the only check that did not pass';
COMMENT ON COLUMN miaopi.stats_checks.manual_with_others IS 'Applications sent to a person where this and other checks did not pass';

-- --------------------------------------------------------------------
-- stats_time_limits
-- --------------------------------------------------------------------

CREATE VIEW miaopi.stats_time_limits AS
WITH per AS (
	SELECT a.service_code,
		pg_catalog.count(*) FILTER (WHERE a.decided_at IS NOT NULL) AS decided,
		pg_catalog.count(*) FILTER (WHERE a.decided_at IS NOT NULL AND a.promised_due IS NOT NULL) AS timed,
		pg_catalog.count(*) FILTER (WHERE a.decided_at OPERATOR(pg_catalog.<=) a.promised_due) AS within_promised,
		pg_catalog.count(*) FILTER (WHERE a.decided_at OPERATOR(pg_catalog.<=) a.statutory_due) AS within_statutory,
		pg_catalog.count(*) FILTER (WHERE a.closed_at IS NULL) AS open
	FROM miaopi.application a
	GROUP BY a.service_code
),
used AS (
	SELECT c.service_code,
		pg_catalog.min(c.v) FILTER (WHERE c.run OPERATOR(pg_catalog.>=) pg_catalog.ceil(0.5 OPERATOR(pg_catalog.*) c.total)) AS median,
		pg_catalog.min(c.v) FILTER (WHERE c.run OPERATOR(pg_catalog.>=) pg_catalog.ceil(0.95 OPERATOR(pg_catalog.*) c.total)) AS p95
	FROM (SELECT h.service_code, h.v,
			pg_catalog.sum(h.n) OVER (PARTITION BY h.service_code ORDER BY h.v) AS run,
			pg_catalog.sum(h.n) OVER (PARTITION BY h.service_code) AS total
		  FROM (SELECT u.service_code, u.v, pg_catalog.count(*) AS n
				-- what miaopi.clock shows as used_working_days once decided: the
				-- working days from acceptance to decision, less those paused
				-- (a machine decision uses none); computed directly, it costs a
				-- fifth of computing the clock (clock_columns())
				FROM (SELECT a.service_code, CASE WHEN a.decided_by OPERATOR(pg_catalog.=) 'miaopi' THEN 0
						ELSE miaopi.working_days_between(a.accepted_at, a.decided_at, s.calendar)
							OPERATOR(pg_catalog.-) a.paused_days END AS v
					  FROM miaopi.application a
						  JOIN miaopi.service s ON s.code OPERATOR(pg_catalog.=) a.service_code
					  WHERE a.decided_at IS NOT NULL) u
				WHERE u.v IS NOT NULL
				GROUP BY u.service_code, u.v) h) c
	GROUP BY c.service_code
),
lights AS (
	SELECT a.service_code,
		pg_catalog.count(*) FILTER (WHERE l.light OPERATOR(pg_catalog.=) 'yellow') AS yellow,
		pg_catalog.count(*) FILTER (WHERE l.light OPERATOR(pg_catalog.=) 'red') AS red,
		pg_catalog.count(*) FILTER (WHERE l.light OPERATOR(pg_catalog.=) 'overdue') AS overdue
	FROM miaopi.application a
		CROSS JOIN LATERAL (SELECT (miaopi.clock_columns(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags)).light) l
	WHERE a.closed_at IS NULL
	GROUP BY a.service_code
),
steps AS (
	SELECT a.service_code,
		pg_catalog.count(*) FILTER (WHERE e.detail OPERATOR(pg_catalog.->>) 'step' OPERATOR(pg_catalog.=) 'accept') AS accept,
		pg_catalog.count(*) FILTER (WHERE e.detail OPERATOR(pg_catalog.->>) 'step' OPERATOR(pg_catalog.=) 'review') AS review,
		pg_catalog.count(*) FILTER (WHERE e.detail OPERATOR(pg_catalog.->>) 'step' OPERATOR(pg_catalog.=) 'decide') AS decide,
		pg_catalog.count(*) FILTER (WHERE e.detail OPERATOR(pg_catalog.->>) 'step' OPERATOR(pg_catalog.=) 'deliver') AS deliver
	FROM miaopi.event e
		JOIN miaopi.application a ON a.id OPERATOR(pg_catalog.=) e.application_id
	WHERE e.action OPERATOR(pg_catalog.=) 'deadline'
		AND e.detail OPERATOR(pg_catalog.->>) 'cause' OPERATOR(pg_catalog.=) 'step'
	GROUP BY a.service_code
)
SELECT s.code AS service,
	s.statutory_days,
	s.promised_days,
	CASE WHEN s.statutory_days OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(s.promised_days::numeric
		OPERATOR(pg_catalog./) s.statutory_days, 4) END AS promised_ratio,
	COALESCE(p.decided, 0) AS decided,
	u.median AS used_working_days_median,
	u.p95 AS used_working_days_p95,
	CASE WHEN p.timed OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(p.within_promised::numeric
		OPERATOR(pg_catalog./) p.timed, 4) END AS within_promised_rate,
	CASE WHEN p.timed OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(p.within_statutory::numeric
		OPERATOR(pg_catalog./) p.timed, 4) END AS within_statutory_rate,
	COALESCE(p.open, 0) AS open,
	COALESCE(l.yellow, 0) AS yellow,
	COALESCE(l.red, 0) AS red,
	COALESCE(l.overdue, 0) AS overdue,
	COALESCE(t.accept, 0) AS accept_overruns,
	COALESCE(t.review, 0) AS review_overruns,
	COALESCE(t.decide, 0) AS decide_overruns,
	COALESCE(t.deliver, 0) AS deliver_overruns
FROM miaopi.service s
	LEFT JOIN per p ON p.service_code OPERATOR(pg_catalog.=) s.code
	LEFT JOIN used u ON u.service_code OPERATOR(pg_catalog.=) s.code
	LEFT JOIN lights l ON l.service_code OPERATOR(pg_catalog.=) s.code
	LEFT JOIN steps t ON t.service_code OPERATOR(pg_catalog.=) s.code;
COMMENT ON VIEW miaopi.stats_time_limits IS
	'Per service: statutory and promised days and their ratio, working days used, compliance, the open applications'' lights now, and recorded step overruns (电子监察)';
COMMENT ON COLUMN miaopi.stats_time_limits.promised_ratio IS 'promised_days / statutory_days; the reform asks for at most 0.30';
COMMENT ON COLUMN miaopi.stats_time_limits.used_working_days_median IS 'Median working days of the promised time used by decided applications (miaopi.clock used_working_days; a machine decision uses 0)';
COMMENT ON COLUMN miaopi.stats_time_limits.within_promised_rate IS 'Decided by promised_due / decided';
COMMENT ON COLUMN miaopi.stats_time_limits.yellow IS 'Open applications whose light is yellow now';
COMMENT ON COLUMN miaopi.stats_time_limits.accept_overruns IS 'Step limit breaches of the accept step recorded so far (deadline events)';

-- --------------------------------------------------------------------
-- stats_channels
-- --------------------------------------------------------------------

CREATE VIEW miaopi.stats_channels AS
WITH per AS (
	SELECT a.channel,
		a.service_code,
		pg_catalog.count(*) AS submitted,
		pg_catalog.count(*) FILTER (WHERE a.decided_by OPERATOR(pg_catalog.=) 'miaopi'
			AND a.decision OPERATOR(pg_catalog.=) 'approve') AS approved_by_machine,
		pg_catalog.count(*) FILTER (WHERE a.decided_by OPERATOR(pg_catalog.<>) 'miaopi'
			AND a.decision OPERATOR(pg_catalog.=) 'approve') AS approved_by_people,
		pg_catalog.count(*) FILTER (WHERE a.decision OPERATOR(pg_catalog.=) 'reject') AS rejected,
		pg_catalog.count(*) FILTER (WHERE a.status OPERATOR(pg_catalog.=) 'refused') AS refused,
		pg_catalog.count(*) FILTER (WHERE a.status OPERATOR(pg_catalog.=) ANY ('{pending,supplement,accepted,reviewed}'::text[])) AS pending,
		pg_catalog.count(*) FILTER (WHERE a.status OPERATOR(pg_catalog.=) 'withdrawn') AS withdrawn,
		pg_catalog.count(*) FILTER (WHERE a.decided_at IS NOT NULL) AS decided,
		pg_catalog.count(*) FILTER (WHERE a.decided_at OPERATOR(pg_catalog.=) a.submitted_at
			OR miaopi.local_date(a.decided_at, s.calendar)
				OPERATOR(pg_catalog.=) miaopi.local_date(a.submitted_at, s.calendar)) AS same_day
	FROM miaopi.application a
		JOIN miaopi.service s ON s.code OPERATOR(pg_catalog.=) a.service_code
	GROUP BY a.channel, a.service_code
)
SELECT p.channel,
	p.service_code AS service,
	p.submitted,
	pg_catalog.round(p.submitted::numeric OPERATOR(pg_catalog./)
		pg_catalog.sum(p.submitted) OVER (PARTITION BY p.service_code), 4) AS share_of_service,
	p.approved_by_machine,
	p.approved_by_people,
	p.rejected,
	p.refused,
	p.pending,
	p.withdrawn,
	pg_catalog.round(p.approved_by_machine::numeric OPERATOR(pg_catalog./) p.submitted, 4) AS machine_approval_rate,
	CASE WHEN p.decided OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(p.same_day::numeric
		OPERATOR(pg_catalog./) p.decided, 4) END AS same_day_rate
FROM per p;
COMMENT ON VIEW miaopi.stats_channels IS
	'Per channel (online, mobile, kiosk, window, auto, ...) and service: submitted, its share of the service''s submissions, outcomes, 秒批率 and 即办率';

REVOKE ALL ON miaopi.stats_service, miaopi.stats_daily, miaopi.stats_checks,
	miaopi.stats_time_limits, miaopi.stats_channels FROM PUBLIC;

-- --------------------------------------------------------------------
-- replay
-- --------------------------------------------------------------------

CREATE FUNCTION miaopi.replay(source text, since timestamptz DEFAULT NULL,
							  until timestamptz DEFAULT NULL)
RETURNS TABLE (application_id bigint, service text, old_decision text,
			   new_decision text, changed text[])
AS 'MODULE_PATHNAME', 'miaopi_replay'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.replay(text, timestamptz, timestamptz) IS
	'Decides a candidate rules source (one service, not stored) over that service''s applications submitted in [since, until), each as submitted, and returns those whose machine decision or failed checks would change';
REVOKE ALL ON FUNCTION miaopi.replay(text, timestamptz, timestamptz) FROM PUBLIC;
