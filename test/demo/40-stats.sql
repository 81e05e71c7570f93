/*
 * test/demo/40-stats.sql: what analysts see (the miaopi.stats_* views) and a
 * what-if replay of a rules change, when this build has them.
 */
SELECT to_regclass('miaopi.stats_service') IS NOT NULL AS has_stats \gset
\echo
\echo '── 11. Statistics for analysts (miaopi.stats_*) ──'
\if :has_stats
SELECT * FROM miaopi.stats_service ORDER BY service;
\else
\echo '   The statistics views are not in this build yet: skipped.'
\endif
