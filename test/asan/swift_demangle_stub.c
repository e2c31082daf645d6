/*
 * swift_demangle_stub.c: preloaded beside the AddressSanitizer runtime by
 * tools/asan.sh.
 *
 * When the runtime is preloaded into a program it did not instrument (here
 * Debian's postgres), it initialises itself lazily, on the first malloc.  In
 * postgres and psql that first malloc comes from libp11-kit's constructor
 * inside newlocale(), which holds glibc's setlocale lock for writing.  Part
 * of the runtime's start-up is dlsym(RTLD_DEFAULT, "swift_demangle"); when
 * the symbol is missing, the dlerror() that follows translates its message,
 * and gettext takes the same setlocale lock for reading.  The lock's state
 * is left inconsistent and the process later hangs in bindtextdomain().
 *
 * Defining the symbol makes that dlsym succeed, so no error message is
 * translated.  The runtime calls it only to demangle Swift names in a
 * report; returning NULL means "not a Swift name".
 */
#include <stddef.h>
#include <stdint.h>

char	   *swift_demangle(const char *mangled, size_t mangled_len,
						   char *out, size_t *out_len, uint32_t flags);

char *
swift_demangle(const char *mangled, size_t mangled_len,
			   char *out, size_t *out_len, uint32_t flags)
{
	(void) mangled;
	(void) mangled_len;
	(void) out;
	(void) out_len;
	(void) flags;
	return NULL;
}
