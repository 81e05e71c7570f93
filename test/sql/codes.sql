-- Code checks against the reference vectors in test/data (copied from the
SET datestyle = 'ISO, YMD';
SET timezone = 'Asia/Shanghai';
-- project's shared reference data, with their sources in its README).
CREATE TEMP TABLE uscc (code text, valid boolean, note text);
\copy uscc FROM 'test/data/uscc_vectors.csv' WITH (FORMAT csv, HEADER true)
CREATE TEMP TABLE idcard (number text, valid boolean, note text);
\copy idcard FROM 'test/data/idcard_vectors.csv' WITH (FORMAT csv, HEADER true)

-- every vector decides as the reference says
SELECT count(*) AS uscc_vectors,
       count(*) FILTER (WHERE miaopi.uscc_valid(code) = valid) AS agree
FROM uscc;
SELECT code, valid FROM uscc WHERE miaopi.uscc_valid(code) IS DISTINCT FROM valid;

SELECT count(*) AS idcard_vectors,
       count(*) FILTER (WHERE miaopi.idcard_valid(number) = valid) AS agree
FROM idcard;
SELECT number, valid FROM idcard WHERE miaopi.idcard_valid(number) IS DISTINCT FROM valid;

-- birth dates, including the 15-digit first-generation form and check X
SELECT number, miaopi.idcard_birth_date(number)
FROM (VALUES ('11010519491231002X'), ('440524188001010014'), ('150102880730303'),
             ('610104620927690'), ('360426199113010079'), ('11010519491231002x'), ('')) v(number);

-- a lower-case check character is not canonical, and length matters
SELECT miaopi.uscc_valid('9144030071526726xg') AS lower_uscc,
       miaopi.uscc_valid('') AS empty_uscc,
       miaopi.idcard_valid('11010519491231002x') AS lower_idcard;
SELECT miaopi.uscc_valid(NULL) IS NULL AS strict;
