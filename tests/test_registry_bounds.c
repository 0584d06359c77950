/* Verification time is bounded by what the registry knows (issue 16 item 4): a file larger
 * than both the published and the decoded size is refused without being read, and a gzip
 * bomb stops once it inflates past the decoded size. Also the IDX loader compares the header
 * counts of images and labels before reading either payload, and holds memory in proportion
 * to the bytes that arrive, not to what a header claims (item 2). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/registry.h"

static char dir[64];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void path_in(char *p, size_t n, const char *name) { snprintf(p, n, "%s/%s", dir, name); }

static void test_sparse_file(void) {
    const anet_dataset_spec *mnist = anet_registry_find("mnist");
    char p[256];
    path_in(p, sizeof p, "t10k-images-idx3-ubyte");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)100 << 30) == 0); /* 100 GiB, no blocks */
    close(fd);
    double t0 = now();
    CHECK_EQ_INT(anet_registry_check_file(&mnist->files[ANET_FILE_TEST_IMAGES], p), ANET_FILE_NOT_CANONICAL);
    CHECK_MSG(now() - t0 < 1.0, "a 100 GiB sparse file took %.1f s", now() - t0);
    unlink(p);
}

static void test_gzip_bomb(void) {
    const anet_dataset_spec *mnist = anet_registry_find("mnist");
    const anet_dataset_file *f = &mnist->files[ANET_FILE_TEST_IMAGES];
    /* One gzip member of 16 MiB of zeros (~16 KB), repeated: under the published 1.6 MB, it
     * inflates to about 1.5 GB. */
    size_t zn = (size_t)16 << 20;
    unsigned char *zeros = calloc(zn, 1);
    uLongf cap = compressBound((uLong)zn) + 64;
    unsigned char *member = malloc(cap);
    z_stream z;
    memset(&z, 0, sizeof z);
    CHECK(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) == Z_OK);
    z.next_in = zeros;
    z.avail_in = (uInt)zn;
    z.next_out = member;
    z.avail_out = (uInt)cap;
    CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
    size_t mlen = cap - z.avail_out;
    deflateEnd(&z);
    char p[256];
    path_in(p, sizeof p, "t10k-images-idx3-ubyte.gz");
    FILE *out = fopen(p, "wb");
    size_t copies = (size_t)(f->size / mlen) - 1, total = 0;
    for (size_t i = 0; i < copies; i++) total += fwrite(member, 1, mlen, out);
    fclose(out);
    CHECK(total < f->size && (uint64_t)copies * zn > (uint64_t)1 << 30);
    double t0 = now();
    CHECK_EQ_INT(anet_registry_check_file(f, p), ANET_FILE_NOT_CANONICAL);
    CHECK_MSG(now() - t0 < 2.0, "a %zu-byte gzip bomb took %.1f s", total, now() - t0);
    unlink(p);
    free(zeros);
    free(member);
}

static void put_be32(unsigned char *b, uint32_t v) {
    b[0] = (unsigned char)(v >> 24), b[1] = (unsigned char)(v >> 16), b[2] = (unsigned char)(v >> 8), b[3] = (unsigned char)v;
}

/* Headers that disagree are refused before either payload is read: here the image payload is
 * missing entirely, so reading it first would report a truncated file instead. */
static void test_counts_first(void) {
    char sub[128], p[256];
    snprintf(sub, sizeof sub, "%s/ds", dir);
    mkdir(sub, 0755);
    static const char *names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                   "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", sub, names[i]);
        FILE *f = fopen(p, "wb");
        unsigned char h[16];
        int img = i % 2 == 0;
        put_be32(h, img ? 0x803 : 0x801);
        put_be32(h + 4, i == 1 ? 999999 : 1000000); /* train labels disagree */
        put_be32(h + 8, 28);
        put_be32(h + 12, 28);
        fwrite(h, 1, img ? 16 : 8, f);
        fclose(f);
    }
    anet_dataset ds;
    CHECK_EQ_INT(anet_dataset_load_dir(sub, 10, &ds), ANET_E_MISMATCH);
    CHECK_STR_CONTAINS(anet_last_error(), "has 1000000 images but");
    CHECK_STR_CONTAINS(anet_last_error(), "has 999999 labels");
}

/* A tiny file whose header claims 784 MB: refused as truncated while the reader holds about
 * what arrived (checked under a 256 MB address-space limit in a child; not under ASan, whose
 * shadow memory needs far more address space). */
static void test_claimed_payload(void) {
#if defined(__SANITIZE_ADDRESS__)
    printf("skip: address-space limit under AddressSanitizer\n");
#else
    char p[256];
    path_in(p, sizeof p, "claims.idx");
    FILE *f = fopen(p, "wb");
    unsigned char h[16];
    put_be32(h, 0x803);
    put_be32(h + 4, 1000000);
    put_be32(h + 8, 28);
    put_be32(h + 12, 28);
    fwrite(h, 1, 16, f);
    fwrite("12345678", 1, 8, f);
    fclose(f);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {(rlim_t)256 << 20, (rlim_t)256 << 20};
        setrlimit(RLIMIT_AS, &rl);
        uint8_t *px = NULL;
        uint32_t n, r, c;
        anet_status st = anet_idx_read_images(p, &px, &n, &r, &c);
        _exit(st == ANET_E_FORMAT && strstr(anet_last_error(), "expected 784000000 bytes of pixels, got 8") ? 0 : 1);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    CHECK_MSG(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "a 24-byte file claiming 784 MB was not refused as truncated "
              "within 256 MB of address space (status %d)", ws);
#endif
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/anet_test_regb_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_sparse_file();
    test_gzip_bomb();
    test_counts_first();
    test_claimed_payload();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    TEST_MAIN_END();
}
