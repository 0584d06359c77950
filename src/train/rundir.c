/* The run directory: preparation, the one-trainer lock, metrics truncation on resume. */
#include "train/rundir.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/safe_file.h"

#ifndef O_DIRECTORY
#define O_DIRECTORY 0
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

static anet_status make_dirs(const char *path) {
    char buf[4096];
    if (strlen(path) >= sizeof buf) return anet_fail(ANET_E_INVALID, "--out %.64s...: path too long", path);
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return anet_fail(ANET_E_IO, "cannot create directory %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return anet_fail(ANET_E_IO, "cannot create directory %s: %s", buf, strerror(errno));
    struct stat sb;
    if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) return anet_fail(ANET_E_IO, "%s is not a directory", buf);
    return ANET_OK;
}

anet_status anet_rundir_prepare(const char *dir, uint64_t need) {
    anet_status st = make_dirs(dir);
    if (st != ANET_OK) return st;
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.write-test.%ld", dir, (long)getpid());
    unlink(probe); /* a leftover of a killed run of this pid number (never followed: O_NOFOLLOW) */
    int fd = anet_open_output(probe, "output directory probe", O_EXCL);
    if (fd < 0) return anet_fail_ctx(ANET_E_IO, "output directory %s is not writable", dir);
    static const char block[4096];
    int ok = write(fd, block, sizeof block) == (ssize_t)sizeof block;
    int e = errno;
    close(fd);
    unlink(probe);
    if (!ok) return anet_fail(ANET_E_IO, "output directory %s is not writable: %s", dir, strerror(e));
    char what[64];
    snprintf(what, sizeof what, "one checkpoint (about %.1f MB)", (double)need / 1e6);
    return anet_check_free_space(dir, need, what);
}

anet_status anet_rundir_lock(const char *dir, int *fd) {
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0) return anet_fail(ANET_E_IO, "output directory %s: cannot open: %s", dir, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK)
            return anet_fail(ANET_E_IO, "output directory %s is in use by another trainer (two runs would corrupt "
                             "its metrics and checkpoint): wait for it, or give another --out", dir);
        return anet_fail(ANET_E_IO, "output directory %s: cannot lock: %s", dir, strerror(e));
    }
    return ANET_OK;
}

void anet_rundir_unlock(int *fd) {
    if (*fd >= 0) close(*fd); /* closing the last descriptor releases the flock */
    *fd = -1;
}

/* Whether one complete metrics line belongs to the checkpoint's state. */
static int line_kept(const char *line, size_t len, int64_t step, int epoch, int *is_epoch_line) {
    cJSON *o = cJSON_ParseWithLength(line, len);
    *is_epoch_line = 0;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return 0;
    }
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "step");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "epoch");
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
    int keep = cJSON_IsNumber(s) && s->valuedouble <= (double)step;
    int is_epoch = cJSON_IsString(ev) && strcmp(ev->valuestring, "epoch") == 0;
    /* An epoch's line at the checkpoint's own step is kept only for an epoch it completed. */
    if (keep && is_epoch && (!cJSON_IsNumber(e) || e->valuedouble > (double)epoch)) keep = 0;
    if (keep && is_epoch && cJSON_IsNumber(e) && e->valuedouble == (double)epoch) *is_epoch_line = 1;
    cJSON_Delete(o);
    return keep;
}

anet_status anet_rundir_truncate_metrics(const char *path, int64_t step, int epoch, int *has_epoch_line) {
    if (has_epoch_line) *has_epoch_line = 0;
    if (!path || !path[0]) return ANET_OK;
    /* Read and cut through one descriptor that is no symlink and a regular file. */
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (has_epoch_line) *has_epoch_line = -1;
        return ANET_OK;
    }
    if (fd < 0)
        return anet_fail(ANET_E_IO, "metrics file %s: cannot open%s: %s", path,
                         errno == ELOOP ? " (a symlink: refused)" : "", strerror(errno));
    struct stat sb;
    FILE *f = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || !(f = fdopen(fd, "r+"))) {
        close(fd);
        return anet_fail(ANET_E_IO, "metrics file %s: not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    /* Lines are short (one record each); a longer one is not ours and ends the kept part. */
    enum { MAX_LINE = 1 << 16 };
    char *line = malloc(MAX_LINE + 2);
    if (!line) {
        fclose(f);
        return anet_fail(ANET_E_NOMEM, "metrics file %s: out of memory", path);
    }
    uint64_t keep_bytes = 0;
    int found = 0;
    while (fgets(line, MAX_LINE + 2, f)) {
        size_t len = strlen(line);
        if (len == 0 || line[len - 1] != '\n') break; /* torn last line, or too long */
        int is_ep = 0;
        if (!line_kept(line, len - 1, step, epoch, &is_ep)) break;
        if (is_ep) found = 1;
        keep_bytes += len;
    }
    int err = ferror(f);
    free(line);
    if (!err && keep_bytes < size && ftruncate(fileno(f), (off_t)keep_bytes) != 0) err = errno ? errno : EIO;
    fclose(f);
    if (err) return anet_fail(ANET_E_IO, "metrics file %s: cannot cut to the checkpoint's step", path);
    if (has_epoch_line) *has_epoch_line = found;
    return ANET_OK;
}
