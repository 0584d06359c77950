/* `data fetch`: download a dataset's files, verify them, and put them in place atomically. */
#ifndef ANET_DATA_FETCH_H
#define ANET_DATA_FETCH_H

#include "ane_trainer.h"
#include "data/registry.h"

typedef struct anet_fetch_opts {
    const char *dir;     /* target directory, created when missing; NULL = anet_registry_default_dir */
    const char *mirror;  /* base URL; NULL = $ANE_TRAINER_MIRROR, else the spec's base_url */
    int progress;        /* -1: a bar when stderr is a terminal, else one line per file;
                            0: one line per file; 1: always the bar */
    int quiet;           /* no progress output at all (errors still come back as the message) */
    long timeout_s;      /* overall deadline of the whole fetch, all files (0 = 600 s) */
    long min_rate;       /* bytes/s a transfer must average over rate_window_s (0 = 1024) */
    long rate_window_s;  /* the window of the minimum-rate rule (0 = 30 s) */
} anet_fetch_opts;

#define ANET_FETCH_DEFAULT_TIMEOUT 600
#define ANET_FETCH_DEFAULT_MIN_RATE 1024
#define ANET_FETCH_DEFAULT_RATE_WINDOW 30

/* 1 when this build can download (libcurl), else 0. */
int anet_fetch_available(void);

/* Downloads every file of spec that is not already present and verified in the target dir.
 * Each file goes to a temporary name in that dir, is checked (size and hash), synced and renamed;
 * on any failure the temporary file is removed, so nothing half-written is ever left behind.
 * Errors: ANET_E_NETWORK (no connection, HTTP error, interrupted transfer), ANET_E_VERIFY (size or
 * hash mismatch: the file is refused), ANET_E_IO (target dir), ANET_E_UNSUPPORTED (built without
 * libcurl). spec may be a caller-made entry (tests, custom mirrors). */
anet_status anet_fetch_dataset(const anet_dataset_spec *spec, const anet_fetch_opts *opts);

#endif
