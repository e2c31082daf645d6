/*
 * extract.h
 *		JSONB extraction: reading the fields of a Spotify track object.
 *
 * The readers below take values already found in a detoasted track (by key
 * lookup in the accessors, by one walk in track_fields) and turn them into
 * SQL values, so every entry point gives the same answer for the same JSON.
 */
#ifndef MUSIC_TM_EXTRACT_H
#define MUSIC_TM_EXTRACT_H

#include "postgres.h"

#include "utils/array.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

/* How much of album.release_date is meaningful. */
typedef enum MtmDatePrecision
{
	MTM_PRECISION_NONE = 0,		/* no usable date */
	MTM_PRECISION_YEAR,
	MTM_PRECISION_MONTH,
	MTM_PRECISION_DAY
} MtmDatePrecision;

/* What playable_in knows about a market. */
typedef enum MtmPlayable
{
	MTM_PLAYABLE_UNKNOWN,
	MTM_PLAYABLE_NO,
	MTM_PLAYABLE_YES
} MtmPlayable;

extern JsonbContainer *mtm_track_container(Jsonb *jb);
extern bool mtm_is_wrapper_value(const JsonbValue *v);

extern MtmDatePrecision mtm_release_date(const JsonbValue *date,
										 const JsonbValue *precision,
										 DateADT *out);
extern const char *mtm_precision_name(MtmDatePrecision p);
extern int32 mtm_date_year(DateADT d);

extern text *mtm_cover_url(const JsonbValue *images, Numeric min_width);
extern void mtm_artists(const JsonbValue *artists, ArrayType **names,
						ArrayType **ids, text **first_name,
						JsonbValue *first_type);
extern bool mtm_is_episode(const JsonbValue *type,
						   const JsonbValue *first_artist_type, bool *result);
extern void mtm_market_code(text *market, char code[3]);
extern MtmPlayable mtm_playable(const JsonbValue *is_playable,
								const JsonbValue *markets, const char *code);
extern text *mtm_canonical_id(const JsonbValue *linked_from,
							  const JsonbValue *id);
extern bool mtm_duration_ms(const JsonbValue *v, int32 *ms);
extern Interval *mtm_ms_interval(int32 ms);

#endif							/* MUSIC_TM_EXTRACT_H */
