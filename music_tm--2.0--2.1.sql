/* music_tm--2.0--2.1.sql: upgrade of music_tm from 2.0 to 2.1 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION music_tm UPDATE TO '2.1'" to load this file. \quit

--
-- 2.1, part 1: listener isolation without subqueries, and Citus.
--

--
-- 2.1, part 2: listening history (plays).
--
