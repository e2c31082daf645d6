/*
 * tenancy.h
 *		Listener isolation: the key a row-level-security policy compares.
 */
#ifndef MUSIC_TM_TENANCY_H
#define MUSIC_TM_TENANCY_H

#include "postgres.h"

#include "fmgr.h"

extern Datum listener_key(PG_FUNCTION_ARGS);

#endif							/* MUSIC_TM_TENANCY_H */
