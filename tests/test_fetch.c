/* `data fetch` against a loopback HTTP/1.1 server started here (a forked child on 127.0.0.1,
 * port 0) that serves the shared mnist-10k files: correct files, a corrupted file, a transfer cut
 * mid-body, an oversized body, 404, and a closed port. The registry entry is made here, with
 * hashes computed by calling OpenSSL directly (not through the code under test). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef __APPLE__
#include <CommonCrypto/CommonDigest.h>
#else
#include <openssl/evp.h>
#endif

#include "check.h"
#include "core/error.h"
#include "data/fetch.h"
#include "data/registry.h"

#define MNIST10K ANET_SHARED_DIR "/datasets/mnist-10k"

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static void write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w <= 0) return;
        c += w;
        n -= (size_t)w;
    }
}

/* One request per connection: GET /<mode>/<file>. */
static void serve(int fd) {
    char req[4096];
    size_t n = 0;
    while (n < sizeof req - 1) {
        ssize_t r = read(fd, req + n, sizeof req - 1 - n);
        if (r <= 0) return;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n")) break;
    }
    char mode[64] = "", file[256] = "";
    if (sscanf(req, "GET /%63[^/]/%255s HTTP/1.1", mode, file) != 2) return;
    char path[600];
    snprintf(path, sizeof path, "%s/%s", MNIST10K, file);
    size_t len = 0;
    unsigned char *body = strcmp(mode, "404") == 0 ? NULL : read_all(path, &len);
    char hdr[256];
    if (!body) {
        const char *msg = "not found\n";
        int h = snprintf(hdr, sizeof hdr, "HTTP/1.1 404 Not Found\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", strlen(msg));
        write_all(fd, hdr, (size_t)h);
        write_all(fd, msg, strlen(msg));
        return;
    }
    size_t send_len = len, claim = len;
    if (strcmp(mode, "corrupt") == 0) body[len / 2] ^= 0x40;  /* same size, different bytes */
    /* Only the third file is bad: the first two verify and are installed before the failure. */
    if (strcmp(mode, "late") == 0 && strncmp(file, "t10k-images", 11) == 0) body[len / 2] ^= 0x40;
    if (strcmp(mode, "cut") == 0) send_len = len / 3;          /* promise all, send a third */
    if (strcmp(mode, "big") == 0) {                            /* a longer body than published */
        body = realloc(body, len + 1000);
        memset(body + len, 0, 1000);
        send_len = claim = len + 1000;
    }
    int h = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     claim);
    write_all(fd, hdr, (size_t)h);
    if (strcmp(mode, "drip") == 0) { /* 2 bytes every 0.25 s until the client hangs up (at most 5 min) */
        for (size_t i = 0; i + 2 <= len && i < 2400; i += 2) {
            if (write(fd, body + i, 2) != 2) break;
            nanosleep(&(struct timespec){0, 250000000}, NULL);
        }
        free(body);
        return;
    }
    write_all(fd, body, send_len);
    free(body);
}

static pid_t start_server(int *port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 16) != 0) {
        perror("bind/listen");
        return -1;
    }
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGPIPE, SIG_IGN); /* clients that stop reading must not kill the server */
        for (;;) {
            int c = accept(s, NULL, NULL);
            if (c < 0) continue;
            serve(c);
            shutdown(c, SHUT_RDWR);
            close(c);
        }
    }
    close(s);
    return pid;
}

/* A port with nothing listening: bind one, then close it. */
static int closed_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s);
    return ntohs(a.sin_port);
}

static void digest_hex(const char *path, int md5, char hex[65]) {
    size_t n = 0;
    unsigned char *b = read_all(path, &n), d[64];
    unsigned dl = 0;
#ifdef __APPLE__
    if (md5) CC_MD5(b, (CC_LONG)n, d), dl = CC_MD5_DIGEST_LENGTH;
    else CC_SHA256(b, (CC_LONG)n, d), dl = CC_SHA256_DIGEST_LENGTH;
#else
    EVP_Digest(b, n, d, &dl, md5 ? EVP_md5() : EVP_sha256(), NULL);
#endif
    for (unsigned i = 0; i < dl; i++) sprintf(hex + 2 * i, "%02x", d[i]);
    free(b);
}

/* The spec: sizes from stat, SHA-256 for images, MD5 for labels (both algorithms exercised). */
static char hashes[4][65];
static anet_dataset_spec spec;
static void make_spec(void) {
    static const char *names[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                                   "t10k-labels-idx1-ubyte.gz"};
    memset(&spec, 0, sizeof spec);
    spec.name = "mnist-10k-test";
    spec.description = "test entry";
    spec.num_classes = 10;
    for (int i = 0; i < 4; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", MNIST10K, names[i]);
        struct stat st;
        stat(p, &st);
        int md5 = i == 1 || i == 3;
        digest_hex(p, md5, hashes[i]);
        spec.files[i].name = names[i];
        spec.files[i].size = (uint64_t)st.st_size;
        spec.files[i].alg = md5 ? ANET_HASH_MD5 : ANET_HASH_SHA256;
        spec.files[i].hash = hashes[i];
    }
}

/* Entries in a directory (excluding . and ..); -1 when it does not exist. */
static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    unsigned char *x = read_all(a, &na), *y = read_all(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static char tmpdir[256];

static anet_status fetch(int port, const char *mode, const char *sub, int quiet) {
    char url[128], dir[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/%s/", port, mode);
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, sub);
    anet_fetch_opts o = {0};
    o.dir = dir;
    o.mirror = url;
    o.progress = 0;
    o.quiet = quiet;
    o.timeout_s = 10;
    anet_clear_error();
    return anet_fetch_dataset(&spec, &o);
}

int main(void) {
    if (!anet_fetch_available()) {
        printf("built without libcurl: fetch tests skipped\n");
        CHECK_EQ_INT(anet_fetch_dataset(anet_registry_find("mnist"), NULL), ANET_E_UNSUPPORTED);
        TEST_MAIN_END();
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/anet_test_fetch_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    make_spec();
    int port = 0;
    pid_t server = start_server(&port);
    CHECK(server > 0);
    if (server <= 0) return 1;
    char p[1400], q[700], d[700];

    /* Correct files: all four land, byte-identical, nothing else in the directory. */
    anet_status st = fetch(port, "ok", "ok", 0);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    snprintf(d, sizeof d, "%s/ok", tmpdir);
    CHECK_EQ_INT(count_entries(d), 4);
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", d, spec.files[i].name);
        snprintf(q, sizeof q, "%s/%s", MNIST10K, spec.files[i].name);
        CHECK_MSG(same_file(p, q), "%s differs from %s", p, q);
    }
    /* A stale temporary file from a killed fetch is cleaned up by the next one. */
    snprintf(p, sizeof p, "%s/ok/.t10k-images-idx3-ubyte.gz.part-abc123", tmpdir);
    FILE *stale = fopen(p, "wb");
    fputs("partial", stale);
    fclose(stale);
    /* Again from a server that would answer 404: everything present and verified is skipped. */
    st = fetch(port, "404", "ok", 1);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    /* A damaged local copy is replaced (from a good server). */
    snprintf(p, sizeof p, "%s/ok/t10k-labels-idx1-ubyte.gz", tmpdir);
    FILE *f = fopen(p, "r+b");
    fseek(f, 100, SEEK_SET);
    fputc('X', f);
    fclose(f);
    st = fetch(port, "ok", "ok", 1);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    snprintf(q, sizeof q, "%s/t10k-labels-idx1-ubyte.gz", MNIST10K);
    CHECK(same_file(p, q));
    CHECK_EQ_INT(count_entries(d), 4); /* the stale .part- file is gone too */

    /* Corrupted file (same size, one bit changed): refused, nothing left behind. */
    st = fetch(port, "corrupt", "corrupt", 1);
    CHECK_EQ_INT(st, ANET_E_VERIFY);
    CHECK_STR_CONTAINS(anet_last_error(), "train-images-idx3-ubyte.gz");
    CHECK_STR_CONTAINS(anet_last_error(), "sha256 mismatch");
    CHECK_STR_CONTAINS(anet_last_error(), "refused");
    snprintf(d, sizeof d, "%s/corrupt", tmpdir);
    CHECK_EQ_INT(count_entries(d), -1); /* the dir made by this fetch is gone again: nothing left */

    /* The third file fails after two were installed: a first fetch still leaves nothing. */
    st = fetch(port, "late", "late", 1);
    CHECK_EQ_INT(st, ANET_E_VERIFY);
    CHECK_STR_CONTAINS(anet_last_error(), "t10k-images-idx3-ubyte.gz");
    snprintf(d, sizeof d, "%s/late", tmpdir);
    CHECK_EQ_INT(count_entries(d), -1);

    /* Installed files are readable by every user (mkstemp alone would leave them 0600). */
    struct stat sb;
    snprintf(p, sizeof p, "%s/ok/%s", tmpdir, spec.files[0].name);
    CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0644);

    /* Into an existing directory: it stays, empty. */
    snprintf(d, sizeof d, "%s/existing", tmpdir);
    mkdir(d, 0755);
    CHECK_EQ_INT(fetch(port, "corrupt", "existing", 1), ANET_E_VERIFY);
    CHECK_EQ_INT(count_entries(d), 0);

    /* Interrupted transfer: the server closes the connection mid-body. */
    st = fetch(port, "cut", "cut", 1);
    CHECK_EQ_INT(st, ANET_E_NETWORK);
    CHECK_STR_CONTAINS(anet_last_error(), "train-images-idx3-ubyte.gz");
    CHECK_STR_CONTAINS(anet_last_error(), "interrupted");
    snprintf(d, sizeof d, "%s/cut", tmpdir);
    CHECK_EQ_INT(count_entries(d), -1); /* the dir made by this fetch is gone again: nothing left */

    /* A body longer than the published size is cut off and refused. */
    st = fetch(port, "big", "big", 1);
    CHECK_EQ_INT(st, ANET_E_VERIFY);
    CHECK_STR_CONTAINS(anet_last_error(), "more than the expected");
    snprintf(d, sizeof d, "%s/big", tmpdir);
    CHECK_EQ_INT(count_entries(d), -1); /* the dir made by this fetch is gone again: nothing left */

    /* 404. */
    st = fetch(port, "404", "missing", 1);
    CHECK_EQ_INT(st, ANET_E_NETWORK);
    CHECK_STR_CONTAINS(anet_last_error(), "HTTP 404");
    CHECK_STR_CONTAINS(anet_last_error(), "train-images-idx3-ubyte.gz");
    snprintf(d, sizeof d, "%s/missing", tmpdir);
    CHECK_EQ_INT(count_entries(d), -1); /* the dir made by this fetch is gone again: nothing left */

    /* Connection refused: one clear line. */
    int dead = closed_port();
    st = fetch(dead, "ok", "refused", 1);
    CHECK_EQ_INT(st, ANET_E_NETWORK);
    CHECK_STR_CONTAINS(anet_last_error(), "cannot connect");
    CHECK(strchr(anet_last_error(), '\n') == NULL);
    snprintf(d, sizeof d, "%s/refused", tmpdir);
    CHECK_EQ_INT(count_entries(d), -1); /* the dir made by this fetch is gone again: nothing left */

    /* The progress bar path (written to stderr) works too. */
    anet_fetch_opts o = {0};
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok/", port);
    snprintf(d, sizeof d, "%s/bar", tmpdir);
    o.dir = d;
    o.mirror = url;
    o.progress = 1;
    CHECK_EQ_INT(anet_fetch_dataset(&spec, &o), ANET_OK);
    CHECK_EQ_INT(count_entries(d), 4);

    /* A server dripping 2 bytes at a time (issue 16 item 6): the overall deadline ends the
     * fetch, and so does the minimum-rate rule on its own; both within seconds. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/drip/", port);
    snprintf(d, sizeof d, "%s/drip", tmpdir);
    memset(&o, 0, sizeof o);
    o.dir = d;
    o.mirror = url;
    o.quiet = 1;
    o.timeout_s = 2;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ_INT(anet_fetch_dataset(&spec, &o), ANET_E_NETWORK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    CHECK_STR_CONTAINS(anet_last_error(), "not done within the --timeout of 2 s");
    CHECK_MSG(secs >= 1.5 && secs < 20, "deadline of 2 s ended after %.1f s", secs);
    CHECK_EQ_INT(count_entries(d), -1);
    sleep(1); /* the one-connection server notices the hang-up */
    o.timeout_s = 600;
    o.min_rate = 1024;
    o.rate_window_s = 2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ_INT(anet_fetch_dataset(&spec, &o), ANET_E_NETWORK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    CHECK_STR_CONTAINS(anet_last_error(), "slower than 1024 bytes/s for 2 s");
    CHECK_MSG(secs >= 1.5 && secs < 30, "minimum rate over 2 s ended after %.1f s", secs);
    CHECK_EQ_INT(count_entries(d), -1);

    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_MAIN_END();
}
