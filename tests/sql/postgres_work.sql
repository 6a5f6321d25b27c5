\set ON_ERROR_STOP on
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, grp int NOT NULL, price numeric(10,2));
INSERT INTO items SELECT i, 'item-' || i, i % 97, (i * 7 % 1000) / 10.0 FROM generate_series(1, 10000) i;
CREATE INDEX items_grp ON items (grp);
CREATE TABLE groups (grp int PRIMARY KEY, label text);
INSERT INTO groups SELECT g, 'group-' || g FROM generate_series(0, 96) g;
ANALYZE;
SELECT count(*), sum(price), min(name), max(name) FROM items;
SELECT g.label, count(*), sum(i.price) FROM items i JOIN groups g USING (grp)
  WHERE i.grp < 5 GROUP BY g.label ORDER BY g.label;
SET enable_seqscan = off;
SELECT name FROM items WHERE grp = 42 ORDER BY id LIMIT 5;
RESET enable_seqscan;
BEGIN;
DELETE FROM items WHERE id % 2 = 0;
SELECT count(*) FROM items;
ROLLBACK;
SELECT count(*) FROM items;
BEGIN;
UPDATE items SET price = price + 1 WHERE grp = 7;
SAVEPOINT s;
DELETE FROM items WHERE grp = 7;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT count(*), sum(price) FROM items WHERE grp = 7;
CREATE TABLE copied (LIKE items);
COPY copied FROM STDIN WITH (FORMAT csv);
1,one,1,1.50
2,two,2,2.50
3,"three, with a comma",3,3.75
\.
COPY (SELECT * FROM copied ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER);
-- A server-side COPY, into a file the server writes (psql -v copy=PATH).
COPY (SELECT id, name FROM items WHERE id <= 1000 ORDER BY id) TO :'copy';
CREATE TEMP TABLE back (id int, name text);
COPY back FROM :'copy';
SELECT count(*), md5(string_agg(name, ',' ORDER BY id)) FROM back;
CREATE TABLE big AS SELECT i, repeat(md5(i::text), 20) AS pad FROM generate_series(1, 20000) i;
SELECT count(*), md5(string_agg(pad, '' ORDER BY i)) FROM big;
SET work_mem = '64kB';
SELECT count(DISTINCT pad), max(i) FROM (SELECT * FROM big ORDER BY pad) s;
RESET work_mem;
VACUUM items;
CHECKPOINT;
SELECT count(*) FROM items WHERE grp = 13;
