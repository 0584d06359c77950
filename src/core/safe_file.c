/* Safe opening of inputs (regular files only) and outputs (never through a symlink). */
#include "core/safe_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/error.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

static const char *kind_of(mode_t m) {
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISSOCK(m)) return "a socket";
    return "not a plain file";
}

/* "<what> <path>" or "<path>" as the start of a message. */
#define WHO_FMT "%s%s%s"
#define WHO(what, path) (what) ? (what) : "", (what) ? " " : "", (path)

anet_status anet_open_input(const char *path, const char *what, int *fd, uint64_t *size) {
    *fd = -1;
    if (!path || !path[0]) return anet_fail(ANET_E_INVALID, "%s: empty path", what ? what : "input");
    int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (f < 0) {
        int e = errno;
        return anet_fail(e == ENOENT ? ANET_E_NOTFOUND : ANET_E_IO, WHO_FMT ": cannot open: %s", WHO(what, path),
                         strerror(e));
    }
    struct stat sb;
    if (fstat(f, &sb) != 0) {
        int e = errno;
        close(f);
        return anet_fail(ANET_E_IO, WHO_FMT ": cannot stat: %s", WHO(what, path), strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(f);
        return anet_fail(ANET_E_IO, WHO_FMT ": not a regular file (%s)", WHO(what, path), kind_of(sb.st_mode));
    }
    int fl = fcntl(f, F_GETFL);
    if (fl >= 0) fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
    *fd = f;
    if (size) *size = (uint64_t)sb.st_size;
    return ANET_OK;
}

anet_status anet_fopen_input(const char *path, const char *what, FILE **out, uint64_t *size) {
    int fd;
    *out = NULL;
    anet_status st = anet_open_input(path, what, &fd, size);
    if (st != ANET_OK) return st;
    *out = fdopen(fd, "rb");
    if (!*out) {
        int e = errno;
        close(fd);
        return anet_fail(ANET_E_IO, WHO_FMT ": %s", WHO(what, path), strerror(e));
    }
    return ANET_OK;
}

int anet_open_output(const char *path, const char *what, int flags) {
    if (!path || !path[0]) {
        anet_fail(ANET_E_INVALID, "%s: empty path", what ? what : "output");
        return -1;
    }
    /* O_NONBLOCK: a FIFO planted under the output name must not block the open either. */
    int f = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | flags, 0644);
    if (f < 0) {
        int e = errno;
        struct stat lb;
        if ((e == ELOOP || e == EMLINK) && lstat(path, &lb) == 0 && S_ISLNK(lb.st_mode))
            anet_fail(ANET_E_IO, WHO_FMT ": is a symlink: refusing to write through it", WHO(what, path));
        else if (e == ENXIO)
            anet_fail(ANET_E_IO, WHO_FMT ": not a regular file (a FIFO)", WHO(what, path));
        else
            anet_fail(ANET_E_IO, WHO_FMT ": cannot create: %s", WHO(what, path), strerror(e));
        return -1;
    }
    struct stat sb;
    if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(f);
        anet_fail(ANET_E_IO, WHO_FMT ": not a regular file", WHO(what, path));
        return -1;
    }
    int fl = fcntl(f, F_GETFL);
    if (fl >= 0) fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
    return f;
}

FILE *anet_fopen_output(const char *path, const char *what, int flags) {
    int fd = anet_open_output(path, what, flags);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, (flags & O_APPEND) ? "ab" : "wb");
    if (!f) {
        int e = errno;
        close(fd);
        anet_fail(ANET_E_IO, WHO_FMT ": %s", WHO(what, path), strerror(e));
    }
    return f;
}

anet_status anet_check_free_space(const char *dir, uint64_t need, const char *what) {
    struct statvfs vs;
    if (statvfs(dir, &vs) != 0) return ANET_OK; /* unknown: the writes themselves will tell */
    uint64_t unit = vs.f_frsize ? (uint64_t)vs.f_frsize : (uint64_t)vs.f_bsize;
    uint64_t avail = (uint64_t)vs.f_bavail;
    uint64_t freeb = unit && avail > UINT64_MAX / unit ? UINT64_MAX : avail * unit;
    if (freeb < need)
        return anet_fail(ANET_E_IO, "output directory %s has %llu bytes free, less than %s (%llu bytes)", dir,
                         (unsigned long long)freeb, what ? what : "needed", (unsigned long long)need);
    return ANET_OK;
}
