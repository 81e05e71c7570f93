-- Statistics views and replay(): every measure over a small known history,
-- a service without applications (zeros, no division by zero), the
-- analyst's privileges, replay's changes and its bad input.
SET datestyle = 'ISO, YMD';
SET timezone = 'Asia/Shanghai';
SET miaopi.clock_now = '2026-03-02 09:00+08';
ALTER TABLE miaopi.application ALTER COLUMN id RESTART WITH 9001;

SELECT service, version, checks FROM miaopi.load_rules($y$
service: st-filing
name: 统计备案
department: 统计局
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  n: {type: int, required: true}
  opt: int
materials:
  form: {required: true}
checks:
  - {id: positive, rule: payload.n > 0, message: 须为正数, on_fail: reject}
  - {id: small, rule: payload.n < 10, message: 需人工核实, on_fail: manual}
  - {id: even, rule: payload.n % 2 == 0, message: 须为偶数, on_fail: reject}
  - {id: opt, rule: payload.opt >= 0, message: 缺少可选项, on_fail: manual}
---
service: st-licence
name: 统计许可
department: 统计局
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: false
steps: {accept: 1, decide: 3, deliver: 1}
fields:
  n: {type: int, required: true}
checks:
  - {id: positive, rule: payload.n > 0, on_fail: reject}
---
service: st-empty
name: 无人申请
kind: public_service
time_limit: {statutory: 10, promised: 3}
fields: {}
checks: []
$y$);

-- Nothing submitted yet: one row per service, zeros, NULL rates
SELECT service, submitted, approved_by_machine, pending, machine_approval_rate,
	   same_day_rate, online_rate, machine_decision_us_median, average_steps, licences_issued
FROM miaopi.stats_service WHERE service LIKE 'st-%' ORDER BY service;
SELECT count(*) FROM miaopi.stats_daily WHERE service LIKE 'st-%';
SELECT count(*) FROM miaopi.stats_channels WHERE service LIKE 'st-%';
SELECT service, ordinal, check_id, on_fail, evaluated, failed, fail_rate
FROM miaopi.stats_checks WHERE service LIKE 'st-%' ORDER BY service, ordinal, check_id;
SELECT service, promised_ratio, decided, used_working_days_median, within_promised_rate, open, yellow
FROM miaopi.stats_time_limits WHERE service LIKE 'st-%' ORDER BY service;

-- Monday 2026-03-02: filings through three channels.  n = 4, 6, 8: approved;
-- 3: rejected (odd); 12: manual (not small); -1: rejected by two checks;
-- opt missing: error, manual; no form: missing material.
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials, channel)
VALUES
	('st-filing', 'p1', '甲', '{"n": 4, "opt": 1}', '{form}', 'online'),
	('st-filing', 'p2', '乙', '{"n": 6, "opt": 1}', '{form}', 'mobile'),
	('st-filing', 'p3', '丙', '{"n": 8, "opt": 1}', '{form}', 'window'),
	('st-filing', 'p4', '丁', '{"n": 3, "opt": 1}', '{form}', 'online'),
	('st-filing', 'p5', '戊', '{"n": 12, "opt": 1}', '{form}', 'window'),
	('st-filing', 'p6', '己', '{"n": -1, "opt": 1}', '{form}', 'online'),
	('st-filing', 'p7', '庚', '{"n": 2}', '{form}', 'kiosk'),
	('st-filing', 'p8', '辛', '{"n": 2, "opt": 1}', '{}', 'online');
SELECT id, status, not_passed FROM miaopi.application WHERE service_code = 'st-filing' ORDER BY id;

-- Licences: all go to a person
INSERT INTO miaopi.application (service_code, applicant_id, payload, channel)
SELECT 'st-licence', 'q' || g, jsonb_build_object('n', g), 'online' FROM generate_series(1, 5) g;

-- The workflow: the manual filing approved the same day; licences accepted,
-- one refused, one withdrawn, one approved two working days later, one
-- rejected after a supplement, one left open past its promised due.
SET miaopi.clock_now = '2026-03-02 15:00+08';
SELECT miaopi.act(9005, 'approve', '已核实');
SELECT miaopi.act(9007, 'reject', '可选项缺失');
SELECT miaopi.act(9009, 'accept'), miaopi.act(9010, 'accept'), miaopi.act(9013, 'accept');
SELECT miaopi.act(9011, 'refuse', '不属于本机关'), miaopi.act(9012, 'withdraw');
SET miaopi.clock_now = '2026-03-03 10:00+08';
SELECT miaopi.act(9010, 'request_supplement', '请补交证明');
SET miaopi.clock_now = '2026-03-04 10:00+08';
SELECT miaopi.act(9010, 'supplement_received');
SELECT miaopi.act(9009, 'approve', '同意');
SELECT miaopi.act(9009, 'deliver');
SELECT miaopi.act(9010, 'reject', '不符合条件');
SET miaopi.clock_now = '2026-03-16 10:00+08';
SELECT miaopi.sweep() > 0 AS crossings_recorded;

\x on
SELECT service, name, department, kind, submitted, approved_by_machine, approved_by_people, rejected,
	   rejected_by_machine, rejected_by_people, refused, pending, withdrawn, machine_approval_rate,
	   same_day_rate, online_rate,
	   machine_decision_us_median BETWEEN 0 AND machine_decision_us_p95 AS machine_us_known,
	   human_working_days_median, human_working_days_p95, within_promised_rate, within_statutory_rate,
	   open_past_promised, open_past_statutory, average_steps, supplements_requested, licences_issued
FROM miaopi.stats_service WHERE service IN ('st-filing', 'st-licence') ORDER BY service;
\x off
SELECT * FROM miaopi.stats_daily WHERE service LIKE 'st-%' ORDER BY day, service;
SELECT service, version, ordinal, check_id, on_fail, evaluated, failed, errored, fail_rate, error_rate,
	   rejected_alone, rejected_with_others, manual_alone, manual_with_others
FROM miaopi.stats_checks WHERE service LIKE 'st-%' ORDER BY service, version, ordinal, check_id;
SELECT * FROM miaopi.stats_time_limits WHERE service LIKE 'st-%' ORDER BY service;
SELECT * FROM miaopi.stats_channels WHERE service LIKE 'st-%' ORDER BY service, channel;

-- Every figure against the applications themselves
SELECT s.submitted = (SELECT count(*) FROM miaopi.application WHERE service_code = 'st-filing') AS submitted_ok,
	   s.approved_by_machine + s.approved_by_people + s.rejected + s.refused + s.pending + s.withdrawn
		   = s.submitted AS outcomes_add_up,
	   (SELECT sum(submitted) FROM miaopi.stats_daily WHERE service = 'st-filing') = s.submitted AS daily_adds_up,
	   (SELECT sum(submitted) FROM miaopi.stats_channels WHERE service = 'st-filing') = s.submitted AS channels_add_up
FROM miaopi.stats_service s WHERE s.service = 'st-filing';

-- The percentiles (from histograms) against percentile_disc over the rows,
-- and the working days used against miaopi.clock
SELECT s.service,
	   s.machine_decision_us_median IS NOT DISTINCT FROM x.us[1] AND s.machine_decision_us_p95 IS NOT DISTINCT FROM x.us[2] AS us_ok,
	   s.human_working_days_median IS NOT DISTINCT FROM x.days[1] AND s.human_working_days_p95 IS NOT DISTINCT FROM x.days[2] AS days_ok,
	   t.used_working_days_median IS NOT DISTINCT FROM c.used[1] AND t.used_working_days_p95 IS NOT DISTINCT FROM c.used[2] AS used_ok
FROM miaopi.stats_service s
	JOIN miaopi.stats_time_limits t USING (service)
	CROSS JOIN LATERAL (
		SELECT percentile_disc('{0.5,0.95}'::float8[]) WITHIN GROUP (ORDER BY a.decision_us)
				   FILTER (WHERE a.decided_by = 'miaopi') AS us,
			   percentile_disc('{0.5,0.95}'::float8[]) WITHIN GROUP (ORDER BY miaopi.working_days_between(a.accepted_at, a.decided_at))
				   FILTER (WHERE a.decided_by <> 'miaopi' AND a.accepted_at IS NOT NULL) AS days
		FROM miaopi.application a WHERE a.service_code = s.service) x
	CROSS JOIN LATERAL (
		SELECT percentile_disc('{0.5,0.95}'::float8[]) WITHIN GROUP (ORDER BY k.used_working_days) AS used
		FROM miaopi.clock k JOIN miaopi.application a ON a.id = k.application
		WHERE k.service = s.service AND a.decided_at IS NOT NULL) c
WHERE s.service LIKE 'st-%' ORDER BY 1;

-- An analyst reads every view without any privilege on the applications
CREATE ROLE regress_miaopi_analyst;
GRANT USAGE ON SCHEMA miaopi TO regress_miaopi_analyst;
GRANT SELECT ON miaopi.stats_service, miaopi.stats_daily, miaopi.stats_checks,
	miaopi.stats_time_limits, miaopi.stats_channels TO regress_miaopi_analyst;
GRANT EXECUTE ON FUNCTION miaopi.replay(text, timestamptz, timestamptz),
	miaopi.ruleset_checks(bigint), miaopi.local_date(timestamptz, text) TO regress_miaopi_analyst;
SET ROLE regress_miaopi_analyst;
SELECT count(*) > 0 AS reads_service FROM miaopi.stats_service;
SELECT count(*) > 0 AS reads_daily FROM miaopi.stats_daily;
SELECT count(*) > 0 AS reads_checks FROM miaopi.stats_checks;
SELECT count(*) > 0 AS reads_time_limits FROM miaopi.stats_time_limits;
SELECT count(*) > 0 AS reads_channels FROM miaopi.stats_channels;
SELECT applicant_id FROM miaopi.application LIMIT 1;
RESET ROLE;
-- and no view column names a person or carries a payload
SELECT c.table_name, c.column_name
FROM information_schema.columns c
WHERE c.table_schema = 'miaopi' AND c.table_name LIKE 'stats\_%'
	AND (c.column_name ~ 'applicant|payload|_name|holder|materials|reasons|comment|actor|decided_by')
ORDER BY 1, 2;

-- replay: the threshold of "small" moves from 10 to 13, "opt" is dropped
SET ROLE regress_miaopi_analyst;
SELECT * FROM miaopi.replay($y$
service: st-filing
name: 统计备案
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  n: {type: int, required: true}
  opt: int
materials:
  form: {required: true}
checks:
  - {id: positive, rule: payload.n > 0, message: 须为正数, on_fail: reject}
  - {id: small, rule: payload.n < 13, message: 需人工核实, on_fail: manual}
  - {id: even, rule: payload.n % 2 == 0, message: 须为偶数, on_fail: reject}
$y$) ORDER BY application_id;
RESET ROLE;
-- the same rules change nothing
SELECT count(*) AS unchanged_source_changes FROM miaopi.replay(
	(SELECT source FROM miaopi.ruleset r JOIN miaopi.service s ON s.current_ruleset = r.id
	 WHERE s.code = 'st-filing'));
-- only applications submitted in [since, until)
SELECT count(*) FROM miaopi.replay($y$
service: st-licence
name: 统计许可
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: true
fields:
  n: {type: int, required: true}
checks:
  - {id: positive, rule: payload.n > 2, on_fail: reject}
$y$, '2026-03-02 00:00+08', '2026-03-03 00:00+08');
SELECT count(*) FROM miaopi.replay($y$
service: st-licence
name: 统计许可
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: true
fields:
  n: {type: int, required: true}
checks:
  - {id: positive, rule: payload.n > 2, on_fail: reject}
$y$, '2026-03-03 00:00+08');
-- nothing was stored
SELECT count(*) AS rulesets FROM miaopi.ruleset WHERE service_code LIKE 'st-%';

-- Bad input: a source that does not compile fails as load_rules does
\set VERBOSITY default
SELECT * FROM miaopi.load_rules($y$
service: st-filing
name: 统计备案
kind: filing
time_limit: {statutory: 20, promised: 1}
fields:
  n: {type: int, required: true}
checks:
  - {id: typo, rule: payload.m > 0, on_fail: reject}
$y$);
SELECT * FROM miaopi.replay($y$
service: st-filing
name: 统计备案
kind: filing
time_limit: {statutory: 20, promised: 1}
fields:
  n: {type: int, required: true}
checks:
  - {id: typo, rule: payload.m > 0, on_fail: reject}
$y$);
SELECT * FROM miaopi.replay('service: [unclosed');
-- an unknown service, several documents, NULL
SELECT * FROM miaopi.replay($y$
service: st-nobody
name: 不存在
kind: filing
time_limit: {statutory: 20, promised: 1}
fields: {}
checks: []
$y$);
SELECT * FROM miaopi.replay($y$
service: st-filing
name: 统计备案
kind: filing
time_limit: {statutory: 20, promised: 1}
fields: {}
checks: []
---
service: st-licence
name: 统计许可
kind: licence
time_limit: {statutory: 20, promised: 5}
fields: {}
checks: []
$y$);
SELECT * FROM miaopi.replay(NULL);
-- PUBLIC may not replay
CREATE ROLE regress_miaopi_nobody;
GRANT USAGE ON SCHEMA miaopi TO regress_miaopi_nobody;
SET ROLE regress_miaopi_nobody;
SELECT * FROM miaopi.replay('x');
SELECT * FROM miaopi.stats_service;
RESET ROLE;
DROP OWNED BY regress_miaopi_analyst, regress_miaopi_nobody;
DROP ROLE regress_miaopi_analyst, regress_miaopi_nobody;
