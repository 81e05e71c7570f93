/*
 * test/bench/stats-data.sql: a year of applications for the statistics
 * views, replay and the hot-standby test.  psql -v n=N (how many) in a
 * database where miaopi is installed and nothing else has been loaded.
 *
 * Five services cover every kind (licence, public service, filing), with
 * and without auto_approve.  Their checks fail or err for a share of
 * payloads, so the machine approves, rejects and sends to a person.
 *
 *  1. 5,000 templates go through the decision trigger (real reasons,
 *     decision_us, not_passed), 1,000 per service.
 *  2. They are copied into :n applications with the decision trigger
 *     disabled (a superuser's bulk path; otherwise only miaopi writes
 *     these columns), each given its own submission time over the year
 *     before 2026-12-01 and a fate: the machine's decision as the template
 *     had it, or, for the ones sent to a person, the workflow's: approved
 *     or rejected by people (some late), refused, withdrawn, or still open
 *     (pending, accepted, reviewed, waiting for a supplement; a few of them
 *     overdue), with the steps and supplements act() would have counted.
 *  3. About 3% of the human ones get a recorded step overrun (a deadline
 *     event, as sweep() writes it).
 *
 * Every random() is seeded: the same n gives the same data.
 */
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET timezone = 'Asia/Shanghai';
SET miaopi.clock_now = '2026-12-01 10:00+08';

SELECT count(*) AS services FROM miaopi.load_rules($y$
service: stats-filing
name: 建筑垃圾运输备案（统计）
department: 市城市管理委员会
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  n: {type: int, required: true}
  q: {type: int, required: true}
  opt: int
materials:
  form: {required: true}
checks:
  - {id: enough, rule: payload.n >= 5, message: 数量不足, on_fail: reject}
  - {id: quality, rule: payload.q >= 10, message: 需人工核实, on_fail: manual}
  - {id: optional, rule: payload.opt >= 0, message: 缺少可选项, on_fail: manual}
---
service: stats-public
name: 住房公积金提取（统计）
department: 市住房公积金中心
kind: public_service
time_limit: {statutory: 10, promised: 3}
auto_approve: true
fields:
  n: {type: int, required: true}
  q: {type: int, required: true}
  opt: int
materials:
  form: {required: true}
checks:
  - {id: enough, rule: payload.n >= 8, message: 余额不足, on_fail: reject}
  - {id: quality, rule: payload.q >= 15, message: 需人工核实, on_fail: manual}
---
service: stats-licence
name: 放射工作人员证（统计）
department: 市卫生健康委员会
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: false
steps: {accept: 1, review: 3, decide: 5, deliver: 1}
fields:
  n: {type: int, required: true}
  q: {type: int, required: true}
  opt: int
materials:
  form: {required: true}
checks:
  - {id: enough, rule: payload.n >= 3, message: 条件不足, on_fail: reject}
  - {id: quality, rule: payload.q >= 5, message: 需人工核实, on_fail: manual}
---
service: stats-licence-auto
name: 道路运输证（统计）
department: 市交通运输局
kind: licence
time_limit: {statutory: 20, promised: 2}
auto_approve: true
fields:
  n: {type: int, required: true}
  q: {type: int, required: true}
  opt: int
materials:
  form: {required: true}
checks:
  - {id: enough, rule: payload.n >= 4, message: 条件不足, on_fail: reject}
  - {id: quality, rule: payload.q >= 12, message: 需人工核实, on_fail: manual}
  - {id: optional, rule: payload.opt >= 0, message: 缺少可选项, on_fail: manual}
---
service: stats-permit
name: 临时占道许可（统计）
department: 市城市管理委员会
kind: public_service
time_limit: {statutory: 10, promised: 5}
auto_approve: false
fields:
  n: {type: int, required: true}
  q: {type: int, required: true}
  opt: int
checks:
  - {id: enough, rule: payload.n >= 6, message: 条件不足, on_fail: reject}
$y$);

-- 1. templates, decided by the trigger
SELECT setseed(0.42);
CREATE TEMP TABLE template AS SELECT 0 AS t, NULL::bigint AS id LIMIT 0;
WITH ins AS (
	INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials, channel)
	SELECT s.code, '91350100M000' || lpad(g::text, 6, '0'), '某申请人' || g,
		jsonb_build_object('n', floor(random() * 100)::int, 'q', floor(random() * 100)::int)
			|| CASE WHEN random() < 0.98 THEN jsonb_build_object('opt', 1) ELSE '{}' END,
		CASE WHEN random() < 0.97 THEN '{form}'::text[] ELSE '{}' END,
		(ARRAY['online', 'online', 'online', 'mobile', 'mobile', 'kiosk', 'window', 'window'])[1 + floor(random() * 8)::int]
	FROM generate_series(1, 1000) g,
		(VALUES ('stats-filing'), ('stats-public'), ('stats-licence'), ('stats-licence-auto'), ('stats-permit')) s(code)
	RETURNING id
)
INSERT INTO template SELECT row_number() OVER (ORDER BY id) - 1, id FROM ins;

-- 2. the year: copies of the templates, each with its own time and fate
ALTER TABLE miaopi.application DISABLE TRIGGER application_decide;
SELECT setseed(0.2026);
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials,
	channel, submitted_at, status, decision, decided_at, decided_by, ruleset_id, reasons,
	decision_us, accepted_at, promised_due, statutory_due, closed_at, step_due, paused_at,
	paused_days, clock_flags)
SELECT x.service_code, x.applicant_id, x.applicant_name, x.payload, x.materials, x.channel,
	x.sub, f.status, f.decision, f.decided_at, f.decided_by, x.ruleset_id, x.reasons,
	x.decision_us, f.acc,
	CASE WHEN f.acc IS NOT NULL THEN miaopi.add_working_days(f.acc, x.promised_days) END,
	CASE WHEN f.acc IS NOT NULL THEN miaopi.add_working_days(f.acc, x.statutory_days) END,
	f.closed_at,
	CASE WHEN f.closed_at IS NULL AND f.acc IS NOT NULL THEN miaopi.add_working_days(f.acc, 3) END,
	CASE WHEN f.status = 'supplement' THEN f.acc + interval '1 day' END,
	0,
	(f.steps << 16) | CASE WHEN f.supplement THEN 64 ELSE 0 END
FROM (
	SELECT a.*, s.kind, s.promised_days, s.statutory_days,
		timestamptz '2026-12-01 10:00+08' - random() * interval '365 days' AS sub,
		random() AS u, random() AS v, random() AS w
	FROM generate_series(0, :n - 1) i
		JOIN template t ON t.t = i % 5000
		JOIN miaopi.application a ON a.id = t.id
		JOIN miaopi.service s ON s.code = a.service_code
) x
CROSS JOIN LATERAL (
	SELECT CASE
			WHEN x.decided_by = 'miaopi' THEN 'machine'
			WHEN x.sub > timestamptz '2026-11-10 00:00+08' OR x.u < 0.01 THEN
				CASE WHEN x.v < 0.3 THEN 'pending' WHEN x.v < 0.6 THEN 'accepted'
					 WHEN x.v < 0.75 AND x.kind = 'licence' THEN 'reviewed'
					 WHEN x.v < 0.85 THEN 'supplement' ELSE 'approved' END
			WHEN x.u < 0.70 THEN 'approved'
			WHEN x.u < 0.86 THEN 'rejected'
			WHEN x.u < 0.95 THEN 'refused'
			ELSE 'withdrawn' END AS fate
) g
CROSS JOIN LATERAL (
	SELECT CASE g.fate WHEN 'machine' THEN x.status ELSE g.fate END AS status,
		CASE WHEN g.fate = 'machine' THEN x.sub
			 WHEN g.fate IN ('pending', 'refused', 'withdrawn') THEN NULL
			 ELSE least(x.sub + (x.w * 2) * interval '1 day', timestamptz '2026-12-01 10:00+08') END AS acc,
		x.kind
) h0
CROSS JOIN LATERAL (
	SELECT h0.status,
		CASE WHEN h0.status = 'approved' AND g.fate <> 'machine' THEN 'approve'
			 WHEN h0.status = 'rejected' AND g.fate <> 'machine' THEN 'reject'
			 ELSE x.decision END AS decision,
		CASE WHEN g.fate = 'machine' THEN x.sub + x.decision_us * interval '1 microsecond'
			 WHEN g.fate IN ('approved', 'rejected') THEN least(h0.acc
				+ (x.v * x.statutory_days * 1.9) * interval '1 day', timestamptz '2026-12-01 10:00+08') END AS decided_at,
		CASE WHEN g.fate = 'machine' THEN 'miaopi'
			 WHEN g.fate IN ('approved', 'rejected') THEN 'reviewer_' || (floor(x.w * 7))::int END AS decided_by,
		h0.acc,
		CASE WHEN g.fate = 'machine' THEN x.sub + x.decision_us * interval '1 microsecond'
			 WHEN g.fate IN ('approved', 'rejected') THEN least(h0.acc
				+ (x.v * x.statutory_days * 1.9 + 1) * interval '1 day', timestamptz '2026-12-01 10:00+08')
			 WHEN g.fate IN ('refused', 'withdrawn') THEN least(x.sub + x.w * interval '3 days',
				timestamptz '2026-12-01 10:00+08') END AS closed_at,
		CASE g.fate WHEN 'machine' THEN 0 WHEN 'pending' THEN 0 WHEN 'refused' THEN 1
			 WHEN 'withdrawn' THEN 1 WHEN 'accepted' THEN 1 WHEN 'supplement' THEN 2
			 WHEN 'reviewed' THEN 2
			 ELSE CASE h0.kind WHEN 'licence' THEN 4 WHEN 'public_service' THEN 3 ELSE 2 END
		END + CASE WHEN g.fate IN ('approved', 'rejected') AND x.w < 0.1 THEN 2 ELSE 0 END AS steps,
		g.fate = 'supplement' OR (g.fate IN ('approved', 'rejected') AND x.w < 0.1) AS supplement
) f;
ALTER TABLE miaopi.application ENABLE TRIGGER application_decide;

-- 3. recorded step overruns
INSERT INTO miaopi.event (application_id, at, action, actor, from_status, to_status, detail)
SELECT a.id, a.accepted_at + interval '4 days', 'deadline', 'miaopi', a.status, a.status,
	jsonb_build_object('light', 'red', 'cause', 'step',
		'step', (ARRAY['accept', 'review', 'decide', 'deliver'])[1 + a.id % 4],
		'due', a.accepted_at + interval '3 days')
FROM miaopi.application a
WHERE a.decided_by IS DISTINCT FROM 'miaopi' AND a.accepted_at IS NOT NULL AND a.id % 33 = 0;

VACUUM ANALYZE miaopi.application;
VACUUM ANALYZE miaopi.event;
