-- Lookups into the agency's own tables: resolution, typing, parameters,
SET datestyle = 'ISO, YMD';
SET timezone = 'Asia/Shanghai';
-- privileges at run time, and tables that change after the rules loaded.
SET miaopi.clock_now = '2026-12-01 10:00:00+08';
CREATE SCHEMA registry;
CREATE TABLE registry.company (uscc text PRIMARY KEY, name text, status text, capital numeric,
	founded date, staff int, updated timestamp);
INSERT INTO registry.company VALUES
	('91350900587527783P', '宁德时代', 'active', 2442514, '2011-12-16', 80000, '2026-01-01 00:00'),
	('91440300192317458F', '比亚迪', 'revoked', NULL, '1995-02-10', NULL, NULL),
	('x''; DROP TABLE registry.company; --', '注入', 'active', 1, '2020-01-01', 1, NULL);

SELECT service, checks FROM miaopi.load_rules($y$
service: lookup-lab
name: 查询
kind: public_service
time_limit: {statutory: 3, promised: 1}
auto_approve: true
checks:
  - {id: active, rule: "exists(registry.company, uscc == applicant.id and status == 'active')", on_fail: reject}
  - {id: big, rule: "lookup(registry.company, uscc == applicant.id).capital >= 1000000", on_fail: manual}
  - {id: old, rule: "lookup(registry.company, uscc == applicant.id).founded < date('2015-01-01')", on_fail: manual}
  - {id: staff, rule: "lookup(registry.company, uscc == applicant.id and staff > 10).staff > 100", on_fail: manual}
  - {id: range, rule: "exists(registry.company, founded >= date('2000-01-01') and founded <= today() and uscc != applicant.id)", on_fail: manual}
$y$, false);

SELECT r->>'check' AS check, r->>'result' AS result, r->>'detail' AS detail
FROM jsonb_array_elements(miaopi.evaluate('lookup-lab', '91350900587527783P', '{}')->'reasons') r;
-- no row: exists is false, lookup() is missing (an error, so a human decides)
SELECT r->>'check' AS check, r->>'result' AS result, r->>'detail' AS detail
FROM jsonb_array_elements(miaopi.evaluate('lookup-lab', '91440300192317458F', '{}')->'reasons') r;
-- values are parameters: a hostile applicant id is just a value
SELECT miaopi.evaluate('lookup-lab', 'x''; DROP TABLE registry.company; --', '{}')->>'decision' AS decision;
SELECT count(*) AS companies FROM registry.company;

-- a role that may not read the lookup table gets "error", so a human decides;
-- it needs no privilege on miaopi's own tables but INSERT on applications
CREATE ROLE regress_miaopi_app;
GRANT USAGE ON SCHEMA miaopi TO regress_miaopi_app;
GRANT INSERT, SELECT ON miaopi.application TO regress_miaopi_app;
GRANT EXECUTE ON FUNCTION miaopi.evaluate(text, text, jsonb, text[], text) TO regress_miaopi_app;
INSERT INTO miaopi.scope (role, action) VALUES ('regress_miaopi_app', 'submit');
SET ROLE regress_miaopi_app;
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('lookup-lab', '91350900587527783P', '{}')
RETURNING status, decision, reasons->0->>'result' AS active, reasons->0->>'detail' AS detail;
RESET ROLE;
-- column privileges on what the probe reads are enough
GRANT USAGE ON SCHEMA registry TO regress_miaopi_app;
GRANT SELECT (uscc, status, capital, founded, staff) ON registry.company TO regress_miaopi_app;
SET ROLE regress_miaopi_app;
SELECT miaopi.evaluate('lookup-lab', '91350900587527783P', '{}')->>'decision' AS with_column_grants;
RESET ROLE;
-- a privilege taken away counts from the next statement of the same session
REVOKE SELECT (status) ON registry.company FROM regress_miaopi_app;
SET ROLE regress_miaopi_app;
SELECT miaopi.evaluate('lookup-lab', '91350900587527783P', '{}')->'reasons'->0->>'detail' AS after_revoke;
RESET ROLE;
GRANT SELECT (status) ON registry.company TO regress_miaopi_app;

-- a table dropped after loading: the check errors, the INSERT still decides
ALTER TABLE registry.company RENAME TO company_old;
SELECT r->>'check' AS check, r->>'result' AS result, r->>'detail' AS detail
FROM jsonb_array_elements(miaopi.evaluate('lookup-lab', '91350900587527783P', '{}')->'reasons') r
LIMIT 2;
ALTER TABLE registry.company_old RENAME TO company;
SELECT miaopi.evaluate('lookup-lab', '91350900587527783P', '{}')->>'decision' AS back_again;

REVOKE ALL ON ALL TABLES IN SCHEMA miaopi, registry FROM regress_miaopi_app;
REVOKE ALL ON FUNCTION miaopi.evaluate(text, text, jsonb, text[], text) FROM regress_miaopi_app;
DELETE FROM miaopi.scope WHERE role = 'regress_miaopi_app';
REVOKE ALL ON SCHEMA miaopi, registry FROM regress_miaopi_app;
DROP ROLE regress_miaopi_app;

-- the same lookups as SQL queries decide exactly as direct index probes
SET miaopi.lookup_direct = off;
SELECT miaopi.load_rules(replace(source, 'service: lookup-lab', 'service: lookup-lab-sql'), false) IS NOT NULL AS loaded
FROM miaopi.ruleset WHERE service_code = 'lookup-lab';
SELECT id, miaopi.evaluate('lookup-lab', id, '{}')->'reasons' = miaopi.evaluate('lookup-lab-sql', id, '{}')->'reasons' AS same
FROM (VALUES ('91350900587527783P'), ('91440300192317458F'), ('x''; DROP TABLE registry.company; --'), ('none')) v(id);
-- an index whose leading column is not compared with == is not used; still correct
CREATE TABLE registry.permit (holder text, kind text, valid_until date, PRIMARY KEY (kind, holder));
INSERT INTO registry.permit VALUES ('91350900587527783P', 'road', '2027-01-01'), ('91350900587527783P', 'waste', '2025-01-01');
RESET miaopi.lookup_direct;
SELECT miaopi.load_rules($y$
service: permit-lab
name: 许可证
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
checks:
  - {id: road, rule: "exists(registry.permit, holder == applicant.id and kind == 'road' and valid_until >= today())", on_fail: manual}
  - {id: waste, rule: "exists(registry.permit, holder == applicant.id and kind == 'waste' and valid_until >= today())", on_fail: manual}
  - {id: any-valid, rule: "exists(registry.permit, holder == applicant.id and valid_until > today())", on_fail: manual}
  - {id: until, rule: "lookup(registry.permit, kind == 'road' and holder == applicant.id).valid_until == date('2027-01-01')", on_fail: manual}
$y$, false) IS NOT NULL AS loaded;
SELECT r->>'check' AS check, r->>'result' AS result
FROM jsonb_array_elements(miaopi.evaluate('permit-lab', '91350900587527783P', '{}')->'reasons') r;

-- Index-only probes: an index that returns every column a lookup reads
-- answers from its tuples on all-visible pages (no heap row fetched), and
-- from the heap for rows changed since the last VACUUM.
CREATE TABLE registry.insured (plate text, owner text, until date, note text);
INSERT INTO registry.insured SELECT 'P' || g, 'O' || (g % 10), date '2027-01-01' + g, 'n' FROM generate_series(1, 1000) g;
CREATE INDEX insured_covering ON registry.insured (plate) INCLUDE (owner, until);
VACUUM registry.insured;
SELECT miaopi.load_rules($y$
service: insured-lab
name: 保险
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  plate: {type: text, required: true}
checks:
  - {id: insured, rule: "exists(registry.insured, plate == payload.plate and owner == applicant.id and until >= today())", on_fail: manual}
  - {id: until, rule: "lookup(registry.insured, plate == payload.plate).until > date('2027-01-05')", on_fail: manual}
$y$, false) IS NOT NULL AS loaded;
BEGIN;
SELECT miaopi.evaluate('insured-lab', 'O7', '{"plate": "P7"}')->>'decision' AS p7,
	miaopi.evaluate('insured-lab', 'O3', '{"plate": "P7"}')->>'decision' AS p7_other_owner,
	miaopi.evaluate('insured-lab', 'O3', '{"plate": "P3"}')->>'decision' AS p3_until_too_soon;
SELECT pg_stat_get_xact_tuples_fetched('registry.insured'::regclass) AS heap_rows_fetched;
COMMIT;
-- rows changed after VACUUM: their pages are no longer all-visible
UPDATE registry.insured SET owner = 'O3' WHERE plate = 'P7';
DELETE FROM registry.insured WHERE plate = 'P8';
SELECT miaopi.evaluate('insured-lab', 'O7', '{"plate": "P7"}')->>'decision' AS p7_after_transfer,
	miaopi.evaluate('insured-lab', 'O3', '{"plate": "P7"}')->>'decision' AS p7_new_owner,
	miaopi.evaluate('insured-lab', 'O8', '{"plate": "P8"}')->>'decision' AS p8_deleted;
-- and an uncommitted change is seen by its own transaction only
BEGIN;
UPDATE registry.insured SET until = '2026-01-01' WHERE plate = 'P9';
SELECT miaopi.evaluate('insured-lab', 'O9', '{"plate": "P9"}')->'reasons'->0->>'result' AS p9_in_transaction;
ROLLBACK;
SELECT miaopi.evaluate('insured-lab', 'O9', '{"plate": "P9"}')->'reasons'->0->>'result' AS p9_after_rollback;

-- Conditions across types compare as PostgreSQL would: numeric with int
-- exactly (never rounded), int with decimal, char(n) without its padding;
-- both paths the same.
CREATE TABLE registry.typed (k int4 PRIMARY KEY, n numeric, f float8, c char(5), v varchar(10), d date);
INSERT INTO registry.typed VALUES (1, 1.5, 1.5, 'ab', 'ab', '2026-12-01'), (2, 2, 2, 'cd', 'cd', '2026-12-02');
CREATE INDEX typed_n ON registry.typed (n);
SELECT miaopi.load_rules($y$
service: typed-lab
name: 类型
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
checks:
  - {id: n-eq-int, rule: "exists(registry.typed, n == 2)", on_fail: manual}
  - {id: n-eq-int-rounded, rule: "not exists(registry.typed, n == 2 and k == 1)", on_fail: manual}
  - {id: k-eq-decimal, rule: "not exists(registry.typed, k == 1.5)", on_fail: manual}
  - {id: k-ge-decimal, rule: "lookup(registry.typed, k >= 1.5).n == 2", on_fail: manual}
  - {id: f-eq-decimal, rule: "exists(registry.typed, f == 1.5)", on_fail: manual}
  - {id: c-unpadded, rule: "exists(registry.typed, c == 'ab')", on_fail: manual}
  - {id: v-text, rule: "exists(registry.typed, v == 'cd' and k != 1)", on_fail: manual}
  - {id: d-date, rule: "exists(registry.typed, d >= today() and k == 2)", on_fail: manual}
$y$, false) IS NOT NULL AS loaded;
SELECT r->>'check' AS check, r->>'result' AS result
FROM jsonb_array_elements(miaopi.evaluate('typed-lab', 'x', '{}')->'reasons') r;
SELECT miaopi.evaluate('typed-lab', 'x', '{}')->'reasons' AS direct_reasons \gset
SET miaopi.lookup_direct = off;
SELECT miaopi.evaluate('typed-lab', 'x', '{}')->'reasons' = :'direct_reasons'::jsonb AS same_on_sql_path;
RESET miaopi.lookup_direct;
