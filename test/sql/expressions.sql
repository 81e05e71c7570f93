-- The expression language: every operator and function, each check meant to
SET datestyle = 'ISO, YMD';
SET timezone = 'Asia/Shanghai';
-- pass, so one failing line names itself.  Evaluated with a pinned clock.
SET miaopi.clock_now = '2026-02-13 23:30:00+08';	-- a Friday night in Shanghai
CREATE SCHEMA lab;
CREATE TABLE lab.person (id text PRIMARY KEY, name varchar(20), level int, score numeric,
	since date, seen timestamptz, active boolean);
CREATE TABLE public.holidays (day date PRIMARY KEY);
INSERT INTO public.holidays VALUES ('2026-02-17');
INSERT INTO lab.person VALUES
	('11010519491231002X', '张三', 3, 97.5, '2020-05-01', '2026-01-01 08:00+08', true),
	('440524188001010014', '李四', 1, NULL, '1999-12-31', NULL, false);

SELECT service, checks FROM miaopi.load_rules($y$
service: expr-lab
name: 表达式
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  i: {type: int, required: true}
  d: decimal
  t: text
  b: bool
  day: date
  at: timestamp
  tags: "[text]"
  nums: "[int]"
  amounts: "[decimal]"
  days: "[date]"
  missing_text: text
materials:
  form: {required: true}
  photo: false
checks:
  - {id: int-arith, rule: "payload.i + 2 * 3 == 13 and payload.i - 10 == -3 and payload.i / 2 == 3 and payload.i % 4 == 3", on_fail: reject}
  - {id: precedence, rule: "-payload.i * 2 + 1 == -13 and (1 + 2) * 3 == 9 and not 1 > 2", on_fail: reject}
  - {id: decimal-arith, rule: "payload.d * 2 == 21.0 and payload.d + payload.i == 17.5 and payload.d / 4 == 2.625 and 0.1 + 0.2 == 0.3", on_fail: reject}
  - {id: compare-mixed, rule: "payload.i < payload.d and payload.d >= 10.5 and payload.i != 8 and 7 == 7.0", on_fail: reject}
  - {id: text-ops, rule: "payload.t + '!' == '  Ab 中文!' and len(payload.t) == 7 and lower(trim(payload.t)) == 'ab 中文' and upper('ab') == 'AB'", on_fail: reject}
  - {id: text-order, rule: "'abc' < 'abd' and 'b' > 'abc' and 'a' in ['x', 'a']", on_fail: reject}
  - {id: trim-ideographic, rule: "trim('　证照　') == '证照'", on_fail: reject}
  - {id: matches, rule: "matches(applicant.id, '^[0-9]{17}[0-9X]$') and not matches('abc', '^b') and matches(payload.t, '中文$')", on_fail: reject}
  - {id: bools, rule: "payload.b and (payload.b or false) and not (payload.b and false) and payload.b == true", on_fail: reject}
  - {id: dates, rule: "payload.day + 1 == date('2026-03-01') and payload.day - 28 == date('2026-01-31') and date('2026-03-01') - payload.day == 1", on_fail: reject}
  - {id: days-between, rule: "days_between(payload.day, date('2026-12-31')) == 306 and add_days(payload.day, 365) == date('2027-02-28')", on_fail: reject}
  - {id: today-now, rule: "today() == date('2026-02-13') and date(now()) == today() and now() > payload.at and date(payload.at) == date('2026-02-01')", on_fail: reject}
  - {id: working-days, rule: "working_days_between(date('2026-02-13'), date('2026-03-19')) == 20 and working_days_between(payload.at, now()) == 10 and working_days_between(today(), today()) == 0", on_fail: reject}
  - {id: ages, rule: "age_years(date('2008-02-14')) == 17 and age_years(date('2008-02-13')) == 18 and age_years(date('2000-02-29'), date('2001-02-28')) == 0", on_fail: reject}
  - {id: codes, rule: "idcard_valid(applicant.id) and idcard_birth_date(applicant.id) == date('1949-12-31') and not uscc_valid(applicant.id) and uscc_valid('91350900587527783P')", on_fail: reject}
  - {id: lists, rule: "len(payload.tags) == 3 and payload.tags[0] == 'a' and not has(payload.tags[5]) and 'b' in payload.tags and 4 in payload.nums", on_fail: reject}
  - {id: list-literals, rule: "len([1, 2, 3]) == 3 and [1, 2][1] == 2 and 2.5 in [1, 2.5] and len([]) == 0", on_fail: reject}
  - {id: quantifiers, rule: "all(payload.nums, n, n > 0) and any(payload.nums, n, n == 4) and none(payload.nums, n, n > 100) and all([], x, false)", on_fail: reject}
  - {id: aggregates, rule: "count(payload.nums) == 3 and count(payload.nums, n, n > 1) == 2 and sum(payload.nums) == 7 and sum(payload.amounts) == 3.75 and sum(payload.nums, n, n * 10) == 70", on_fail: reject}
  - {id: min-max, rule: "min(payload.nums) == 1 and max(payload.nums) == 4 and max(payload.days) == date('2026-05-01') and min(payload.tags) == 'a' and max(payload.nums, n, 10 - n) == 9 and not has(max([], x, 1))", on_fail: reject}
  - {id: nested-binders, rule: "all(payload.nums, n, any(payload.nums, m, m > n) or n == 4)", on_fail: reject}
  - {id: materials, rule: "material('form') and not material('photo') and 'form' in materials and len(materials) == 1", on_fail: reject}
  - {id: roots, rule: "applicant.name == '张三' and application.channel == 'online' and application.submitted_at == now()", on_fail: reject}
  - {id: has, rule: "has(payload.d) and not has(payload.missing_text) and has(applicant.name)", on_fail: reject}
  - {id: short-circuit, rule: "not has(payload.missing_text) or len(payload.missing_text) > 100", on_fail: reject}
  - {id: exists, rule: "exists(lab.person, id == applicant.id and level >= 3 and active == true) and not exists(lab.person, id == 'nobody')", on_fail: reject}
  - {id: lookup, rule: "lookup(lab.person, id == applicant.id).name == '张三' and lookup(lab.person, id == applicant.id).score > 90 and lookup(lab.person, id == applicant.id).since < today()", on_fail: reject}
  - {id: lookup-missing, rule: "not has(lookup(lab.person, id == 'nobody').name) and not has(lookup(lab.person, id == '440524188001010014').score)", on_fail: reject}
  - {id: lookup-in-binder, rule: "all(['11010519491231002X', '440524188001010014'], p, exists(lab.person, id == p))", on_fail: reject}
  - {id: unqualified-public, rule: "exists(holidays, day == date('2026-02-17'))", on_fail: reject}
$y$, false);

CREATE TEMP TABLE input AS SELECT '{"i": 7, "d": 10.5, "t": "  Ab 中文", "b": true,
	"day": "2026-02-28", "at": "2026-02-01T12:00:00+08:00", "tags": ["a", "b", "c"],
	"nums": [1, 2, 4], "amounts": [1.25, 2.5], "days": ["2026-01-01", "2026-05-01"]}'::jsonb AS payload;

-- every check passes: list any that does not, with why
SELECT r->>'check' AS check, r->>'result' AS result, r->>'detail' AS detail
FROM input, jsonb_array_elements(miaopi.evaluate('expr-lab', '11010519491231002X', payload,
	'{form}', '张三')->'reasons') r
WHERE r->>'result' <> 'pass';
SELECT miaopi.evaluate('expr-lab', '11010519491231002X', payload, '{form}', '张三')->>'decision' AS decision
FROM input;

-- failures say why: the values a comparison saw, the item a quantifier rejected
SELECT miaopi.load_rules($y$
service: expr-fail
name: 失败说明
kind: filing
time_limit: {statutory: 20, promised: 1}
fields:
  n: int
  xs: "[int]"
  s: text
checks:
  - {id: compare, rule: payload.n > 10, on_fail: reject}
  - {id: compare-expr, rule: payload.n * 2 == len(payload.s), on_fail: reject}
  - {id: conjunct, rule: payload.n > 0 and payload.n < 3, on_fail: manual}
  - {id: all-items, rule: "all(payload.xs, x, x < 5)", on_fail: manual}
  - {id: in-list, rule: "payload.s in ['a', 'b']", on_fail: manual}
  - {id: division, rule: 10 / (payload.n - 5) > 1, on_fail: reject}
  - {id: overflow, rule: payload.n * 9223372036854775807 > 0, on_fail: reject}
  - {id: bad-date, rule: "date(payload.s) > date('2020-01-01')", on_fail: reject}
  - {id: missing, rule: "len(payload.s) > 0", on_fail: reject}
$y$, false) IS NOT NULL AS loaded;
SELECT r->>'check' AS check, r->>'result' AS result, r->>'detail' AS detail
FROM jsonb_array_elements(miaopi.evaluate('expr-fail', 'x', '{"n": 5, "xs": [1, 7, 9], "s": "zzz"}')->'reasons') r;
SELECT r->>'check' AS check, r->>'result' AS result, r->>'detail' AS detail
FROM jsonb_array_elements(miaopi.evaluate('expr-fail', 'x', '{"n": 2, "xs": []}')->'reasons') r;
