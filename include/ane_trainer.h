/* ane_trainer — train small networks on the Apple Neural Engine (or its emulator, vane).
 *
 * The one public header. Every symbol carries the anet_ prefix; handles are opaque.
 * Calls return an anet_status; on failure a one-line message is kept per thread and
 * read with anet_last_error(). Nothing here exits or aborts on bad input.
 */
#ifndef ANE_TRAINER_H
#define ANE_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum anet_status {
    ANET_OK = 0,
    ANET_E_INVALID = 1,     /* a bad argument or option */
    ANET_E_IO = 2,          /* a file or directory could not be read or written */
    ANET_E_FORMAT = 3,      /* a file is malformed, truncated or of the wrong kind */
    ANET_E_NOMEM = 4,       /* an allocation failed or a size is beyond the limits */
    ANET_E_UNSUPPORTED = 5, /* valid, but not supported (op, dtype, platform, backend) */
    ANET_E_NOTFOUND = 6,    /* a dataset, file or name was not found */
    ANET_E_NETWORK = 7,     /* a download failed */
    ANET_E_VERIFY = 8,      /* a checksum or a numerical check did not match */
    ANET_E_BACKEND = 9,     /* a backend failed to compile, load or evaluate a program */
    ANET_E_MISMATCH = 10,   /* shapes, types or models that do not fit together */
    ANET_E_INTERNAL = 11    /* a bug: please report it */
} anet_status;

/* The message of the last failed call on this thread ("" if none). */
const char *anet_last_error(void);
/* A short name for a status code ("invalid argument", ...). */
const char *anet_status_str(anet_status s);
/* The library version, "MAJOR.MINOR.PATCH". */
const char *anet_version(void);

#ifdef __cplusplus
}
#endif
#endif
