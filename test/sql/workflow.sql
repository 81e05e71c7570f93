-- The manual workflow: act() through each kind's sequence, supplements,
-- four eyes, the event log, privileges and bad input.
SET datestyle = 'ISO, YMD';
SET timezone = 'Asia/Shanghai';
SET miaopi.clock_now = '2025-09-22 09:00+08';

SELECT service, version FROM miaopi.load_rules($y$
service: wf-licence
name: 测试许可
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: false
steps: {accept: 1, review: 2, decide: 3, deliver: 1}
fields: {}
checks: []
---
service: wf-public
name: 测试公共服务
kind: public_service
time_limit: {statutory: 10, promised: 3}
auto_approve: false
fields: {}
checks: []
---
service: wf-filing
name: 测试备案
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: false
fields: {}
checks: []
---
service: wf-direct
name: 无受理环节的许可
kind: licence
time_limit: {statutory: 20, promised: 10}
auto_approve: false
steps: {decide: 2, deliver: 1}
fields: {}
checks: []
$y$);
SELECT code, kind, steps, extension_days FROM miaopi.service WHERE code LIKE 'wf-%' ORDER BY code;

-- Two staff roles; they need nothing but EXECUTE on act (and the schema)
CREATE ROLE regress_miaopi_reviewer;
CREATE ROLE regress_miaopi_decider;
CREATE ROLE regress_miaopi_outsider;
GRANT USAGE ON SCHEMA miaopi TO regress_miaopi_reviewer, regress_miaopi_decider,
	regress_miaopi_outsider;
GRANT EXECUTE ON FUNCTION miaopi.act(bigint, text, text)
	TO regress_miaopi_reviewer, regress_miaopi_decider;
INSERT INTO miaopi.scope (role, action)
VALUES ('regress_miaopi_reviewer', 'act'), ('regress_miaopi_decider', 'act');

-- ids are printed in messages: make them independent of other tests
ALTER TABLE miaopi.application ALTER COLUMN id RESTART WITH 5001;

CREATE FUNCTION pg_temp.submit(service text) RETURNS bigint
LANGUAGE sql AS $$
	INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload)
	VALUES (service, '91350100M000100Y43', '某公司', '{}') RETURNING id
$$;
CREATE VIEW pg_temp.events AS
SELECT a.service_code AS service, e.at, e.action, e.actor, e.from_status, e.to_status, e.comment
FROM miaopi.event e JOIN miaopi.application a ON a.id = e.application_id;

-- ===== A licence: accept -> review -> approve -> deliver =====
SELECT pg_temp.submit('wf-licence') AS lic1 \gset
SELECT status, decision, decided_by, accepted_at, promised_due, clock_flags, paused_days
FROM miaopi.application WHERE id = :lic1;
SELECT step, step_due, light FROM miaopi.clock WHERE application = :lic1;

SET miaopi.clock_now = '2025-09-22 15:00+08';
SELECT miaopi.act(:lic1, 'accept');
SELECT status, accepted_at, promised_due, statutory_due, step_due
FROM miaopi.application WHERE id = :lic1;

SET miaopi.clock_now = '2025-09-23 11:00+08';
SET SESSION AUTHORIZATION regress_miaopi_reviewer;
SELECT miaopi.act(:lic1, 'review', '材料齐全，符合条件');
-- four eyes: the reviewer may not decide
SELECT miaopi.act(:lic1, 'approve');
RESET SESSION AUTHORIZATION;
SELECT status, step_due FROM miaopi.application WHERE id = :lic1;

SET miaopi.clock_now = '2025-09-24 16:00+08';
SET SESSION AUTHORIZATION regress_miaopi_decider;
SELECT miaopi.act(:lic1, 'approve');
RESET SESSION AUTHORIZATION;
SELECT status, decision, decided_by, decided_at, closed_at, step_due
FROM miaopi.application WHERE id = :lic1;

SET miaopi.clock_now = '2025-09-25 09:00+08';
SELECT miaopi.act(:lic1, 'deliver');
SELECT status, decision, closed_at, step_due
FROM miaopi.application WHERE id = :lic1;
-- closed: nothing more
SELECT miaopi.act(:lic1, 'deliver');
SELECT miaopi.act(:lic1, 'withdraw');
SELECT service, at, action, actor, from_status, to_status, comment FROM pg_temp.events
WHERE service = 'wf-licence' ORDER BY at;
SELECT e.detail FROM miaopi.event e WHERE e.application_id = :lic1 ORDER BY e.id;

-- ===== A public service: accept -> approve|reject -> deliver (no review) =====
SELECT pg_temp.submit('wf-public') AS pub1 \gset
SELECT miaopi.act(:pub1, 'review');
SELECT miaopi.act(:pub1, 'accept');
SELECT miaopi.act(:pub1, 'review');
SELECT miaopi.act(:pub1, 'reject');
SELECT miaopi.act(:pub1, 'reject', '   ');
SELECT miaopi.act(:pub1, 'reject', '不符合申请条件');
SELECT miaopi.act(:pub1, 'deliver');
SELECT status, decision, decided_by, closed_at IS NOT NULL AS closed
FROM miaopi.application WHERE id = :pub1;

-- ===== A filing: decide -> deliver, accepted at submission =====
SET miaopi.clock_now = '2025-09-26 10:00+08';
SELECT pg_temp.submit('wf-filing') AS fil1 \gset
SELECT status, step, accepted_at, promised_due, statutory_due
FROM miaopi.clock WHERE application = :fil1;
SELECT miaopi.act(:fil1, 'accept');
SET miaopi.clock_now = '2025-09-28 10:00+08';
SELECT miaopi.act(:fil1, 'approve');
SELECT status, accepted_at, promised_due, statutory_due, decided_at
FROM miaopi.application WHERE id = :fil1;

-- ===== A licence without accept and review steps =====
SELECT pg_temp.submit('wf-direct') AS dir1 \gset
SELECT miaopi.act(:dir1, 'review');
SELECT miaopi.act(:dir1, 'approve');
SELECT status, accepted_at, decided_at FROM miaopi.application WHERE id = :dir1;

-- ===== Supplements (补正): once before acceptance, once after =====
SET miaopi.clock_now = '2025-09-26 10:00+08';
SELECT pg_temp.submit('wf-licence') AS lic2 \gset
SELECT miaopi.act(:lic2, 'request_supplement');
SELECT miaopi.act(:lic2, 'request_supplement', '缺少营业执照副本、法定代表人身份证明');
SELECT status, accepted_at, promised_due, step_due FROM miaopi.application
WHERE id = :lic2;
SELECT step, paused, light FROM miaopi.clock WHERE application = :lic2;
SELECT miaopi.act(:lic2, 'accept');
SELECT miaopi.act(:lic2, 'request_supplement', '再补一项');
-- the supplement arrives on Tuesday 09-30: accepted then, the clock starts on 10-09
SET miaopi.clock_now = '2025-09-30 15:00+08';
SELECT miaopi.act(:lic2, 'supplement_received');
SELECT status, accepted_at, promised_due, statutory_due FROM miaopi.application
WHERE id = :lic2;
-- after acceptance: the clock pauses until the supplement arrives
SET miaopi.clock_now = '2025-10-09 09:00+08';
SELECT miaopi.act(:lic2, 'request_supplement', '补充检测报告');
SELECT status, paused_at, promised_due FROM miaopi.application WHERE id = :lic2;
SELECT miaopi.act(:lic2, 'review');
SET miaopi.clock_now = '2025-10-13 09:00+08';
SELECT miaopi.act(:lic2, 'supplement_received');
SELECT status, paused_at, paused_days, promised_due, statutory_due
FROM miaopi.application WHERE id = :lic2;
-- a second request after acceptance is refused (art. 32: one notice)
SELECT miaopi.act(:lic2, 'request_supplement', '又缺一项');
SELECT status, clock_flags FROM miaopi.application WHERE id = :lic2;
-- from reviewed, the supplement comes back to reviewed
SET ROLE regress_miaopi_reviewer;
SELECT miaopi.act(:lic2, 'review');
RESET ROLE;
SELECT pg_temp.submit('wf-licence') AS lic3 \gset
SELECT miaopi.act(:lic3, 'accept');
SELECT miaopi.act(:lic3, 'review');
SELECT miaopi.act(:lic3, 'request_supplement', '补充现场照片');
SELECT step FROM miaopi.clock WHERE application = :lic3;
SELECT miaopi.act(:lic3, 'supplement_received');
-- postgres reviewed it: four eyes again
SELECT miaopi.act(:lic3, 'reject', '不符合条件');
SELECT miaopi.act(:lic3, 'withdraw');
SELECT status, closed_at IS NOT NULL AS closed FROM miaopi.application
WHERE id = :lic3;

-- ===== Refusal (不予受理) needs reasons =====
SELECT pg_temp.submit('wf-public') AS pub2 \gset
SELECT miaopi.act(:pub2, 'refuse');
SELECT miaopi.act(:pub2, 'refuse', '不属于本机关职权范围');
SELECT status, decision, closed_at IS NOT NULL AS closed FROM miaopi.application
WHERE id = :pub2;
SELECT miaopi.act(:pub2, 'accept');

-- ===== Bad input =====
SELECT miaopi.act(:pub1, 'approve!');
SELECT miaopi.act(999999, 'accept');
SELECT miaopi.act(NULL, 'accept');
SELECT miaopi.act(:pub1, NULL);
-- status columns still cannot be updated directly
UPDATE miaopi.application SET status = 'rejected' WHERE id = :dir1;
-- a client cannot forge workflow columns on INSERT
INSERT INTO miaopi.application (service_code, applicant_id, payload, clock_flags, paused_days,
	paused_at, step_due)
VALUES ('wf-public', 'x', '{}', 255, 9, '2025-01-01', '2030-01-01')
RETURNING status, clock_flags, paused_days, paused_at, step_due;
-- the event log is append-only
UPDATE miaopi.event SET comment = 'edited';
DELETE FROM miaopi.event;
TRUNCATE miaopi.event;
-- a role without EXECUTE cannot act
SET ROLE regress_miaopi_outsider;
SELECT miaopi.act(:pub1, 'accept');
RESET ROLE;

-- every action left exactly one event (plus automatic ones)
SELECT action, count(*) FROM pg_temp.events WHERE service LIKE 'wf-%' GROUP BY 1 ORDER BY 1;

DELETE FROM miaopi.scope WHERE role IN ('regress_miaopi_reviewer', 'regress_miaopi_decider');
DROP OWNED BY regress_miaopi_reviewer, regress_miaopi_decider, regress_miaopi_outsider;
DROP ROLE regress_miaopi_reviewer, regress_miaopi_decider, regress_miaopi_outsider;
RESET miaopi.clock_now;
-- applications and events are never deleted: other tests look at their own services
