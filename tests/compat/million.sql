-- sqlite3 workload for the malloc-x compat tests: a table of one million rows, built in one
-- transaction, indexed, queried (aggregates, GROUP BY, joins, window functions, a sort that
-- spills past the cache), updated and deleted in bulk, then VACUUMed and checked.  Run as
--   sqlite3 -batch -bail work.db ".read million.sql"
-- in an empty directory.  Every query has a total ORDER BY, so the output is deterministic.
PRAGMA journal_mode = WAL;
PRAGMA cache_size = -32000;
PRAGMA temp_store = MEMORY;
.headers on
.mode list

CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, country TEXT NOT NULL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
INSERT INTO accounts
SELECT i, 'owner-' || printf('%06d', (i * 7919) % 1000003),
       substr('ATBEDEFRITNLPLSEUSCA', 1 + 2 * (i % 10), 2)
FROM c;

CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  account INTEGER NOT NULL REFERENCES accounts(id),
  kind TEXT NOT NULL,
  amount INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  payload TEXT
);

BEGIN;
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 1000000)
INSERT INTO events (id, account, kind, amount, ts, payload)
SELECT i,
       1 + (i * 2654435761) % 20000,
       'kind-' || ((i * 40503) % 37),
       ((i * 48271) % 200001) - 100000,
       1600000000 + (i * 7) % 31536000,
       CASE WHEN i % 3 = 0 THEN NULL
            ELSE printf('%.*c', 1 + (i * 13) % 90, char(97 + i % 26)) END
FROM seq;
COMMIT;

CREATE INDEX events_account ON events(account, ts);
CREATE INDEX events_kind_amount ON events(kind, amount);

SELECT 'rows', count(*), sum(amount), min(amount), max(amount), sum(length(payload)),
       count(payload)
FROM events;

SELECT kind, count(*) AS n, sum(amount) AS total, round(avg(amount), 3) AS mean
FROM events GROUP BY kind ORDER BY total DESC, kind LIMIT 12;

SELECT a.country, count(DISTINCT a.id) AS accounts, count(e.id) AS events, sum(e.amount) AS net
FROM accounts a JOIN events e ON e.account = a.id
GROUP BY a.country ORDER BY a.country;

SELECT a.owner, t.net
FROM (SELECT account, sum(amount) AS net FROM events GROUP BY account) t
JOIN accounts a ON a.id = t.account
ORDER BY t.net DESC, a.owner LIMIT 10;

-- A sort of a million rows by a text expression: no index serves it.
SELECT 'sorted', count(*), sum(rn * (amount % 7)) FROM (
  SELECT amount, row_number() OVER (ORDER BY payload || kind, id) AS rn FROM events);

-- Window functions: running totals per account, ranks per kind.
SELECT account, ts, amount, running FROM (
  SELECT account, ts, amount,
         sum(amount) OVER (PARTITION BY account ORDER BY ts, id) AS running
  FROM events WHERE account BETWEEN 100 AND 104)
ORDER BY account, ts, amount LIMIT 25;

SELECT kind, amount, rk FROM (
  SELECT kind, amount, dense_rank() OVER (PARTITION BY kind ORDER BY amount DESC) AS rk
  FROM events)
WHERE rk <= 2 ORDER BY kind, rk, amount LIMIT 30;

-- Bulk update and delete, then the same aggregates again.
BEGIN;
UPDATE events SET amount = amount * 2, payload = upper(payload) WHERE id % 5 = 0;
DELETE FROM events WHERE kind IN ('kind-3', 'kind-17') OR (id % 11 = 0 AND amount < 0);
COMMIT;

SELECT 'after', count(*), sum(amount), sum(length(payload)), count(DISTINCT account)
FROM events;

SELECT group_concat(kind, ',') FROM (SELECT DISTINCT kind FROM events ORDER BY kind);

-- A big GROUP_CONCAT and a JSON aggregate: large strings in memory.
SELECT 'concat', length(group_concat(payload, '|')), count(*) FROM
  (SELECT payload FROM events WHERE payload IS NOT NULL ORDER BY id LIMIT 200000);
SELECT 'json', length(json_group_array(json_object('id', id, 'a', amount))) FROM
  (SELECT id, amount FROM events ORDER BY id LIMIT 100000);

VACUUM;
PRAGMA integrity_check;
SELECT 'final', count(*), sum(amount), max(id) FROM events;
