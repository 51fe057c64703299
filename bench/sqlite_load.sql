-- SQLite workload for the allocator benchmarks, run by run.sh as
--   sqlite3 :memory: ".parameter set @rows 300000" ".read bench/sqlite_load.sql"
-- (@rows sets the table size). An in-memory database, so the time
-- is CPU and allocation, not disk: page cache, B-tree nodes, sort buffers and
-- strings all come from malloc. Deterministic: the rows come from a counter.
PRAGMA cache_size = -65536;

CREATE TABLE item(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, score REAL);

-- @rows rows with names of varying length.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @rows)
INSERT INTO item(grp, name, score)
SELECT i % 997,
       printf('item-%d-%s', i, substr('abcdefghijklmnopqrstuvwxyz', 1, i % 26 + 1)),
       (i * 7919) % 10007 / 10.0
FROM n;

CREATE INDEX item_grp ON item(grp, score);
CREATE INDEX item_name ON item(name);

SELECT grp, count(*), round(avg(score), 3), max(length(name))
FROM item GROUP BY grp ORDER BY 3 DESC LIMIT 3;

SELECT count(DISTINCT name) FROM item WHERE name LIKE 'item-1%';

-- A self-join and a sort of strings: large temporary structures.
SELECT count(*) FROM item a JOIN item b ON a.grp = b.grp AND b.id = a.id + 997;
SELECT name FROM item ORDER BY score DESC, name LIMIT 1 OFFSET 1000;

DELETE FROM item WHERE id % 3 = 0;
UPDATE item SET name = name || '-updated' WHERE id % 5 = 0;
SELECT count(*), sum(length(name)) FROM item;
