/* Error reporting inside the library: set the per-thread message and return the code. */
#ifndef ANET_CORE_ERROR_H
#define ANET_CORE_ERROR_H

#include "ane_trainer.h"

#if defined(__GNUC__)
#define ANET_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ANET_PRINTF(a, b)
#endif

/* Sets the message (printf-style) and returns code, so callers write `return anet_fail(...)`. */
anet_status anet_fail(anet_status code, const char *fmt, ...) ANET_PRINTF(2, 3);
/* Prefixes the current message with more context ("reading X: <old message>"). */
anet_status anet_fail_ctx(anet_status code, const char *fmt, ...) ANET_PRINTF(2, 3);
void anet_clear_error(void);

#endif
