#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Per-thread, like errno: two trainers on two threads never see each other's message. */
static _Thread_local char last_error[1024];

const char *anet_last_error(void) { return last_error; }

void anet_clear_error(void) { last_error[0] = '\0'; }

anet_status anet_fail(anet_status code, const char *fmt, ...) {
    /* Formatted aside first: callers may pass anet_last_error() itself as an argument. */
    char msg[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, sizeof msg);
    return code;
}

anet_status anet_fail_ctx(anet_status code, const char *fmt, ...) {
    char prefix[512], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    /* A message that already starts with this context ("checkpoint X: ...") keeps it once. */
    size_t pl = strlen(prefix);
    if (pl > 0 && strncmp(old, prefix, pl) == 0 && (old[pl] == ':' || old[pl] == ' ' || old[pl] == '\0'))
        return code;
    /* Truncation of very long messages is fine: they stay one line. */
    size_t n = (size_t)snprintf(last_error, sizeof last_error, "%s", prefix);
    if (old[0] && n + 2 < sizeof last_error) {
        size_t room = sizeof last_error - n - 1, len = strlen(old) + 2;
        if (len > room) len = room;
        memcpy(last_error + n, ": ", 2);
        memcpy(last_error + n + 2, old, len - 2);
        last_error[n + len] = '\0';
    }
    return code;
}

const char *anet_status_str(anet_status s) {
    switch (s) {
    case ANET_OK: return "ok";
    case ANET_E_INVALID: return "invalid argument";
    case ANET_E_IO: return "I/O error";
    case ANET_E_FORMAT: return "malformed file";
    case ANET_E_NOMEM: return "out of memory or over a size limit";
    case ANET_E_UNSUPPORTED: return "unsupported";
    case ANET_E_NOTFOUND: return "not found";
    case ANET_E_NETWORK: return "network error";
    case ANET_E_VERIFY: return "verification failed";
    case ANET_E_BACKEND: return "backend failure";
    case ANET_E_MISMATCH: return "mismatch";
    case ANET_E_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *anet_version(void) { return ANET_VERSION; }
