/*
 * canary.c: a positive control for tools/asan.sh.
 *
 * Built with the same sanitizer flags as music_tm and LOADed once into the
 * sanitized server before the suites run: its _PG_init reads one byte past
 * a heap block, so the runtime must write exactly one heap-buffer-overflow
 * report where the run looks for reports.  If it does not, a clean run
 * would prove nothing, and tools/asan.sh fails.
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	char	   *volatile block = malloc(8);
	volatile char past_end;

	past_end = block[8];
	(void) past_end;
	free(block);
}
