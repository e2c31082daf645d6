/* music_tm--2.0--2.1.sql: upgrade of music_tm from 2.0 to 2.1 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION music_tm UPDATE TO '2.1'" to load this file. \quit

--
-- 2.1, part 1: listener isolation without subqueries, and Citus.
--

-- The policies of 1.1 and 2.0 looked up music_tm.listener_isolation and
-- music_tm.listener_roles in subqueries, which a distributed table's policy
-- may not do (Citus: "subqueries are not supported in policies on
-- distributed tables").  From 2.1 the policies hold the bindings
-- themselves: music_tm.apply_listener_isolation() rewrites them from the two
-- tables, and triggers on the tables call it whenever they change.  A
-- binding is written as its key, listener_key(role, listener), so that
-- pg_policies (readable by every role) does not show who sees which
-- listener.
CREATE FUNCTION music_tm.listener_key(role_name name, listener text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'listener_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION music_tm.listener_key(name, text) IS
  'Key of a (role, listener) binding in the listener isolation policies: SHA-256 over the role name''s length, the role name and the listener';

CREATE FUNCTION music_tm.apply_listener_isolation()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rows_expr text;
    roles_expr text;
BEGIN
    IF NOT EXISTS (SELECT FROM music_tm.listener_isolation) THEN
        rows_expr := 'true';
        roles_expr := 'true';
    ELSE
        SELECT CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.=) 0 THEN 'false'
                    ELSE pg_catalog.format(
                        'music_tm.listener_key(CURRENT_USER, listener) OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.bytea[])',
                        pg_catalog.array_agg(music_tm.listener_key(lr.role_name, lr.listener)
                                             ORDER BY music_tm.listener_key(lr.role_name, lr.listener)))
               END
          INTO rows_expr
          FROM music_tm.listener_roles lr;
        roles_expr := 'role_name OPERATOR(pg_catalog.=) CURRENT_USER';
    END IF;
    EXECUTE pg_catalog.format('ALTER POLICY listener_isolation ON music_tm.charts USING (%s) WITH CHECK (%s)',
                              rows_expr, rows_expr);
    EXECUTE pg_catalog.format('ALTER POLICY listener_roles_own ON music_tm.listener_roles USING (%s)',
                              roles_expr);
END
$$;
COMMENT ON FUNCTION music_tm.apply_listener_isolation() IS
  'Rewrite the listener isolation policies from music_tm.listener_isolation and music_tm.listener_roles; their triggers call it on every change (call it yourself after a restore with --disable-triggers)';

CREATE FUNCTION music_tm.listener_isolation_changed()
RETURNS trigger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM music_tm.apply_listener_isolation();
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION music_tm.listener_isolation_changed() IS
  'Trigger function of music_tm.listener_roles and music_tm.listener_isolation: rewrites the listener isolation policies';

CREATE TRIGGER listener_roles_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON music_tm.listener_roles
    FOR EACH STATEMENT EXECUTE FUNCTION music_tm.listener_isolation_changed();
COMMENT ON TRIGGER listener_roles_changed ON music_tm.listener_roles IS
  'A binding added, changed or removed: rewrite the listener isolation policies';
CREATE TRIGGER listener_isolation_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON music_tm.listener_isolation
    FOR EACH STATEMENT EXECUTE FUNCTION music_tm.listener_isolation_changed();
COMMENT ON TRIGGER listener_isolation_changed ON music_tm.listener_isolation IS
  'Isolation turned on or off: rewrite the listener isolation policies';

COMMENT ON POLICY listener_isolation ON music_tm.charts IS
  'Written by music_tm.apply_listener_isolation(): true while isolation is off; while on, only the listeners bound to CURRENT_USER in music_tm.listener_roles, for reads and writes';
COMMENT ON POLICY listener_roles_own ON music_tm.listener_roles IS
  'Written by music_tm.apply_listener_isolation(): true while isolation is off; while on, a role reads only its own bindings';

REVOKE ALL ON FUNCTION music_tm.apply_listener_isolation(),
    music_tm.listener_isolation_changed() FROM PUBLIC;
-- the policies call it as the querying role
REVOKE ALL ON FUNCTION music_tm.listener_key(name, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION music_tm.listener_key(name, text)
    TO music_tm_reader, music_tm_writer;

-- the policies of this database, in the new form
SELECT music_tm.apply_listener_isolation();

--
-- 2.1, part 2: listening history (plays).
--
