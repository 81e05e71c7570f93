/*
 * test/demo/60-policies.sql: less to submit and 政策通, a section of
 * `make demo` (test/demo/run-demo.sh).  Needs the reference data and the
 * rules of 10-setup: the two policies in rules/ and the housing-fund
 * withdrawal with its fetched field, credit waiver and commitment.
 *
 * A push reaching the ~2,000 insured employers, one company's match(), an
 * apply_all(), and a commitment that fails verification.
 */
SET client_min_messages = warning;
SET timezone = 'Asia/Shanghai';
SET miaopi.clock_now = '2026-12-01 10:00:00+08';

SELECT to_regprocedure('miaopi.push(text)') IS NULL AS skip_policies \gset
\if :skip_policies
\echo '── Policies: this build has no miaopi.push(); skipped ──'
\else

\echo
\echo '── Less to submit: policies pushed to the enterprises that qualify (政策通) ──'
\echo
\echo 'The agencies wrote two policies (rules/tech-sme-rd-subsidy.yaml, rules/employment-absorption-subsidy.yaml):'
SELECT s.code AS policy, s.name, s.department,
	   r.source ~ 'apply: auto' AS "免申即享 (auto)",
	   (SELECT count(*) FROM miaopi.service WHERE kind = 'policy') AS policies
FROM miaopi.service s JOIN miaopi.ruleset r ON r.id = s.current_ruleset
WHERE s.kind = 'policy' ORDER BY s.code;

\echo
\echo 'push() evaluates each policy over its whole audience, in batches of 1,000,'
\echo 'with every figure fetched from the agencies'' registers (from:), never typed in:'
SELECT miaopi.push('employment-absorption-subsidy') AS "吸纳就业补贴 matches",
	   miaopi.push('tech-sme-rd-subsidy') AS "研发费用补助 matches";
SELECT m.service_code AS policy,
	   count(*) AS companies_reached,
	   count(*) FILTER (WHERE m.eligible) AS eligible,
	   count(m.application_id) AS granted_without_applying,
	   to_char(sum(m.benefit) FILTER (WHERE m.eligible), 'FM999,999,999') AS "eligible benefit (元)"
FROM miaopi.policy_match m GROUP BY m.service_code ORDER BY 1;
\echo 'What stands in the way of the others (one row per reason):'
SELECT m.service_code AS policy, f AS not_passed, count(*) AS companies
FROM miaopi.policy_match m, unnest(m.failed) AS f
GROUP BY 1, 2 ORDER BY 1, 3 DESC;
\echo 'The push is on record (one event), and sent on NOTIFY miaopi_policy per batch:'
SELECT e.detail->>'service' AS policy, e.detail->>'audience' AS audience, e.detail->>'matched' AS matched,
	   e.detail->>'eligible' AS eligible, e.detail->>'filed' AS filed
FROM miaopi.event e WHERE e.action = 'policy_push' ORDER BY e.id;
\echo 'Pushed again, the same version matches nobody new:'
SELECT miaopi.push('employment-absorption-subsidy') AS "second push";

\echo
\echo 'One company (福州 渣土运输, n = 5) asks what it may have: match()'
SELECT fixture.make_uscc(5) AS company \gset
SELECT service, name, eligible, benefit AS "benefit (元)", failed
FROM miaopi.match(:'company');
\echo 'Its R&D subsidy was granted by push() already (channel auto); apply_all() files the rest in one go:'
SELECT a.service_code AS policy, a.channel, a.status, a.payload->>'rd_expense' AS "rd_expense fetched"
FROM miaopi.application a WHERE a.applicant_id = :'company' AND a.service_code = 'tech-sme-rd-subsidy';
SELECT * FROM miaopi.apply_all(:'company');
SELECT * FROM miaopi.apply_all(:'company') AS "apply_all again: nothing left";

\echo
\echo '── A commitment (告知承诺) that fails verification ──'
\echo '赵俊彬 commits to his rental contract instead of uploading it, and has credit grade A,'
\echo 'so the rent receipt is waived (信用+秒批); the deposit months are fetched from his account:'
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials, commitments)
VALUES ('housing-fund-rent-withdrawal', '350103197812111133', '赵俊彬',
		'{"account_no": "350123764919", "contract_no": "FZZL3764919", "monthly_rent": 2650.00, "months": 6,
		  "amount": 15900.00, "bank_card": "6222021001123456789", "deposit_months": 99}',
		'{id_card}', '{rental_contract}')
RETURNING id AS commit_app \gset
SELECT a.id AS application, a.status, a.payload->>'deposit_months' AS "deposit_months (fetched, not 99)",
	   a.materials, a.commitments, a.verify_days AS "verify within (working days)"
FROM miaopi.application a WHERE a.id = :commit_app;
SELECT application, status, verify_due::date AS verify_due, verify_light FROM miaopi.clock WHERE application = :commit_app;
SET miaopi.clock_now = '2026-12-30 10:00:00+08';
\echo 'A month later nobody has checked: the verification is overdue, and sweep() says so once:'
SELECT verify_light FROM miaopi.clock WHERE application = :commit_app;
SELECT miaopi.sweep() >= 1 AS sweep_found_it;
\echo 'The check against the registered contract fails: the approval is withdrawn:'
SELECT miaopi.act(:commit_app, 'verify_failed', '经核查，承诺提交的租赁合同与备案合同不一致') AS new_status;
SELECT e.action, e.from_status, e.to_status, e.comment, e.actor
FROM miaopi.event e WHERE e.application_id = :commit_app ORDER BY e.id;
\endif
