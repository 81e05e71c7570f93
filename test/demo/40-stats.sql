/*
 * test/demo/40-stats.sql: what analysts see (the miaopi.stats_* views, as
 * miaopi.clock_now sees it after the workflow section) and a what-if replay
 * of a rules change, when this build has them.
 */
SELECT to_regclass('miaopi.stats_service') IS NOT NULL AS has_stats,
	   to_regprocedure('miaopi.replay(text,timestamptz,timestamptz)') IS NOT NULL AS has_replay \gset
\echo
\echo '── 11. Statistics for analysts: the miaopi.stats_* views (no personal data in any) ──'
\if :has_stats
\echo
\echo '   stats_service: how each service did (秒批率 machine approval, 即办率 same day, 网办率 online)'
SELECT service, submitted AS subm, approved_by_machine AS "machine ✓", approved_by_people AS "people ✓",
	   rejected AS "✗", refused, pending, withdrawn AS wdrawn,
	   machine_approval_rate AS "秒批率", same_day_rate AS "即办率", online_rate AS "网办率"
FROM miaopi.stats_service ORDER BY service;
SELECT service, machine_decision_us_median AS "machine µs p50", machine_decision_us_p95 AS "p95",
	   human_working_days_median AS "people days p50", human_working_days_p95 AS "p95",
	   within_promised_rate AS "within 承诺", within_statutory_rate AS "within 法定",
	   open_past_promised AS "open past 承诺", open_past_statutory AS "open past 法定",
	   average_steps AS steps, supplements_requested AS "补正", licences_issued AS licences
FROM miaopi.stats_service ORDER BY service;

\echo
\echo '   stats_time_limits: the promised limit against the statutory one, and the lights now (电子监察)'
SELECT service, statutory_days AS "法定", promised_days AS "承诺", promised_ratio AS ratio,
	   decided, used_working_days_median AS "used p50", used_working_days_p95 AS "used p95",
	   within_promised_rate AS "within 承诺", open, yellow, red, overdue,
	   accept_overruns + review_overruns + decide_overruns + deliver_overruns AS "step overruns"
FROM miaopi.stats_time_limits ORDER BY service;

\echo
\echo '   stats_checks: which rules hold people back (the five that failed most)'
SELECT service, version AS v, check_id, on_fail, evaluated, failed, errored, fail_rate,
	   rejected_alone AS "rejected alone", rejected_with_others AS "with others",
	   manual_alone AS "to people alone", manual_with_others AS "with others"
FROM miaopi.stats_checks
ORDER BY failed + errored DESC, service, ordinal LIMIT 5;

\echo
\echo '   stats_channels: where people apply'
SELECT channel, service, submitted, share_of_service AS share, machine_approval_rate AS "秒批率",
	   same_day_rate AS "即办率"
FROM miaopi.stats_channels ORDER BY service, submitted DESC;

\echo
\echo '   stats_daily: the last seven days, all services (for a chart)'
SELECT day, sum(submitted) AS submitted, sum(approved_by_machine) AS "machine ✓",
	   sum(approved_by_people) AS "people ✓", sum(rejected) AS "✗", sum(pending) AS "still open"
FROM miaopi.stats_daily
WHERE day > (SELECT max(day) FROM miaopi.stats_daily) - 7
GROUP BY day ORDER BY day;
\else
\echo '   The statistics views are not in this build yet: skipped.'
\endif

\echo
\echo '── 12. What if? replay() of a rules change before it goes live ──'
\if :has_replay
\echo '   The fund centre considers asking for 6 consecutive months of contributions instead of 3.'
\echo '   replay() decides every past application again under the candidate (nothing is stored):'
SELECT replace(r.source, 'consecutive_months >= 3', 'consecutive_months >= 6') AS candidate
FROM miaopi.ruleset r JOIN miaopi.service s ON s.current_ruleset = r.id
WHERE s.code = 'housing-fund-rent-withdrawal' \gset
SELECT old_decision AS "was", new_decision AS "would be", count(*) AS applications,
	   string_agg(DISTINCT c, ', ') AS "checks that change"
FROM miaopi.replay(:'candidate') r LEFT JOIN LATERAL unnest(r.changed) c ON true
GROUP BY 1, 2 ORDER BY 3 DESC;
SELECT count(*) AS "approved by the machine then, rejected under the candidate"
FROM miaopi.replay(:'candidate') WHERE old_decision = 'approve' AND new_decision = 'reject';
\else
\echo '   replay() is not in this build yet: skipped.'
\endif
