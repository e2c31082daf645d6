/* install_guard.sql: the start of a fresh install script (see Makefile), never run alone */

-- CREATE EXTENSION installs into the schema music_tm, and uses one that
-- already exists.  If another role made it, that role could later drop and
-- replace the extension's objects: refuse to install into it.
DO $$
DECLARE
    owner name;
BEGIN
    SELECT r.rolname INTO owner
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'music_tm';
    IF owner OPERATOR(pg_catalog.<>) CURRENT_USER THEN
        RAISE EXCEPTION 'schema music_tm already exists and is owned by role "%"', owner
          USING ERRCODE = 'insufficient_privilege',
                DETAIL = pg_catalog.format('music_tm installs into the schema music_tm; the installing role is "%s".', CURRENT_USER),
                HINT = 'Drop that schema, or make the installing role its owner (ALTER SCHEMA music_tm OWNER TO ...), after checking what it holds.';
    END IF;
END
$$;
