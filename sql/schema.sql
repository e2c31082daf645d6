-- The installed objects: tables, keys, compression, comments, dump config.

SELECT extversion FROM pg_extension WHERE extname = 'music_tm';

SELECT c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'music_tm' AND c.relkind IN ('r', 'i')
ORDER BY c.relname;

-- every unique key of per-listener data starts with the listener
-- (listener_roles is configuration: its key starts with the role it binds)
SELECT conrelid::regclass AS rel, conname,
       pg_get_constraintdef(oid) AS definition
FROM pg_constraint
WHERE connamespace = 'music_tm'::regnamespace AND contype IN ('p', 'u')
ORDER BY 1, 2;

SELECT enum_range(NULL::music_tm.time_range);

-- raw_json is compressed with lz4 when the server supports it
SELECT attname, attcompression
FROM pg_attribute
WHERE attrelid = 'music_tm.tracks'::regclass AND attname = 'raw_json';

-- pg_dump keeps the data of every table
SELECT unnest(extconfig)::regclass AS dumped
FROM pg_extension WHERE extname = 'music_tm' ORDER BY 1;

-- every object of the extension has a comment (objects made implicitly
-- with another, such as array and row types, are members from 17 on and
-- carry no comment of their own)
SELECT pg_describe_object(classid, objid, objsubid) AS uncommented
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'music_tm')
  AND d.deptype = 'e'
  AND NOT EXISTS (SELECT FROM pg_depend i
                  WHERE i.classid = d.classid AND i.objid = d.objid AND i.deptype = 'i')
  AND obj_description(objid, (SELECT relname FROM pg_class WHERE oid = classid)) IS NULL;
SELECT c.relname, a.attname AS uncommented_column
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
-- tables and the composite type music_tm.track_fields alike
WHERE c.relnamespace = 'music_tm'::regnamespace AND c.relkind IN ('r', 'c')
  AND a.attnum > 0 AND NOT a.attisdropped
  AND col_description(c.oid, a.attnum) IS NULL;
SELECT indexrelid::regclass AS uncommented_index
FROM pg_index
WHERE indrelid::regclass::text LIKE 'music_tm.%'
  AND obj_description(indexrelid, 'pg_class') IS NULL
  AND NOT indisprimary;

-- not vacuous: the composite type's 28 columns are among those checked
SELECT count(*) AS track_fields_columns_commented
FROM pg_attribute
WHERE attrelid = 'music_tm.track_fields'::regclass AND attnum > 0
  AND col_description(attrelid, attnum) IS NOT NULL;

-- every function that runs SQL pins search_path
SELECT p.oid::regprocedure AS unpinned
FROM pg_proc p
WHERE p.pronamespace = 'music_tm'::regnamespace
  AND p.provolatile <> 'i'
  AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false);

-- the function list, with signatures
SELECT p.oid::regprocedure AS function, p.prorettype::regtype AS returns,
       p.provolatile, p.proisstrict, p.proparallel
FROM pg_proc p WHERE p.pronamespace = 'music_tm'::regnamespace
ORDER BY p.oid::regprocedure::text;
