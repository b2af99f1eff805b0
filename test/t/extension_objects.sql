-- Everything that belongs to the extension auth in the current database, as
-- sorted lines of text that name no OID and do not depend on the order of a
-- table's columns, so that two databases can be compared line by line
-- (test/t/005_upgrade.pl compares a database upgraded with ALTER EXTENSION
-- auth UPDATE with a fresh CREATE EXTENSION auth).  What is described:
--   schema auth, and the extension: version, relocatable, the tables and
--   sequences registered with pg_extension_config_dump with their
--   conditions, every member object (pg_depend deptype 'e', described by
--   pg_describe_object), and the initial privileges of the members and of
--   the schema (pg_init_privs: pg_dump dumps only what differs from them);
--   then every object in schema auth or member of the extension:
--   functions   arguments with defaults, result, kind, language,
--               SECURITY DEFINER, volatility, parallel safety, strictness,
--               leakproofness, SET clauses, cost, rows, support function,
--               library, owner, privileges, comment, and the source line by
--               line
--   relations   kind, persistence, RLS flags, replica identity, options,
--               owner, privileges, comment, partitioning, inheritance
--   columns     by name: type, NOT NULL, default, collation, identity,
--               generated, storage, privileges, comment
--   constraints, indexes (by name: the C read path opens indexes by name),
--               triggers, rules, policies, views (line by line), statistics
--   types       composite types' attributes in order (a row constructor and
--               the C code that fills a result tuple depend on it), enum
--               labels in order, domains with their constraints, ranges
--   sequences   type, bounds, increment, cache, cycle, the column owning it
--   default privileges in schema auth.
-- Privileges are the effective ones (a NULL ACL is shown as its default),
-- their items sorted.  No data is described.
--
-- Two helpers live in pg_temp for the length of the connection.
SET search_path = pg_catalog;
-- (JIT would spend seconds compiling this large query for a few thousand rows)
SET jit = off;
-- a value on one line, NULL shown as NULL
CREATE FUNCTION pg_temp.q(v text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(replace(quote_literal(v), E'\n', '\n'), 'NULL') $$;
-- an ACL with its items sorted; dflt is what a NULL ACL means
CREATE FUNCTION pg_temp.acl(a aclitem[], dflt aclitem[]) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT '{' || coalesce(string_agg(i::text, ',' ORDER BY i::text), '') || '}'
      FROM unnest(coalesce(a, dflt)) i
$$;

WITH ext AS (
    SELECT e.* FROM pg_extension e WHERE e.extname = 'auth'
), member AS (
    SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), nsp AS (
    SELECT n.oid, n.nspname FROM pg_namespace n WHERE n.nspname = 'auth'
), fn AS (      -- functions, procedures, aggregates
    SELECT p.*, p.oid AS fid,
           format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS sig
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.pronamespace IN (SELECT oid FROM nsp)
        OR p.oid IN (SELECT objid FROM member WHERE classid = 'pg_proc'::regclass)
), rel AS (     -- tables, views, sequences, indexes, composite types' classes
    SELECT c.*, c.oid AS rid, format('%I.%I', n.nspname, c.relname) AS name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relnamespace IN (SELECT oid FROM nsp)
        OR c.oid IN (SELECT objid FROM member WHERE classid = 'pg_class'::regclass)
), typ AS (     -- types of their own: not a table's row type, not an implicit array
    SELECT t.*, t.oid AS tid, format('%I.%I', n.nspname, t.typname) AS name
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE (t.typnamespace IN (SELECT oid FROM nsp)
            OR t.oid IN (SELECT objid FROM member WHERE classid = 'pg_type'::regclass))
       AND NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
       AND NOT EXISTS (SELECT FROM pg_type e WHERE e.typarray = t.oid)
), line AS (
    -- the schema
    SELECT format('schema %I | owner=%s | acl=%s | comment=%s', n.nspname,
                  pg_get_userbyid(n.nspowner),
                  pg_temp.acl(n.nspacl, acldefault('n', n.nspowner)),
                  pg_temp.q(obj_description(n.oid, 'pg_namespace'))) AS l
      FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM nsp)
    UNION ALL
    -- the extension
    SELECT format('extension %I | version=%s | relocatable=%s | schema=%s',
                  e.extname, e.extversion, e.extrelocatable, e.extnamespace::regnamespace)
      FROM ext e
    UNION ALL
    SELECT format('extension config %s | condition=%s', c.tbl::regclass, pg_temp.q(c.cond))
      FROM ext e, unnest(e.extconfig, e.extcondition) AS c(tbl, cond)
    UNION ALL
    -- members
    SELECT 'member ' || pg_describe_object(m.classid, m.objid, m.objsubid) FROM member m
    UNION ALL
    -- initial privileges of members (and of their columns)
    SELECT format('init_privs %s | %s | %s',
                  pg_describe_object(i.classoid, i.objoid, i.objsubid), i.privtype,
                  pg_temp.acl(i.initprivs, NULL))
      FROM pg_init_privs i
     WHERE EXISTS (SELECT FROM member m WHERE m.classid = i.classoid AND m.objid = i.objoid)
        OR (i.classoid = 'pg_namespace'::regclass AND i.objoid IN (SELECT oid FROM nsp))
    UNION ALL
    -- functions
    SELECT format('function %s | args=%s | returns=%s | kind=%s lang=%s secdef=%s volatile=%s parallel=%s strict=%s leakproof=%s cost=%s rows=%s support=%s | config=%s | bin=%s | owner=%s | acl=%s | comment=%s',
                  f.sig, pg_temp.q(pg_get_function_arguments(f.fid)),
                  pg_temp.q(pg_get_function_result(f.fid)),
                  f.prokind, l.lanname, f.prosecdef, f.provolatile, f.proparallel, f.proisstrict,
                  f.proleakproof, f.procost, f.prorows, f.prosupport::regproc,
                  pg_temp.q(f.proconfig::text), pg_temp.q(f.probin), pg_get_userbyid(f.proowner),
                  pg_temp.acl(f.proacl, acldefault('f', f.proowner)),
                  pg_temp.q(obj_description(f.fid, 'pg_proc')))
      FROM fn f JOIN pg_language l ON l.oid = f.prolang
    UNION ALL
    SELECT format('function %s src %s: %s', f.sig, lpad(s.n::text, 4, '0'), s.src)
      FROM fn f, regexp_split_to_table(f.prosrc, E'\n') WITH ORDINALITY AS s(src, n)
    UNION ALL
    SELECT format('function %s sqlbody %s: %s', f.sig, lpad(s.n::text, 4, '0'), s.src)
      FROM fn f, regexp_split_to_table(pg_get_function_sqlbody(f.fid), E'\n') WITH ORDINALITY AS s(src, n)
     WHERE f.prosqlbody IS NOT NULL
    UNION ALL
    -- relations (indexes and composite types have their own lines)
    SELECT format('relation %s | kind=%s persistence=%s rls=%s force_rls=%s replident=%s am=%s options=%s partition=%s partkey=%s inherits=%s | owner=%s | acl=%s | comment=%s',
                  r.name, r.relkind, r.relpersistence, r.relrowsecurity, r.relforcerowsecurity,
                  r.relreplident, am.amname, pg_temp.q(r.reloptions::text), r.relispartition,
                  pg_temp.q(pg_get_partkeydef(r.rid)),
                  (SELECT string_agg(i.inhparent::regclass::text, ',' ORDER BY i.inhseqno)
                     FROM pg_inherits i WHERE i.inhrelid = r.rid),
                  pg_get_userbyid(r.relowner),
                  pg_temp.acl(r.relacl, acldefault((CASE r.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", r.relowner)),
                  pg_temp.q(obj_description(r.rid, 'pg_class')))
      FROM rel r LEFT JOIN pg_am am ON am.oid = r.relam
     WHERE r.relkind NOT IN ('i', 'I', 'c', 't')
    UNION ALL
    -- columns of tables and views, by name
    SELECT format('column %s.%I | type=%s notnull=%s default=%s collation=%s identity=%s generated=%s storage=%s | acl=%s | comment=%s',
                  r.name, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_temp.q(pg_get_expr(d.adbin, d.adrelid)),
                  CASE WHEN a.attcollation <> 0 THEN a.attcollation::regcollation::text END,
                  a.attidentity, a.attgenerated, a.attstorage,
                  pg_temp.acl(a.attacl, '{}'),
                  pg_temp.q(col_description(r.rid, a.attnum)))
      FROM rel r JOIN pg_attribute a ON a.attrelid = r.rid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    -- constraints of tables and domains
    SELECT format('constraint %s %I | %s | comment=%s',
                  coalesce(r.name, 'type ' || t.name), c.conname, pg_get_constraintdef(c.oid, true),
                  pg_temp.q(obj_description(c.oid, 'pg_constraint')))
      FROM pg_constraint c
      LEFT JOIN rel r ON r.rid = c.conrelid
      LEFT JOIN typ t ON t.tid = c.contypid
     WHERE r.rid IS NOT NULL OR t.tid IS NOT NULL
    UNION ALL
    -- indexes, by name
    SELECT format('index %s | %s | comment=%s', r.name, pg_get_indexdef(r.rid),
                  pg_temp.q(obj_description(r.rid, 'pg_class')))
      FROM rel r WHERE r.relkind IN ('i', 'I')
    UNION ALL
    -- triggers (not the internal ones of foreign keys)
    SELECT format('trigger %s %I | %s | enabled=%s | comment=%s', r.name, g.tgname,
                  pg_get_triggerdef(g.oid, true), g.tgenabled,
                  pg_temp.q(obj_description(g.oid, 'pg_trigger')))
      FROM pg_trigger g JOIN rel r ON r.rid = g.tgrelid
     WHERE NOT g.tgisinternal
    UNION ALL
    -- rules other than a view's own
    SELECT format('rule %s %I | %s', r.name, w.rulename, pg_get_ruledef(w.oid, true))
      FROM pg_rewrite w JOIN rel r ON r.rid = w.ev_class
     WHERE w.rulename <> '_RETURN'
    UNION ALL
    -- policies
    SELECT format('policy %s %I | permissive=%s cmd=%s roles=%s | using=%s | check=%s', r.name, p.polname,
                  p.polpermissive, p.polcmd,
                  (SELECT string_agg(CASE WHEN o = 0 THEN 'public' ELSE pg_get_userbyid(o)::text END, ',' ORDER BY 1)
                     FROM unnest(p.polroles) o),
                  pg_temp.q(pg_get_expr(p.polqual, p.polrelid)),
                  pg_temp.q(pg_get_expr(p.polwithcheck, p.polrelid)))
      FROM pg_policy p JOIN rel r ON r.rid = p.polrelid
    UNION ALL
    -- views, line by line
    SELECT format('view %s def %s: %s', r.name, lpad(s.n::text, 4, '0'), s.src)
      FROM rel r, regexp_split_to_table(pg_get_viewdef(r.rid, true), E'\n') WITH ORDINALITY AS s(src, n)
     WHERE r.relkind IN ('v', 'm')
    UNION ALL
    -- statistics objects
    SELECT format('statistics %I.%I | %s', n.nspname, s.stxname, pg_get_statisticsobjdef(s.oid))
      FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace
     WHERE s.stxnamespace IN (SELECT oid FROM nsp) OR s.stxrelid IN (SELECT rid FROM rel)
    UNION ALL
    -- types
    SELECT format('type %s | kind=%s category=%s | base=%s notnull=%s default=%s collation=%s | owner=%s | acl=%s | comment=%s',
                  t.name, t.typtype, t.typcategory,
                  CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
                  t.typnotnull, pg_temp.q(t.typdefault),
                  CASE WHEN t.typcollation <> 0 THEN t.typcollation::regcollation::text END,
                  pg_get_userbyid(t.typowner),
                  pg_temp.acl(t.typacl, acldefault('T', t.typowner)),
                  pg_temp.q(obj_description(t.tid, 'pg_type')))
      FROM typ t
    UNION ALL
    -- composite types' attributes, in order
    SELECT format('type %s attribute %s %I | type=%s collation=%s | comment=%s', t.name,
                  row_number() OVER (PARTITION BY t.tid ORDER BY a.attnum), a.attname,
                  format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attcollation <> 0 THEN a.attcollation::regcollation::text END,
                  pg_temp.q(col_description(t.typrelid, a.attnum)))
      FROM typ t JOIN pg_attribute a ON a.attrelid = t.typrelid
     WHERE t.typtype = 'c' AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    -- enum labels, in order
    SELECT format('type %s label %s %s', t.name,
                  row_number() OVER (PARTITION BY t.tid ORDER BY e.enumsortorder), pg_temp.q(e.enumlabel::text))
      FROM typ t JOIN pg_enum e ON e.enumtypid = t.tid
    UNION ALL
    -- ranges
    SELECT format('type %s range | subtype=%s subopclass=%s collation=%s canonical=%s subdiff=%s',
                  t.name, format_type(g.rngsubtype, NULL), g.rngsubopc::regclass,
                  g.rngcollation, g.rngcanonical::regproc, g.rngsubdiff::regproc)
      FROM typ t JOIN pg_range g ON g.rngtypid = t.tid
    UNION ALL
    -- sequences, and the column that owns one
    SELECT format('sequence %s | type=%s start=%s increment=%s min=%s max=%s cache=%s cycle=%s | owned_by=%s',
                  r.name, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin,
                  s.seqmax, s.seqcache, s.seqcycle,
                  (SELECT string_agg(pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid), ',')
                     FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = r.rid
                      AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
      FROM rel r JOIN pg_sequence s ON s.seqrelid = r.rid
    UNION ALL
    -- default privileges in the schema
    SELECT format('default_acl %s %s | %s', pg_get_userbyid(d.defaclrole), d.defaclobjtype,
                  pg_temp.acl(d.defaclacl, NULL))
      FROM pg_default_acl d WHERE d.defaclnamespace IN (SELECT oid FROM nsp)
)
SELECT l FROM line ORDER BY l COLLATE "C";
