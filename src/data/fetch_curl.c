/* `data fetch` through libcurl. Every byte is written to a temporary file in the target directory
 * and hashed on the way; only a file whose size and hash match is synced and renamed to its real
 * name, so an interrupted or corrupt download never leaves anything behind. */
#include "data/fetch.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"

int anet_fetch_available(void) { return 1; }

typedef struct {
    FILE *out;
    anet_hash_ctx hash;
    uint64_t got, expect; /* expect 0 = unknown */
    int over;             /* the server sent more than expected */
    int bar;              /* draw a progress bar */
    const char *name;
    double t0, last_draw;
} xfer;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud) {
    xfer *x = ud;
    size_t n = size * nmemb;
    if (x->expect && x->got + n > x->expect) {
        x->over = 1;
        return 0; /* stops the transfer: a bigger file cannot be the right one */
    }
    if (fwrite(ptr, 1, n, x->out) != n) return 0;
    anet_hash_update(&x->hash, ptr, n);
    x->got += n;
    return n;
}

static void human(double bytes, char *buf, size_t cap) {
    if (bytes >= 1e6) snprintf(buf, cap, "%.1f MB", bytes / 1e6);
    else if (bytes >= 1e3) snprintf(buf, cap, "%.1f kB", bytes / 1e3);
    else snprintf(buf, cap, "%.0f B", bytes);
}

static void draw_bar(xfer *x, int final) {
    double t = now_s();
    if (!final && t - x->last_draw < 0.1) return;
    x->last_draw = t;
    double total = x->expect ? (double)x->expect : 0, rate = x->got / (t - x->t0 > 1e-3 ? t - x->t0 : 1e-3);
    char got[32], all[32], r[32];
    human((double)x->got, got, sizeof got);
    human(total, all, sizeof all);
    human(rate, r, sizeof r);
    int pct = total > 0 ? (int)(100.0 * x->got / total) : 0, width = 30, fill = pct * width / 100;
    char bar[40];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r  %-28s [%s] %3d%%  %s / %s  %s/s ", x->name, bar, pct, got, all, r);
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    xfer *x = ud;
    if (x->bar) draw_bar(x, 0);
    return 0;
}

/* mkdir -p; *created says whether the last component was made here (removed again on failure). */
static anet_status make_dirs(const char *dir, int *created) {
    *created = 0;
    char p[ANET_PATH_MAX];
    int n = snprintf(p, sizeof p, "%s", dir);
    if (n <= 0 || n >= (int)sizeof p) return anet_fail(ANET_E_INVALID, "target directory path too long");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) return anet_fail(ANET_E_IO, "%s: cannot create directory: %s", p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0755) == 0) *created = 1;
    else if (errno != EEXIST) return anet_fail(ANET_E_IO, "%s: cannot create directory: %s", p, strerror(errno));
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) return anet_fail(ANET_E_IO, "%s: not a directory", p);
    return ANET_OK;
}

/* Makes the rename durable: sync the directory entry too. */
static void sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Removes temporary files an interrupted (killed) earlier fetch left for this file name. */
static void remove_stale_parts(const char *dir, const char *name) {
    char prefix[512];
    int n = snprintf(prefix, sizeof prefix, ".%s.part-", name);
    if (n <= 0 || n >= (int)sizeof prefix) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, (size_t)n) != 0) continue;
        char p[ANET_PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p) unlink(p);
    }
    closedir(d);
}

/* The limits of one fetch: an overall deadline (CLOCK_MONOTONIC) and a minimum rate. */
typedef struct limits {
    double deadline;
    long timeout_s, min_rate, window_s;
} limits;

static anet_status curl_failure(CURLcode rc, CURL *c, const char *url, const xfer *x, const char *errbuf,
                                const limits *lim) {
    long http = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_HTTP_RETURNED_ERROR:
        return anet_fail(ANET_E_NETWORK, "%s: HTTP %ld from the server", url, http);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return anet_fail(ANET_E_NETWORK, "%s: cannot resolve the host (no network?): %s", url, detail);
    case CURLE_COULDNT_CONNECT:
        return anet_fail(ANET_E_NETWORK, "%s: cannot connect (no network, or the server is down): %s", url, detail);
    case CURLE_OPERATION_TIMEDOUT:
        if (now_s() >= lim->deadline - 0.5)
            return anet_fail(ANET_E_NETWORK, "%s: not done within the --timeout of %ld s (%llu bytes arrived)", url,
                             lim->timeout_s, (unsigned long long)x->got);
        return anet_fail(ANET_E_NETWORK, "%s: slower than %ld bytes/s for %ld s (%llu bytes arrived): the server is "
                         "stalled or dripping", url, lim->min_rate, lim->window_s, (unsigned long long)x->got);
    case CURLE_WRITE_ERROR:
        if (x->over)
            return anet_fail(ANET_E_VERIFY, "%s: the server sent more than the expected %llu bytes (file refused)", url,
                             (unsigned long long)x->expect);
        return anet_fail(ANET_E_IO, "%s: cannot write the download to disk", url);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return anet_fail(ANET_E_NETWORK, "%s: transfer interrupted after %llu of %llu bytes: %s", url,
                         (unsigned long long)x->got, (unsigned long long)x->expect, detail);
    default:
        return anet_fail(ANET_E_NETWORK, "%s: download failed: %s", url, detail);
    }
}

/* *installed is set when this call renamed a new file into place. */
static anet_status fetch_one(const anet_dataset_file *f, const char *base, const char *dir, const anet_fetch_opts *o,
                             int bar, const limits *lim, int *installed) {
    char url[2 * ANET_PATH_MAX], target[ANET_PATH_MAX], tmp[ANET_PATH_MAX];
    if (snprintf(url, sizeof url, "%s%s", base, f->name) >= (int)sizeof url ||
        snprintf(target, sizeof target, "%s/%s", dir, f->name) >= (int)sizeof target ||
        snprintf(tmp, sizeof tmp, "%s/.%s.part-XXXXXX", dir, f->name) >= (int)sizeof tmp)
        return anet_fail(ANET_E_INVALID, "%s: path or URL too long", f->name);

    remove_stale_parts(dir, f->name);
    anet_file_state have = anet_registry_check_file(f, target);
    if (have == ANET_FILE_VERIFIED || have == ANET_FILE_CONTENT_VERIFIED) {
        if (!o->quiet) fprintf(stderr, "  %s: already present and verified, skipped\n", f->name);
        return ANET_OK;
    }

    int fd = mkstemp(tmp);
    if (fd < 0) return anet_fail(ANET_E_IO, "%s: cannot create a temporary file: %s", dir, strerror(errno));
    /* mkstemp makes the file 0600; an installed dataset is readable by every user, like a
     * package's files. */
    if (fchmod(fd, 0644) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return anet_fail(ANET_E_IO, "%s: cannot set permissions: %s", tmp, strerror(e));
    }
    xfer x;
    memset(&x, 0, sizeof x);
    x.out = fdopen(fd, "wb");
    if (!x.out) {
        close(fd);
        unlink(tmp);
        return anet_fail(ANET_E_IO, "%s: %s", tmp, strerror(errno));
    }
    anet_status st = anet_hash_init(&x.hash, f->alg == ANET_HASH_NONE ? ANET_HASH_SHA256 : f->alg);
    if (st != ANET_OK) {
        fclose(x.out);
        unlink(tmp);
        return st;
    }
    x.expect = f->size;
    x.bar = bar;
    x.name = f->name;
    x.t0 = x.last_draw = now_s();

    CURL *c = curl_easy_init();
    if (!c) {
        anet_hash_abort(&x.hash);
        fclose(x.out);
        unlink(tmp);
        return anet_fail(ANET_E_NOMEM, "cannot start libcurl");
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* What is left of the overall deadline bounds this file; a transfer averaging less than
     * min_rate over the window is given up (a server dripping bytes never ends otherwise). */
    double left = lim->deadline - now_s();
    long left_ms = left > 0.001 ? (long)(left * 1000) : 1;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, left_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, left_ms < 30000 ? left_ms : 30000L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, lim->min_rate);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, lim->window_s);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ane_trainer/" ANET_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
    /* Only web URLs: a mirror must not reach file:// or other schemes through a redirect. */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
    CURLcode rc = curl_easy_perform(c);
    if (bar) draw_bar(&x, 1);
    if (rc != CURLE_OK) st = curl_failure(rc, c, url, &x, errbuf, lim);
    curl_easy_cleanup(c);

    char hex[65] = "";
    if (st == ANET_OK) {
        anet_hash_final(&x.hash, hex);
        if (fflush(x.out) != 0 || fsync(fileno(x.out)) != 0)
            st = anet_fail(ANET_E_IO, "%s: cannot write: %s", tmp, strerror(errno));
    } else {
        anet_hash_abort(&x.hash);
    }
    if (fclose(x.out) != 0 && st == ANET_OK) st = anet_fail(ANET_E_IO, "%s: cannot write: %s", tmp, strerror(errno));
    if (st == ANET_OK && f->size && x.got != f->size)
        st = anet_fail(ANET_E_VERIFY, "%s: got %llu bytes, expected %llu (file refused)", url, (unsigned long long)x.got,
                       (unsigned long long)f->size);
    if (st == ANET_OK && f->hash && f->alg != ANET_HASH_NONE && strcmp(hex, f->hash) != 0)
        st = anet_fail(ANET_E_VERIFY, "%s: %s mismatch: got %s, expected %s (file refused)", url, anet_hash_name(f->alg),
                       hex, f->hash);
    if (st == ANET_OK && rename(tmp, target) != 0)
        st = anet_fail(ANET_E_IO, "%s: cannot rename into place: %s", target, strerror(errno));
    if (st != ANET_OK) {
        unlink(tmp);
        return st;
    }
    *installed = 1;
    sync_dir(dir);
    if (!o->quiet && !bar)
        fprintf(stderr, "  %s: %llu bytes, %s verified (%.1f s)\n", f->name, (unsigned long long)x.got,
                anet_hash_name(f->alg), now_s() - x.t0);
    return ANET_OK;
}

anet_status anet_fetch_dataset(const anet_dataset_spec *spec, const anet_fetch_opts *opts) {
    if (!spec || !spec->name) return anet_fail(ANET_E_INVALID, "fetch: no dataset");
    anet_fetch_opts o = {0};
    o.progress = -1;
    if (opts) o = *opts;
    char dir[ANET_PATH_MAX], base[2048];
    anet_status st;
    if (o.dir && o.dir[0]) {
        if (snprintf(dir, sizeof dir, "%s", o.dir) >= (int)sizeof dir) return anet_fail(ANET_E_INVALID, "--dir: path too long");
    } else if ((st = anet_registry_default_dir(spec->name, dir)) != ANET_OK) {
        return st;
    }
    if ((st = anet_registry_base_url(spec, o.mirror, base, sizeof base)) != ANET_OK) return st;
    int created = 0;
    if ((st = make_dirs(dir, &created)) != ANET_OK) return st;
    int bar = !o.quiet && (o.progress == 1 || (o.progress < 0 && isatty(fileno(stderr))));
    limits lim;
    lim.timeout_s = o.timeout_s > 0 ? o.timeout_s : ANET_FETCH_DEFAULT_TIMEOUT;
    lim.min_rate = o.min_rate > 0 ? o.min_rate : ANET_FETCH_DEFAULT_MIN_RATE;
    lim.window_s = o.rate_window_s > 0 ? o.rate_window_s : ANET_FETCH_DEFAULT_RATE_WINDOW;
    lim.deadline = now_s() + (double)lim.timeout_s;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return anet_fail(ANET_E_NETWORK, "cannot initialise libcurl");
    if (!o.quiet) fprintf(stderr, "fetching %s from %s into %s\n", spec->name, base, dir);
    int installed[ANET_FILE_COUNT] = {0};
    for (int i = 0; i < ANET_FILE_COUNT && st == ANET_OK; i++)
        if (spec->files[i].name) /* single-file (text) datasets leave the other entries empty */
            st = fetch_one(&spec->files[i], base, dir, &o, bar, &lim, &installed[i]);
    curl_global_cleanup();
    if (st != ANET_OK) {
        /* A failed first fetch leaves no trace: the files it already installed go too, then the
         * directory it made. In a directory that existed, verified files stay (the next fetch
         * skips them). */
        if (created) {
            char target[ANET_PATH_MAX + 256];
            for (int i = 0; i < ANET_FILE_COUNT; i++)
                if (installed[i] && snprintf(target, sizeof target, "%s/%s", dir, spec->files[i].name) < (int)sizeof target)
                    unlink(target);
            rmdir(dir);
        }
        return anet_fail_ctx(st, "fetch %s", spec->name);
    }
    return ANET_OK;
}
