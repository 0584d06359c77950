/* Opening files so that hostile paths cannot hang, redirect or exhaust a run:
 * - inputs must be regular files: a FIFO would block the reader forever and a device never
 *   ends, so the file is opened with O_NONBLOCK (which never blocks, even on a FIFO), checked
 *   with fstat, and only then read (the flag is cleared again for a regular file);
 * - outputs are never written through a symlink (O_NOFOLLOW) and must be regular files, so a
 *   link planted in an output directory cannot truncate another file;
 * - before hours of work, the output directory must have room for what the run will write. */
#ifndef ANET_CORE_SAFE_FILE_H
#define ANET_CORE_SAFE_FILE_H

#include <stdint.h>
#include <stdio.h>

#include "ane_trainer.h"

/* Opens path read-only when it is a regular file. what (may be NULL) starts the message
 * ("checkpoint", "IDX file"): "<what> <path>: not a regular file (a FIFO)". A missing file
 * is ANET_E_NOTFOUND, any other refusal ANET_E_IO. *size (optional) gets the file's size. */
anet_status anet_open_input(const char *path, const char *what, int *fd, uint64_t *size);
/* The same as a stdio stream ("rb"). */
anet_status anet_fopen_input(const char *path, const char *what, FILE **out, uint64_t *size);

/* Opens path for writing without following a symlink in its last component, and only when it
 * is (or becomes) a regular file. flags: O_TRUNC, O_APPEND or O_EXCL (added to
 * O_WRONLY | O_CREAT | O_NOFOLLOW). Returns the descriptor, or -1 with the error set. */
int anet_open_output(const char *path, const char *what, int flags);
FILE *anet_fopen_output(const char *path, const char *what, int flags);

/* ANET_E_IO unless the file system holding dir has at least `need` bytes free for this
 * user (statvfs f_bavail). what names the need ("one checkpoint of 12 MB"). */
anet_status anet_check_free_space(const char *dir, uint64_t need, const char *what);

#endif
