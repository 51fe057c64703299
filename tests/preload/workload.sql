-- sqlite3 workload for the malloc-x preload tests; run as
--   sqlite3 -batch -bail work.db ".read workload.sql"
-- in an empty directory.  Every query has a total ORDER BY, so the output is deterministic.
PRAGMA journal_mode = WAL;
PRAGMA cache_size = -20000;
.headers on
.mode list

CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000)
INSERT INTO customers
SELECT i, 'customer-' || printf('%05d', (i * 7919) % 100003),
       CASE i % 5 WHEN 0 THEN 'north' WHEN 1 THEN 'south' WHEN 2 THEN 'east'
                  WHEN 3 THEN 'west' ELSE 'central' END
FROM c;

CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer INTEGER NOT NULL REFERENCES customers(id),
  product TEXT NOT NULL,
  qty INTEGER NOT NULL,
  price REAL NOT NULL,
  note TEXT
);

BEGIN;
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 200000)
INSERT INTO orders (id, customer, product, qty, price, note)
SELECT i,
       1 + (i * 2654435761) % 5000,
       'product-' || ((i * 40503) % 997),
       1 + (i * 31) % 17,
       round(((i * 48271) % 100000) / 100.0, 2),
       replace(printf('%.*c', 1 + i % 60, 'x'), 'x', char(97 + i % 26))
FROM seq;
COMMIT;

CREATE INDEX orders_customer ON orders(customer);
CREATE INDEX orders_product_qty ON orders(product, qty);

SELECT 'rows', count(*), sum(qty), round(sum(qty * price), 2), min(price), max(price),
       sum(length(note))
FROM orders;

SELECT product, count(*) AS n, sum(qty) AS qty, round(avg(price), 4) AS avg_price
FROM orders GROUP BY product ORDER BY qty DESC, product LIMIT 15;

SELECT c.region, count(DISTINCT c.id) AS customers, count(o.id) AS orders,
       round(sum(o.qty * o.price), 2) AS revenue
FROM customers c JOIN orders o ON o.customer = c.id
GROUP BY c.region ORDER BY c.region;

SELECT c.name, t.total
FROM (SELECT customer, round(sum(qty * price), 2) AS total FROM orders GROUP BY customer) t
JOIN customers c ON c.id = t.customer
ORDER BY t.total DESC, c.name LIMIT 10;

SELECT product, qty, count(*) FROM orders
WHERE product BETWEEN 'product-100' AND 'product-105' AND qty > 10
GROUP BY product, qty ORDER BY product, qty;

-- window functions and a large sort
SELECT id, customer, running, rnk FROM (
  SELECT id, customer,
         sum(qty) OVER (PARTITION BY customer ORDER BY id) AS running,
         rank() OVER (PARTITION BY customer % 10 ORDER BY price DESC, id) AS rnk
  FROM orders)
WHERE rnk <= 2 ORDER BY customer, id LIMIT 20;

-- string building, grouping and updates
SELECT region, length(group_concat(name, ',')) FROM
  (SELECT region, name FROM customers ORDER BY name) GROUP BY region ORDER BY region;

UPDATE orders SET note = upper(note) || '!' WHERE id % 3 = 0;
DELETE FROM orders WHERE id % 7 = 0;
SELECT 'after', count(*), sum(length(note)), sum(qty) FROM orders;

CREATE TABLE summary AS
  SELECT customer, product, sum(qty) AS qty FROM orders GROUP BY customer, product;
SELECT 'summary', count(*), sum(qty), max(qty) FROM summary;

PRAGMA integrity_check;
VACUUM;
SELECT 'final', count(*) FROM orders;
