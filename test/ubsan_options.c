/*
 * ubsan_options.c
 *	  Run-time options of UndefinedBehaviorSanitizer, linked only into the
 *	  `make UBSAN=1` build (scripts/ci.sh), never into a normal one.
 *
 * The environment cannot set them: the runtime reads UBSAN_OPTIONS from
 * /proc/self/environ when it first reports, which happens in a backend,
 * after PostgreSQL has written the process title over that memory. The
 * runtime asks this function instead.
 *
 * abort_on_error: die by SIGABRT, which the postmaster always treats as a
 * crash (it resets every backend, so the test that hit the undefined
 * behaviour fails), rather than by _exit(1), which it takes for an orderly
 * FATAL exit unless it happens to notice the cleanup that was skipped.
 * print_stacktrace: the call chain into the extension, in the server log.
 */
const char *__ubsan_default_options(void);

const char *
__ubsan_default_options(void)
{
	return "abort_on_error=1:halt_on_error=1:print_stacktrace=1:disable_coredump=1";
}
