-- Policies (政策通): load-time validation, match(), push(), confirm(),
-- apply_all(), the open window and a new version pushed again.
-- in a database of its own, so that ids and counts do not depend on other tests
SET client_min_messages = warning;
DROP DATABASE IF EXISTS miaopi_policy;
RESET client_min_messages;
CREATE DATABASE miaopi_policy;
\c miaopi_policy
CREATE EXTENSION miaopi;
SET miaopi.clock_now = '2026-12-01 10:00:00+08';
SET timezone = 'Asia/Shanghai';
CREATE SCHEMA ent;
CREATE TABLE ent.company (uscc text PRIMARY KEY, employees int, rd numeric, tech boolean, status text);
INSERT INTO ent.company
SELECT 'C' || lpad(g::text, 4, '0'), g % 300, g * 1000, g % 3 = 0,
	   CASE WHEN g % 50 = 0 THEN 'revoked' ELSE 'active' END
FROM generate_series(1, 3000) g;
-- a tech company whose R&D expense is unknown: its benefit cannot be computed
INSERT INTO ent.company VALUES ('C9999', 50, NULL, true, 'active');
CREATE TABLE ent.numbered (id int PRIMARY KEY);
CREATE TABLE ent.secret (uscc text PRIMARY KEY);
SET client_min_messages = warning;
DROP ROLE IF EXISTS policy_loader;
RESET client_min_messages;
CREATE ROLE policy_loader;
GRANT USAGE ON SCHEMA ent, miaopi TO policy_loader;
GRANT EXECUTE ON FUNCTION miaopi.load_rules(text, boolean) TO policy_loader;
GRANT SELECT ON ent.company TO policy_loader;

-- ====================================================================
-- Load-time errors (each stores nothing)
-- ====================================================================
\set head 'service: bad-policy\nname: x\nkind: policy\ntime_limit: {statutory: 20, promised: 5}\napply: auto\n'
-- benefit is not a decimal expression
SELECT * FROM miaopi.load_rules(E:'head' || $$
benefit: "payload.tech"
open: {from: 2026-01-01}
audience: {table: ent.company, key: uscc}
fields:
  tech: {type: bool, from: "lookup(ent.company, uscc == applicant.id).tech"}
$$);
-- open.until before open.from
SELECT * FROM miaopi.load_rules(E:'head' || $$
benefit: "1000"
open: {from: 2026-06-01, until: 2026-05-31}
audience: {table: ent.company, key: uscc}
$$);
-- an audience table that does not exist
SELECT * FROM miaopi.load_rules(E:'head' || $$
benefit: "1000"
open: {from: 2026-01-01}
audience: {table: ent.nothing, key: uscc}
$$);
-- an audience key that does not exist
SELECT * FROM miaopi.load_rules(E:'head' || $$
benefit: "1000"
open: {from: 2026-01-01}
audience: {table: ent.company, key: usci}
$$);
-- an audience key that is not text
SELECT * FROM miaopi.load_rules(E:'head' || $$
benefit: "1000"
open: {from: 2026-01-01}
audience: {table: ent.numbered, key: id}
$$);
-- an audience the loader may not read
SET ROLE policy_loader;
SELECT * FROM miaopi.load_rules(E:'head' || $$
benefit: "1000"
open: {from: 2026-01-01}
audience: {table: ent.secret, key: uscc}
$$);
RESET ROLE;
-- policy keys on a service that is not a policy
SELECT * FROM miaopi.load_rules($$
service: bad-policy
name: x
kind: filing
time_limit: {statutory: 20, promised: 5}
apply: auto
$$);
SELECT count(*) AS stored FROM miaopi.service WHERE code = 'bad-policy';

-- ====================================================================
-- Two policies and a filing
-- ====================================================================
SELECT * FROM miaopi.load_rules($$
service: rd-grant
name: 研发补助
kind: policy
time_limit: {statutory: 20, promised: 5}
auto_approve: true
apply: auto
open: {from: 2026-01-01, until: 2026-12-31}
audience: {table: ent.company, key: uscc}
benefit: "min([payload.rd * 0.1, 50000.0])"
fields:
  rd: {type: decimal, from: "lookup(ent.company, uscc == applicant.id).rd"}
  tech: {type: bool, from: "lookup(ent.company, uscc == applicant.id).tech"}
checks:
  - id: tech
    rule: payload.tech
    message: 非科技型企业
    on_fail: reject
  - id: active
    rule: exists(ent.company, uscc == applicant.id and status == 'active')
    on_fail: reject
---
service: hire-grant
name: 吸纳就业补贴
kind: policy
time_limit: {statutory: 20, promised: 10}
auto_approve: true
apply: confirm
open: {from: 2026-01-01}
audience: {table: ent.company, key: uscc}
benefit: "payload.employees * 1500"
fields:
  employees: {type: int, from: "lookup(ent.company, uscc == applicant.id).employees"}
checks:
  - id: hires
    rule: payload.employees >= 100
    message: 吸纳人数不足
    on_fail: reject
---
service: old-grant
name: 已截止的补贴
kind: policy
time_limit: {statutory: 20, promised: 10}
auto_approve: true
apply: form
open: {from: 2025-01-01, until: 2025-12-31}
audience: {table: ent.company, key: uscc}
benefit: "100"
---
service: plain-filing
name: 普通备案
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
$$);
SELECT code, kind FROM miaopi.service ORDER BY code;

-- ====================================================================
-- match(): every open policy for one applicant
-- ====================================================================
SELECT service, name, eligible, benefit, failed FROM miaopi.match('C0150');
SELECT service, eligible, benefit, failed FROM miaopi.match('C0151');
SELECT service, eligible, failed, reasons FROM miaopi.match('nobody');
SELECT count(*) AS nothing_recorded FROM miaopi.policy_match;

-- ====================================================================
-- push()
-- ====================================================================
SELECT miaopi.push('rd-grant') AS matched;
SELECT count(*) AS matches, count(*) FILTER (WHERE eligible) AS eligible,
	   count(application_id) AS filed, count(notified_at) AS notified
FROM miaopi.policy_match WHERE service_code = 'rd-grant';
SELECT status, channel, count(*) FROM miaopi.application GROUP BY status, channel ORDER BY status;
SELECT applicant_id, eligible, benefit, failed FROM miaopi.policy_match
WHERE service_code = 'rd-grant' AND applicant_id IN ('C0150', 'C0151', 'C0600', 'C2999', 'C9999') ORDER BY applicant_id;
-- nothing is granted where the benefit could not be computed
SELECT count(*) AS filed_for_unknown FROM miaopi.application WHERE applicant_id = 'C9999';
-- the machine never grants on an error: what the application decided on
SELECT a.status, a.payload, a.decided_by FROM miaopi.application a
JOIN miaopi.policy_match m ON m.application_id = a.id WHERE m.applicant_id = 'C0153';
-- idempotent: the same version pushed again records nothing new
SELECT miaopi.push('rd-grant') AS matched_again;
SELECT count(*) AS applications FROM miaopi.application;
SELECT miaopi.push('hire-grant') AS matched;
SELECT count(*) FILTER (WHERE eligible) AS eligible, count(application_id) AS filed
FROM miaopi.policy_match WHERE service_code = 'hire-grant';
SELECT action, detail FROM miaopi.event WHERE action = 'policy_push' ORDER BY id;

-- outside its window a policy matches nobody
SELECT miaopi.push('old-grant') AS matched_outside_window;

-- a new version pushed again matches only what changed: the threshold
-- moves from 100 to 200 employees, so 100..199 lose it; nobody else changes
SELECT * FROM miaopi.load_rules(replace(
	(SELECT source FROM miaopi.ruleset WHERE service_code = 'hire-grant'),
	'payload.employees >= 100', 'payload.employees >= 200'));
SELECT miaopi.push('hire-grant') AS changed;
SELECT r.version, m.eligible, count(*)
FROM miaopi.policy_match m JOIN miaopi.ruleset r ON r.id = m.ruleset_id
WHERE m.service_code = 'hire-grant' GROUP BY r.version, m.eligible ORDER BY 1, 2;

-- errors of push(), each changing nothing
SELECT miaopi.push('no-such-service');
SELECT miaopi.push('plain-filing');
SELECT miaopi.push(NULL) IS NULL AS null_is_null;
SELECT count(*) AS matches FROM miaopi.policy_match;

-- ====================================================================
-- confirm()
-- ====================================================================
SELECT id AS m250 FROM miaopi.policy_match
WHERE service_code = 'hire-grant' AND applicant_id = 'C0250' ORDER BY id DESC LIMIT 1 \gset
SELECT id AS m120 FROM miaopi.policy_match
WHERE service_code = 'hire-grant' AND applicant_id = 'C0120' ORDER BY id DESC LIMIT 1 \gset
SELECT id AS auto150 FROM miaopi.policy_match
WHERE service_code = 'rd-grant' AND applicant_id = 'C0150' \gset
SELECT miaopi.confirm(:m250) AS app250 \gset
SELECT a.service_code, a.applicant_id, a.status, a.channel, a.payload
FROM miaopi.application a WHERE a.id = :app250;
SELECT confirmed_at IS NOT NULL AS confirmed, application_id = :app250 AS linked
FROM miaopi.policy_match WHERE id = :m250;
-- errors, each changing nothing
SELECT miaopi.confirm(:m250);
SELECT miaopi.confirm(:auto150);
SELECT miaopi.confirm(:m120);
SELECT miaopi.confirm(987654321);
SELECT count(*) AS applications FROM miaopi.application;

-- ====================================================================
-- apply_all()
-- ====================================================================
-- C0201: eligible for hire-grant (confirm); rd-grant was filed by push
SELECT * FROM miaopi.apply_all('C0201');
SELECT * FROM miaopi.apply_all('C0201');
-- C0010: neither (not tech, 10 employees): nothing eligible is zero rows
SELECT service, eligible FROM miaopi.match('C0010');
SELECT * FROM miaopi.apply_all('C0010');
SELECT * FROM miaopi.apply_all('nobody');
SELECT action, to_status, detail->>'service' AS service FROM miaopi.event
WHERE action = 'policy_confirm' ORDER BY id;

-- after the window an application is refused with a reason, not an error
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('old-grant', 'C0300', '{}') RETURNING status, reasons;
SET miaopi.clock_now = '2027-01-05 10:00:00+08';
SELECT service FROM miaopi.match('C0201');
SELECT * FROM miaopi.apply_all('C0201');
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('rd-grant', 'C0003', '{}') RETURNING status, reasons->0 AS first_reason;
SELECT miaopi.push('rd-grant') AS matched_after_window;

RESET ROLE;
DROP OWNED BY policy_loader;
DROP ROLE policy_loader;

-- every step above is on the audit ledger's chains, unbroken
SELECT * FROM miaopi.verify_events();

\c contrib_regression
DROP DATABASE miaopi_policy;
