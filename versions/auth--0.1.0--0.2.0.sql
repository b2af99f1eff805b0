-- auth 0.1.0 -> 0.2.0: ALTER EXTENSION auth UPDATE TO '0.2.0'.
--
-- Every change of schema or function made since 0.1.0 is here, in the same
-- commit as the change in src/sql/, so that an upgraded database equals a
-- fresh install of 0.2.0 (test/t/005_upgrade.pl compares the two).
\echo Use "ALTER EXTENSION auth UPDATE TO '0.2.0'" to load this file. \quit
