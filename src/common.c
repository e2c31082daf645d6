/*
 * common.c
 *		Argument checks and jsonb field readers shared by the ingest, history
 *		and extraction families.
 *
 * The readers look a key up with the server's binary search over a jsonb
 * object (getKeyJsonValueFromContainer) and never copy the container, so a
 * caller that detoasts a value once can read every field it needs from that
 * one copy.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"

#include "common.h"

PG_MODULE_MAGIC;

/*
 * Raise 22004 when a required argument is NULL.  Our functions are not
 * STRICT on purpose: a NULL payload silently storing nothing would hide bugs
 * in the caller.
 */
void
mtm_require_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname)));
}

/*
 * The byte cap of a jsonb payload, checked before it is detoasted: 54000
 * past limit bytes, with hint (or none) saying what to do instead.
 */
void
mtm_check_payload_size(Datum payload, Size limit, const char *hint)
{
	Size		size = toast_raw_datum_size(payload) - VARHDRSZ;

	if (size > limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("payload is too large"),
				 errdetail("The payload has %zu bytes; the limit is %zu.",
						   size, limit),
				 hint ? errhint("%s", hint) : 0));
}

/*
 * A time_range argument that a top-tracks writer may write: Spotify's
 * short_term, medium_term and long_term.  The plays_* series are made from
 * listens by the plays family and would be overwritten by its next refresh.
 */
void
mtm_require_top_range(FunctionCallInfo fcinfo, int argno, const char *funcname)
{
	char	   *label;

	mtm_require_arg(fcinfo, argno, "time_range");
	label = DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(argno)));
	if (strncmp(label, "plays_", 6) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time range %s holds charts made from listens", label),
				 errdetail("Argument \"time_range\" of music_tm.%s is %s.", funcname, label),
				 errhint("Charts of the plays_* ranges are made by record_recently_played, import_streaming_history and rebuild_play_charts.")));
}

/* Where a value sits, for error details: "items[3]" or "the track object". */
const char *
mtm_where_desc(const MtmWhere *where)
{
	if (where == NULL || where->item < 0)
		return "the track object";
	return psprintf("items[%d]", where->item);
}

/* Name of a JSON type as the SQL function jsonb_typeof spells it. */
const char *
mtm_jsonb_type_name(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvBinary:
			return JsonContainerIsObject(v->val.binary.data) ? "object" :
				JsonContainerIsScalar(v->val.binary.data) ? "scalar" : "array";
		case jbvObject:
			return "object";
		case jbvArray:
			return "array";
		default:
			return "unknown";
	}
}

/* obj.key when it is an object, else NULL (absent, JSON null, other type). */
JsonbContainer *
mtm_field_object(JsonbContainer *obj, const char *key, JsonbValue *scratch)
{
	JsonbValue *v = mtm_field(obj, key, scratch);

	return mtm_is_object(v) ? v->val.binary.data : NULL;
}

/* A palloc'd C string of a JSON string value, or NULL for any other value. */
char *
mtm_string_or_null(const JsonbValue *v)
{
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * Read a JSON number that must be a whole number fitting int32.  Returns
 * false for other JSON types, fractions and out-of-range values; the caller
 * decides whether that is an error or a NULL.
 *
 * Numbers written without a fraction ("213573", "1e5") have display scale 0
 * and go straight to the conversion; only the rare "213573.0" pays for the
 * exact whole-number test.  The accessors read four integers per track, so
 * this path is hot.
 */
bool
mtm_numeric_int32(const JsonbValue *v, int32 *out)
{
	Numeric		n;
	bool		overflow = false;

	if (v == NULL || v->type != jbvNumeric)
		return false;
	n = v->val.numeric;
	/* JSON has no NaN or infinity, but a jsonb built in SQL might. */
	if (numeric_is_nan(n) || numeric_is_inf(n))
		return false;
	if (DatumGetInt32(DirectFunctionCall1(numeric_scale,
										  NumericGetDatum(n))) != 0)
	{
		Datum		whole = DirectFunctionCall2(numeric_trunc,
												NumericGetDatum(n),
												Int32GetDatum(0));

		if (!DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(n),
											  whole)))
			return false;
	}
	*out = numeric_int4_opt_error(n, &overflow);
	return !overflow;
}

/* A text datum of a JSON string value, or NULL for any other value. */
text *
mtm_text_or_null(const JsonbValue *v)
{
	if (v == NULL || v->type != jbvString)
		return NULL;
	return cstring_to_text_with_len(v->val.string.val, v->val.string.len);
}

/* Whether v is the JSON string lit (NUL-terminated). */
bool
mtm_string_equals(const JsonbValue *v, const char *lit)
{
	size_t		len = strlen(lit);

	return v != NULL && v->type == jbvString &&
		v->val.string.len == (int) len &&
		memcmp(v->val.string.val, lit, len) == 0;
}

/*
 * Content hash of a jsonb value: the server's 64-bit hash over its binary
 * form.  jsonb's binary form is canonical (keys sorted and de-duplicated), so
 * the same object always hashes alike whatever key order the client sent.
 */
int64
mtm_jsonb_hash(Jsonb *jb)
{
	return (int64) hash_bytes_extended((const unsigned char *) VARDATA_ANY(jb),
									   VARSIZE_ANY_EXHDR(jb), 0);
}

/*
 * Track writes for tenants.
 *
 * music_tm.tracks is shared by every listener, so a tenant (a member of
 * music_tm_writer) gets no INSERT or UPDATE on it: its rows change only
 * through save_track and record_top_tracks, which check every object and
 * keep the columns consistent with raw_json.  For such a caller the one
 * track upsert statement runs as the table's owner, the way PostgreSQL runs
 * foreign-key checks as the referenced table's owner.  The statement is fixed
 * text with parameters, every name schema-qualified; the restricted-operation
 * flag forbids anything that would outlive it (SET ROLE, temp objects).  All
 * chart statements keep running as the caller, so row-level security on
 * music_tm.charts applies to them.
 *
 * Any other caller (a superuser, the owner, a role a DBA granted INSERT and
 * UPDATE directly, as music_tm 1.0 required) writes as itself.  An error
 * inside restores the caller's identity with the (sub)transaction abort.
 */
void
mtm_track_write_begin(MtmTrackWriter *w)
{
	Oid			writer = get_role_oid(MTM_WRITER_ROLE, true);
	Oid			relid;
	Oid			owner;
	HeapTuple	tup;

	GetUserIdAndSecContext(&w->save_userid, &w->save_sec_context);
	w->switched = false;
	if (!OidIsValid(writer) || !has_privs_of_role(w->save_userid, writer))
		return;

	relid = get_relname_relid("tracks", get_namespace_oid(MTM_SCHEMA, false));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	if (owner == w->save_userid)
		return;

	SetUserIdAndSecContext(owner, w->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	w->switched = true;
}

void
mtm_track_write_end(MtmTrackWriter *w)
{
	if (w->switched)
		SetUserIdAndSecContext(w->save_userid, w->save_sec_context);
	w->switched = false;
}

/*
 * How the statements kept by mtm_prepare_kept are planned (those of the
 * track store and the plays family).  Without Citus, always by their
 * generic plan: each is written for one index (sql/plays_plans.sql and
 * sql/plans.sql check their generic plans), and the plan cache would
 * otherwise plan a statement anew on every call when it prices its generic
 * plan above the custom ones (a listener's range of plays, arrays of ids):
 * planning was a tenth of a recently-played poll.  With Citus installed,
 * the plan cache chooses: Citus routes a statement to the listener's shard
 * from the listener's value, which a generic plan of some statements (an
 * UPDATE joined to unnest()) leaves to every shard.  The chart statements
 * (mtm_plan) always let the plan cache choose: forcing their generic plans
 * made record_top_tracks about 1 ms slower a page in a database being
 * filled (end-to-end benchmark).
 */
static int
KeptCursorOptions(void)
{
	return OidIsValid(get_extension_oid("citus", true)) ? 0 : CURSOR_OPT_GENERIC_PLAN;
}

/* The plan of p for the given enum OID, prepared and kept on first use. */
SPIPlanPtr
mtm_plan(MtmPlan *p, Oid range_type)
{
	Oid			types[MTM_PLAN_MAX_ARGS];
	int			i;

	Assert(p->nargs <= MTM_PLAN_MAX_ARGS);
	if (p->plan != NULL && p->range_type == range_type)
		return p->plan;
	if (p->plan != NULL)
		SPI_freeplan(p->plan);
	p->plan = NULL;
	for (i = 0; i < p->nargs; i++)
		types[i] = OidIsValid(p->argtypes[i]) ? p->argtypes[i] : range_type;
	p->plan = SPI_prepare_cursor(p->sql, p->nargs, types, 0);
	if (p->plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 p->sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(p->plan);
	p->range_type = range_type;
	return p->plan;
}

/* Run a kept read-only statement; its rows are in SPI_tuptable. */
void
mtm_spi_select(SPIPlanPtr plan, Datum *values, const char *nulls,
			   const char *what)
{
	int			ret = SPI_execute_plan(plan, values, nulls, true, 0);

	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading %s failed: %s", what, SPI_result_code_string(ret));
}

/* SPI_prepare and SPI_keepplan, or die: our statements are fixed text. */
SPIPlanPtr
mtm_prepare_kept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, KeptCursorOptions());

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/* A text[] of n C strings; NULL pointers become NULL elements. */
ArrayType *
mtm_text_array(char **strings, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		nulls[i] = strings[i] == NULL;
		elems[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(strings[i]);
	}
	return construct_md_array(elems, nulls, 1, dims, lbs, TEXTOID, -1, false,
							  TYPALIGN_INT);
}

PG_FUNCTION_INFO_V1(track_hash);

/* track_hash(jsonb) returns bigint: mtm_jsonb_hash for SQL callers. */
Datum
track_hash(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(mtm_jsonb_hash(PG_GETARG_JSONB_P(0)));
}
