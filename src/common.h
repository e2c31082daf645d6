/*
 * common.h
 *		Pieces shared by every routine family of music_tm: limits, argument
 *		checks, and small readers over a jsonb object's fields.
 */
#ifndef MUSIC_TM_COMMON_H
#define MUSIC_TM_COMMON_H

#include "postgres.h"

#include "compat.h"
#include "fmgr.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

/* Schema every object of the extension lives in (control file: schema). */
#define MTM_SCHEMA "music_tm"

/* Listener used when a caller names none; matches the column defaults. */
#define MTM_DEFAULT_LISTENER "default"

/* Highest rank a chart entry may have.  Spotify charts stop near 99. */
#define MTM_MAX_RANK 1000

/* Caps on one page given to record_top_tracks (SQLSTATE 54000 past them). */
#define MTM_MAX_PAGE_ITEMS 1000
#define MTM_MAX_PAGE_BYTES (16 * 1024 * 1024)

/*
 * Where a value came from, for error details: a lone track object passed to
 * save_track (item < 0) or items[item] of a page.
 */
typedef struct MtmWhere
{
	int			item;
} MtmWhere;

extern void mtm_require_arg(FunctionCallInfo fcinfo, int argno,
							const char *argname);
extern const char *mtm_where_desc(const MtmWhere *where);
extern void mtm_check_payload_size(Datum payload, Size limit, const char *hint);
extern void mtm_require_top_range(FunctionCallInfo fcinfo, int argno,
								  const char *funcname);

extern const char *mtm_jsonb_type_name(const JsonbValue *v);

/*
 * The small readers every accessor calls, inline so that a literal key's
 * strlen folds to a constant.
 */
static inline bool
mtm_is_object(const JsonbValue *v)
{
	return v != NULL && v->type == jbvBinary &&
		JsonContainerIsObject(v->val.binary.data);
}

static inline bool
mtm_is_array(const JsonbValue *v)
{
	return v != NULL && v->type == jbvBinary &&
		JsonContainerIsArray(v->val.binary.data) &&
		!JsonContainerIsScalar(v->val.binary.data);
}

/* The value of obj.key in *out, or NULL when the key is absent. */
static inline JsonbValue *
mtm_field(JsonbContainer *obj, const char *key, JsonbValue *out)
{
	return getKeyJsonValueFromContainer(obj, key, strlen(key), out);
}

extern JsonbContainer *mtm_field_object(JsonbContainer *obj, const char *key,
										JsonbValue *scratch);
extern char *mtm_string_or_null(const JsonbValue *v);

extern bool mtm_numeric_int32(const JsonbValue *v, int32 *out);
extern text *mtm_text_or_null(const JsonbValue *v);
extern bool mtm_string_equals(const JsonbValue *v, const char *lit);

extern int64 mtm_jsonb_hash(Jsonb *jb);

/* Two optional C strings are equal: both NULL, or the same text. */
static inline bool
mtm_same_string(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/*
 * Role whose members write music_tm.tracks through the functions only: the
 * track statements run as the table's owner for them (see common.c).
 */
#define MTM_WRITER_ROLE "music_tm_writer"

/* Saved identity while a track statement runs as the table's owner. */
typedef struct MtmTrackWriter
{
	Oid			save_userid;
	int			save_sec_context;
	bool		switched;
} MtmTrackWriter;

extern void mtm_track_write_begin(MtmTrackWriter *w);
extern void mtm_track_write_end(MtmTrackWriter *w);

/*
 * A statement kept for the life of the backend.  Statements that take the
 * music_tm.time_range enum are tied to that type's OID: argtypes holds
 * InvalidOid where the enum goes, and the plan is made anew when the OID
 * changes (the extension was dropped and created again in this backend).
 */
#define MTM_PLAN_MAX_ARGS 9
typedef struct MtmPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[MTM_PLAN_MAX_ARGS];
	SPIPlanPtr	plan;
	Oid			range_type;
} MtmPlan;

extern SPIPlanPtr mtm_plan(MtmPlan *p, Oid range_type);
extern void mtm_spi_select(SPIPlanPtr plan, Datum *values, const char *nulls,
						   const char *what);

extern SPIPlanPtr mtm_prepare_kept(const char *sql, int nargs, Oid *argtypes);
extern ArrayType *mtm_text_array(char **strings, int n);

#endif							/* MUSIC_TM_COMMON_H */
