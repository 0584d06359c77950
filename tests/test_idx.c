/* IDX reader and dataset loading: the shared MNIST subset loads with the values an independent
 * reader (Python's gzip, run once, numbers below) sees; every kind of broken input is refused
 * with one line naming the file and the problem. Bad inputs are made in a temp dir from the
 * shared files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/registry.h"

#define MNIST10K ANET_SHARED_DIR "/datasets/mnist-10k"

static char tmpdir[256];

static char *tpath(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

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

/* Decompresses with zlib's gz API directly (independent of the reader under test). */
static unsigned char *gunzip_all(const char *path, size_t *len) {
    gzFile g = gzopen(path, "rb");
    if (!g) return NULL;
    size_t cap = 1 << 20, n = 0;
    unsigned char *b = malloc(cap);
    int r;
    while ((r = gzread(g, b + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)r;
        if (n == cap) b = realloc(b, cap *= 2);
    }
    gzclose(g);
    *len = n;
    return b;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static void write_gz(const char *path, const void *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    gzwrite(g, data, (unsigned)n);
    gzclose(g);
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Expects a failure with the given code whose message names the file and contains what. */
#define EXPECT_FAIL(call, code, file, what)                                                  \
    do {                                                                                     \
        anet_clear_error();                                                                  \
        anet_status st_ = (call);                                                            \
        CHECK_EQ_INT(st_, (code));                                                           \
        CHECK_STR_CONTAINS(anet_last_error(), (file));                                       \
        CHECK_STR_CONTAINS(anet_last_error(), (what));                                       \
        CHECK(strchr(anet_last_error(), '\n') == NULL);                                      \
    } while (0)

static void test_shared(void) {
    anet_dataset ds;
    anet_status st = anet_dataset_load_dir(MNIST10K, 10, &ds);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    if (st != ANET_OK) return;
    CHECK_EQ_INT(ds.train.n, 10000);
    CHECK_EQ_INT(ds.test.n, 10000);
    CHECK_EQ_INT(ds.rows, 28);
    CHECK_EQ_INT(ds.cols, 28);
    CHECK_EQ_INT(ds.features, 784);
    int bad = 0;
    for (uint32_t i = 0; i < 10000; i++) bad += ds.train.labels[i] >= 10 || ds.test.labels[i] >= 10;
    CHECK_EQ_INT(bad, 0);
    /* Values read once with /usr/bin/python3: gzip.open(f).read(), labels at offset 8, images at
     * offset 16, 784 bytes each. */
    static const uint8_t t10k_first[10] = {7, 2, 1, 0, 4, 1, 4, 9, 5, 9};
    static const uint8_t train_first[10] = {0, 3, 7, 6, 8, 9, 3, 3, 8, 1};
    for (int i = 0; i < 10; i++) {
        CHECK_EQ_INT(ds.test.labels[i], t10k_first[i]);
        CHECK_EQ_INT(ds.train.labels[i], train_first[i]);
    }
    struct { const anet_split *s; uint32_t i; long sum; int center; int label; } known[] = {
        {&ds.test, 0, 18454, 0, 7},     {&ds.test, 1, 28850, 0, 2},      {&ds.test, 9999, 41833, 18, 6},
        {&ds.train, 0, 59764, 0, 0},    {&ds.train, 1, 41375, 253, 3},   {&ds.train, 9999, 23602, 246, 8}};
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
        const uint8_t *img = known[k].s->images + (size_t)known[k].i * 784;
        long sum = 0;
        for (int p = 0; p < 784; p++) sum += img[p];
        CHECK_EQ_INT(sum, known[k].sum);
        CHECK_EQ_INT(img[14 * 28 + 14], known[k].center);
        CHECK_EQ_INT(known[k].s->labels[known[k].i], known[k].label);
    }
    /* And every byte equals an independent decode with zlib. */
    size_t n = 0;
    unsigned char *raw = gunzip_all(MNIST10K "/t10k-images-idx3-ubyte.gz", &n);
    CHECK_EQ_INT(n, 16 + 10000 * 784);
    CHECK(raw && memcmp(raw + 16, ds.test.images, 10000 * 784) == 0);
    free(raw);
    anet_dataset_free(&ds);
}

/* An uncompressed copy of the directory loads to the same bytes (gzip found by magic, not name);
 * a gzip file without the .gz name also works. */
static void test_raw_copies(void) {
    char d[512];
    snprintf(d, sizeof d, "%s/rawcopy", tmpdir);
    mkdir(d, 0755);
    const char *names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                            "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 4; i++) {
        char src[512], dst[600];
        snprintf(src, sizeof src, "%s/%s.gz", MNIST10K, names[i]);
        snprintf(dst, sizeof dst, "%s/%s", d, names[i]);
        size_t n = 0;
        unsigned char *b = i == 3 ? read_all(src, &n) : gunzip_all(src, &n); /* the last one stays gzip */
        write_file(dst, b, n);
        free(b);
    }
    anet_dataset a, b;
    CHECK_EQ_INT(anet_dataset_load_dir(d, 10, &a), ANET_OK);
    CHECK_EQ_INT(anet_dataset_load_dir(MNIST10K, 10, &b), ANET_OK);
    CHECK(a.train.n == b.train.n && memcmp(a.train.images, b.train.images, (size_t)a.train.n * 784) == 0);
    CHECK(a.test.n == b.test.n && memcmp(a.test.labels, b.test.labels, a.test.n) == 0);
    anet_dataset_free(&a);
    anet_dataset_free(&b);
    /* Uncompressed canonical t10k files verify by content. */
    const anet_dataset_spec *mnist = anet_registry_find("mnist");
    char p[600];
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", d);
    CHECK_EQ_INT(anet_registry_check_file(&mnist->files[ANET_FILE_TEST_IMAGES], p), ANET_FILE_CONTENT_VERIFIED);
    CHECK_EQ_INT(anet_registry_check_file(&mnist->files[ANET_FILE_TEST_IMAGES], MNIST10K "/t10k-images-idx3-ubyte.gz"),
                 ANET_FILE_VERIFIED);
    CHECK_EQ_INT(anet_registry_check_file(&mnist->files[ANET_FILE_TRAIN_IMAGES], MNIST10K "/train-images-idx3-ubyte.gz"),
                 ANET_FILE_NOT_CANONICAL);
}

static void test_bad_files(void) {
    size_t nl = 0, ngz = 0;
    unsigned char *labels = gunzip_all(MNIST10K "/t10k-labels-idx1-ubyte.gz", &nl); /* 8 + 10000 */
    unsigned char *gz = read_all(MNIST10K "/t10k-labels-idx1-ubyte.gz", &ngz);
    CHECK(labels && nl == 10008 && gz);
    uint8_t *out = NULL;
    uint32_t n = 0, r = 0, c = 0;

    /* Truncated raw file. */
    write_file(tpath("trunc-labels"), labels, 8 + 1000);
    EXPECT_FAIL(anet_idx_read_labels(tpath("trunc-labels"), 10, &out, &n), ANET_E_FORMAT, "trunc-labels",
                "truncated: expected 10000 bytes of labels, got 1000");
    /* Truncated inside the header. */
    write_file(tpath("trunc-header"), labels, 6);
    EXPECT_FAIL(anet_idx_read_labels(tpath("trunc-header"), 10, &out, &n), ANET_E_FORMAT, "trunc-header", "truncated");
    /* Truncated gzip file. */
    write_file(tpath("trunc.gz"), gz, ngz / 2);
    EXPECT_FAIL(anet_idx_read_labels(tpath("trunc.gz"), 10, &out, &n), ANET_E_FORMAT, "trunc.gz",
                "truncated: expected 10000 bytes of labels, got ");
    CHECK_STR_CONTAINS(anet_last_error(), "gzip stream cut short");
    /* Gzip that loses only its 8-byte trailer (CRC + length): still truncated. */
    write_file(tpath("notrailer.gz"), gz, ngz - 8);
    EXPECT_FAIL(anet_idx_read_labels(tpath("notrailer.gz"), 10, &out, &n), ANET_E_FORMAT, "notrailer.gz", "truncated");
    /* CRC mismatch: flip a bit of the stored CRC-32. */
    unsigned char *bad = malloc(ngz);
    memcpy(bad, gz, ngz);
    bad[ngz - 8] ^= 0x01;
    write_file(tpath("badcrc.gz"), bad, ngz);
    EXPECT_FAIL(anet_idx_read_labels(tpath("badcrc.gz"), 10, &out, &n), ANET_E_FORMAT, "badcrc.gz", "corrupt gzip");
    /* Corrupt deflate data in the middle. */
    memcpy(bad, gz, ngz);
    for (size_t i = ngz / 2; i < ngz / 2 + 16; i++) bad[i] ^= 0xA5;
    write_file(tpath("corrupt.gz"), bad, ngz);
    EXPECT_FAIL(anet_idx_read_labels(tpath("corrupt.gz"), 10, &out, &n), ANET_E_FORMAT, "corrupt.gz", "corrupt gzip");
    free(bad);
    /* Trailing garbage after the payload: raw, inside the gzip stream, after the gzip stream. */
    unsigned char *longer = malloc(nl + 5);
    memcpy(longer, labels, nl);
    memset(longer + nl, 7, 5);
    write_file(tpath("trailing-labels"), longer, nl + 5);
    EXPECT_FAIL(anet_idx_read_labels(tpath("trailing-labels"), 10, &out, &n), ANET_E_FORMAT, "trailing-labels", "trailing");
    write_gz(tpath("trailing-in.gz"), longer, nl + 5);
    EXPECT_FAIL(anet_idx_read_labels(tpath("trailing-in.gz"), 10, &out, &n), ANET_E_FORMAT, "trailing-in.gz", "trailing");
    free(longer);
    unsigned char *gzlong = malloc(ngz + 4);
    memcpy(gzlong, gz, ngz);
    memcpy(gzlong + ngz, "junk", 4);
    write_file(tpath("trailing-after.gz"), gzlong, ngz + 4);
    EXPECT_FAIL(anet_idx_read_labels(tpath("trailing-after.gz"), 10, &out, &n), ANET_E_FORMAT, "trailing-after.gz", "trailing");
    free(gzlong);
    /* Wrong magic: a label file read as images, an image header read as labels, junk. */
    EXPECT_FAIL(anet_idx_read_images(MNIST10K "/t10k-labels-idx1-ubyte.gz", &out, &n, &r, &c), ANET_E_FORMAT,
                "t10k-labels-idx1-ubyte.gz", "wrong magic number 0x00000801");
    EXPECT_FAIL(anet_idx_read_labels(MNIST10K "/t10k-images-idx3-ubyte.gz", 10, &out, &n), ANET_E_FORMAT,
                "t10k-images-idx3-ubyte.gz", "wrong magic");
    write_file(tpath("junk"), "hello world, not idx", 20);
    EXPECT_FAIL(anet_idx_read_labels(tpath("junk"), 10, &out, &n), ANET_E_FORMAT, "junk", "wrong magic");
    /* Element type other than ubyte (0x0D = float). */
    unsigned char hdr[32] = {0};
    put_be32(hdr, 0x00000D01);
    put_be32(hdr + 4, 1);
    write_file(tpath("float-labels"), hdr, 12);
    EXPECT_FAIL(anet_idx_read_labels(tpath("float-labels"), 10, &out, &n), ANET_E_FORMAT, "float-labels", "not unsigned byte");
    /* Zero dimension. */
    put_be32(hdr, 0x00000803);
    put_be32(hdr + 4, 10);
    put_be32(hdr + 8, 0);
    put_be32(hdr + 12, 28);
    write_file(tpath("zero-dims"), hdr, 16);
    EXPECT_FAIL(anet_idx_read_images(tpath("zero-dims"), &out, &n, &r, &c), ANET_E_FORMAT, "zero-dims", "dimension 1 is zero");
    /* Huge dimensions: refused from the header, before any allocation. */
    put_be32(hdr + 4, 60000);
    put_be32(hdr + 8, 65536);
    put_be32(hdr + 12, 65536);
    write_gz(tpath("huge-dims.gz"), hdr, 16);
    EXPECT_FAIL(anet_idx_read_images(tpath("huge-dims.gz"), &out, &n, &r, &c), ANET_E_NOMEM, "huge-dims.gz", "too large");
    put_be32(hdr + 4, 0xFFFFFFFFu);
    put_be32(hdr + 8, 0xFFFFFFFFu);
    put_be32(hdr + 12, 0xFFFFFFFFu);
    write_file(tpath("overflow-dims"), hdr, 16);
    EXPECT_FAIL(anet_idx_read_images(tpath("overflow-dims"), &out, &n, &r, &c), ANET_E_NOMEM, "overflow-dims", "too large");
    /* Label out of range. */
    unsigned char *lab2 = malloc(nl);
    memcpy(lab2, labels, nl);
    lab2[8 + 1234] = 10;
    write_gz(tpath("range-labels.gz"), lab2, nl);
    EXPECT_FAIL(anet_idx_read_labels(tpath("range-labels.gz"), 10, &out, &n), ANET_E_FORMAT, "range-labels.gz",
                "label 10 at index 1234 is out of range (10 classes)");
    CHECK_EQ_INT(anet_idx_read_labels(tpath("range-labels.gz"), 11, &out, &n), ANET_OK); /* fine with 11 classes */
    free(out);
    out = NULL;
    free(lab2);
    /* Unreadable paths: missing, a directory. */
    EXPECT_FAIL(anet_idx_read_labels(tpath("no-such-file"), 10, &out, &n), ANET_E_NOTFOUND, "no-such-file", "cannot open");
    EXPECT_FAIL(anet_idx_read_labels(tmpdir, 10, &out, &n), ANET_E_IO, tmpdir, "not a regular file (a directory)");
    CHECK(out == NULL);
    free(labels);
    free(gz);
}

static void make_dir_with(const char *name, const int which[4], const char *override_file, int override_slot) {
    char d[512];
    snprintf(d, sizeof d, "%s/%s", tmpdir, name);
    mkdir(d, 0755);
    for (int i = 0; i < 4; i++) {
        if (!which[i]) continue;
        char dst[700];
        snprintf(dst, sizeof dst, "%s/%s.gz", d, anet_dataset_file_base(i));
        if (i == override_slot) {
            size_t n = 0;
            unsigned char *b = read_all(override_file, &n);
            write_file(dst, b, n);
            free(b);
        } else {
            char src[512];
            snprintf(src, sizeof src, "%s/%s.gz", MNIST10K, anet_dataset_file_base(i));
            if (symlink(src, dst) != 0) CHECK(0);
        }
    }
}

static void test_bad_dirs(void) {
    anet_dataset ds;
    /* Directory without the files: the message lists what is missing. */
    const int two[4] = {1, 1, 0, 0};
    make_dir_with("half", two, NULL, -1);
    EXPECT_FAIL(anet_dataset_load_dir(tpath("half"), 10, &ds), ANET_E_NOTFOUND, "half",
                "missing t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]");
    const int none[4] = {0, 0, 0, 0};
    make_dir_with("empty", none, NULL, -1);
    EXPECT_FAIL(anet_dataset_load_dir(tpath("empty"), 10, &ds), ANET_E_NOTFOUND, "empty", "train-images-idx3-ubyte");
    EXPECT_FAIL(anet_dataset_load_dir(tpath("nonexistent-dir"), 10, &ds), ANET_E_NOTFOUND, "nonexistent-dir", "No such file");
    /* Image/label count mismatch: 9999 labels for 10000 images; both files named. */
    size_t nl = 0;
    unsigned char *labels = gunzip_all(MNIST10K "/t10k-labels-idx1-ubyte.gz", &nl);
    put_be32(labels + 4, 9999);
    write_gz(tpath("short-labels.gz"), labels, nl - 1);
    free(labels);
    const int all[4] = {1, 1, 1, 1};
    make_dir_with("mismatch", all, tpath("short-labels.gz"), ANET_FILE_TEST_LABELS);
    EXPECT_FAIL(anet_dataset_load_dir(tpath("mismatch"), 10, &ds), ANET_E_MISMATCH, "t10k-images-idx3-ubyte.gz",
                "10000 images but");
    CHECK_STR_CONTAINS(anet_last_error(), "mismatch/t10k-labels-idx1-ubyte.gz has 9999 labels");
    /* A bad file inside a dataset: its error comes through naming it. */
    make_dir_with("badcrc", all, tpath("badcrc.gz"), ANET_FILE_TEST_LABELS);
    EXPECT_FAIL(anet_dataset_load_dir(tpath("badcrc"), 10, &ds), ANET_E_FORMAT, "badcrc/t10k-labels-idx1-ubyte.gz",
                "corrupt gzip");
    /* By directory through anet_dataset_open, and an unknown name. */
    CHECK_EQ_INT(anet_dataset_open(MNIST10K, NULL, &ds), ANET_OK);
    CHECK_EQ_INT(ds.train.n, 10000);
    anet_dataset_free(&ds);
    EXPECT_FAIL(anet_dataset_open("no-such-dataset", NULL, &ds), ANET_E_NOTFOUND, "no-such-dataset", "mnist");
}

static void test_discovery(void) {
    /* $ANE_TRAINER_DATA/NAME is found; --data DIR comes first. */
    char d[512];
    snprintf(d, sizeof d, "%s/envdata", tmpdir);
    mkdir(d, 0755);
    const int all[4] = {1, 1, 1, 1};
    make_dir_with("envdata/mnist", all, NULL, -1);
    setenv("ANE_TRAINER_DATA", d, 1);
    setenv("XDG_CACHE_HOME", tpath("cache"), 1);
    char dir[ANET_PATH_MAX];
    const char *src = NULL;
    CHECK_EQ_INT(anet_registry_locate("mnist", NULL, dir, &src), ANET_OK);
    CHECK_STR_CONTAINS(dir, "envdata/mnist");
    CHECK(src && strcmp(src, "$ANE_TRAINER_DATA") == 0);
    CHECK_EQ_INT(anet_registry_locate("mnist", MNIST10K, dir, &src), ANET_OK);
    CHECK(strcmp(dir, MNIST10K) == 0 && strcmp(src, "--data") == 0);
    anet_clear_error();
    CHECK_EQ_INT(anet_registry_locate("kmnist", NULL, dir, &src), ANET_E_NOTFOUND);
    CHECK_STR_CONTAINS(anet_last_error(), "envdata/kmnist");
    CHECK_STR_CONTAINS(anet_last_error(), "cache/ane_trainer/kmnist");
    CHECK_STR_CONTAINS(anet_last_error(), "/usr/share/datasets/kmnist");
    char dirs[ANET_SEARCH_MAX][ANET_PATH_MAX];
    const char *srcs[ANET_SEARCH_MAX];
    int n = anet_registry_search_dirs("kmnist", "/x", dirs, srcs, ANET_SEARCH_MAX);
    CHECK_EQ_INT(n, 6);
    if (n == 6) {
        CHECK(strcmp(dirs[0], "/x") == 0 && strcmp(dirs[1], "/x/kmnist") == 0);
        CHECK_STR_CONTAINS(dirs[2], "envdata/kmnist");
        CHECK(strcmp(dirs[3], "./data/kmnist") == 0);
        CHECK_STR_CONTAINS(dirs[4], "/cache/ane_trainer/kmnist");
        CHECK(strcmp(dirs[5], "/usr/share/datasets/kmnist") == 0);
    }
    CHECK_EQ_INT(anet_registry_default_dir("kmnist", dir), ANET_OK);
    CHECK_STR_CONTAINS(dir, "envdata/kmnist");
    unsetenv("ANE_TRAINER_DATA");
    CHECK_EQ_INT(anet_registry_default_dir("kmnist", dir), ANET_OK);
    CHECK_STR_CONTAINS(dir, "/cache/ane_trainer/kmnist");
    /* Mirror precedence: option, env, canonical. */
    const anet_dataset_spec *k = anet_registry_find("kmnist");
    char url[512];
    unsetenv("ANE_TRAINER_MIRROR");
    CHECK_EQ_INT(anet_registry_base_url(k, NULL, url, sizeof url), ANET_OK);
    CHECK(strcmp(url, k->base_url) == 0);
    setenv("ANE_TRAINER_MIRROR", "http://m.example/{name}", 1);
    CHECK_EQ_INT(anet_registry_base_url(k, NULL, url, sizeof url), ANET_OK);
    CHECK(strcmp(url, "http://m.example/kmnist/") == 0);
    CHECK_EQ_INT(anet_registry_base_url(k, "http://o.example/d/", url, sizeof url), ANET_OK);
    CHECK(strcmp(url, "http://o.example/d/") == 0);
    unsetenv("ANE_TRAINER_MIRROR");
}

static void test_hashes(void) {
    /* Digests of known strings (FIPS 180-2 / RFC 1321 test vectors). */
    anet_hash_ctx h;
    char hex[65];
    CHECK_EQ_INT(anet_hash_init(&h, ANET_HASH_SHA256), ANET_OK);
    anet_hash_update(&h, "abc", 3);
    anet_hash_final(&h, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    CHECK_EQ_INT(anet_hash_init(&h, ANET_HASH_MD5), ANET_OK);
    anet_hash_update(&h, "abc", 3);
    anet_hash_final(&h, hex);
    CHECK(strcmp(hex, "900150983cd24fb0d6963f7d28e17f72") == 0);
    /* The canonical MNIST test files' published MD5 (MNIST site / torchvision). */
    uint64_t size = 0;
    CHECK_EQ_INT(anet_hash_file(MNIST10K "/t10k-images-idx3-ubyte.gz", ANET_HASH_MD5, hex, &size), ANET_OK);
    CHECK(strcmp(hex, "9fb629c4189551a2d022fa330f9573f3") == 0);
    CHECK_EQ_INT(size, 1648877);
    anet_verify_report rep;
    anet_registry_verify_dir(anet_registry_find("mnist"), MNIST10K, &rep);
    CHECK_EQ_INT(rep.state, ANET_DS_NOT_CANONICAL);
    CHECK_EQ_INT(rep.files[ANET_FILE_TEST_IMAGES], ANET_FILE_VERIFIED);
    CHECK_EQ_INT(rep.files[ANET_FILE_TEST_LABELS], ANET_FILE_VERIFIED);
    CHECK_EQ_INT(rep.files[ANET_FILE_TRAIN_IMAGES], ANET_FILE_NOT_CANONICAL);
    anet_registry_verify_dir(anet_registry_find("mnist"), tpath("half"), &rep);
    CHECK_EQ_INT(rep.state, ANET_DS_INCOMPLETE);
    CHECK_EQ_INT(rep.files[ANET_FILE_TEST_IMAGES], ANET_FILE_MISSING);
    anet_registry_verify_dir(anet_registry_find("mnist"), tpath("badcrc"), &rep);
    CHECK_EQ_INT(rep.files[ANET_FILE_TEST_LABELS], ANET_FILE_UNREADABLE); /* corrupt: neither hash can match */
}

/* Random damage must give an error or a valid result, never a crash (ASan builds check memory). */
static void test_mutations(void) {
    size_t ngz = 0, nraw = 0;
    unsigned char *gz = read_all(MNIST10K "/t10k-labels-idx1-ubyte.gz", &ngz);
    unsigned char *raw = gunzip_all(MNIST10K "/t10k-images-idx3-ubyte.gz", &nraw);
    unsigned char *m = malloc(ngz > 4096 ? ngz : 4096);
    uint64_t x = 88172645463325252ull; /* xorshift64: a fixed, test-local sequence */
    int errors = 0, oks = 0;
    for (int k = 0; k < 300; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int gzip = k % 2 == 0;
        size_t n = gzip ? ngz : 4096; /* raw: the header and the first images, cut short */
        memcpy(m, gzip ? gz : raw, n);
        int flips = 1 + (int)(x % 4);
        for (int f = 0; f < flips; f++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t at = gzip ? (size_t)(x % n) : (size_t)(x % 16); /* raw: damage the header */
            m[at] = (unsigned char)(x >> 32);
        }
        write_file(tpath("mutant"), m, n);
        uint8_t *out = NULL;
        uint32_t cnt = 0, r = 0, c = 0;
        anet_status st = gzip ? anet_idx_read_labels(tpath("mutant"), 10, &out, &cnt)
                              : anet_idx_read_images(tpath("mutant"), &out, &cnt, &r, &c);
        if (st == ANET_OK) {
            oks++;
            free(out);
        } else {
            errors++;
            CHECK_STR_CONTAINS(anet_last_error(), "mutant");
            CHECK(out == NULL);
        }
    }
    CHECK(errors > 200); /* nearly every mutation must be caught (CRC, lengths, magic) */
    free(m);
    free(gz);
    free(raw);
}

static void rm_rf(const char *d) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", d);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/anet_test_idx_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_shared();
    test_raw_copies();
    test_bad_files();
    test_bad_dirs();
    test_discovery();
    test_hashes();
    test_mutations();
    rm_rf(tmpdir);
    TEST_MAIN_END();
}
