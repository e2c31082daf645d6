/*
 * compat.h
 *		Differences between the PostgreSQL major versions music_tm builds
 *		against (15, 17 and 18), in one place.
 *
 * Every difference in the server API that music_tm meets is bridged here,
 * behind PG_VERSION_NUM, so that the routine families are written once
 * against the newest API names.  Included by common.h, hence by every file.
 */
#ifndef MUSIC_TM_COMPAT_H
#define MUSIC_TM_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "music_tm needs PostgreSQL 15 or later"
#endif

/*
 * c.h's Abs() macro is gone from PostgreSQL 16 on (the server's own code
 * uses the C library's abs() family instead); 15 still has it.  Keep one
 * spelling for every version.
 */
#ifndef Abs
#define Abs(x) ((x) >= 0 ? (x) : -(x))
#endif

#endif							/* MUSIC_TM_COMPAT_H */
