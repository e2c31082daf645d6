/*
 * tenancy.c
 *		Listener isolation without a table lookup in the policy.
 *
 * A policy on a distributed table may not contain a subquery (Citus refuses
 * it), so the policies of music_tm do not read music_tm.listener_roles when
 * they run.  music_tm.apply_listener_isolation() writes the bindings into
 * the policy instead, as the keys of the (role, listener) pairs; the policy
 * asks whether listener_key(CURRENT_USER, listener) is one of them.  The
 * key is a SHA-256 digest, so that pg_policies, which every role may read,
 * does not show which role is bound to which listener.
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "utils/builtins.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "tenancy.h"

PG_FUNCTION_INFO_V1(listener_key);

/* Feed len bytes to the digest, or fail with the library's reason. */
static void
key_update(pg_cryptohash_ctx *ctx, const void *data, size_t len)
{
	if (pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute a listener key: %s",
						pg_cryptohash_error(ctx))));
}

/*
 * listener_key(role name, listener text) returns bytea: SHA-256 over the
 * role name's length (4 bytes, big-endian), the role name and the listener,
 * so that no two (role, listener) pairs feed the same bytes.  Immutable and
 * strict; called once per row a policy filters.
 */
Datum
listener_key(PG_FUNCTION_ARGS)
{
	Name		role = PG_GETARG_NAME(0);
	text	   *listener = PG_GETARG_TEXT_PP(1);
	size_t		role_len = strlen(NameStr(*role));
	uint8		len_be[4];
	bytea	   *result;
	pg_cryptohash_ctx *ctx;

	len_be[0] = (uint8) (role_len >> 24);
	len_be[1] = (uint8) (role_len >> 16);
	len_be[2] = (uint8) (role_len >> 8);
	len_be[3] = (uint8) role_len;

	result = (bytea *) palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	SET_VARSIZE(result, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	ctx = pg_cryptohash_create(PG_SHA256);
	if (pg_cryptohash_init(ctx) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute a listener key: %s",
						pg_cryptohash_error(ctx))));
	key_update(ctx, len_be, sizeof(len_be));
	key_update(ctx, NameStr(*role), role_len);
	key_update(ctx, VARDATA_ANY(listener), VARSIZE_ANY_EXHDR(listener));
	if (pg_cryptohash_final(ctx, (uint8 *) VARDATA(result),
							PG_SHA256_DIGEST_LENGTH) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute a listener key: %s",
						pg_cryptohash_error(ctx))));
	pg_cryptohash_free(ctx);

	PG_FREE_IF_COPY(listener, 1);
	PG_RETURN_BYTEA_P(result);
}
