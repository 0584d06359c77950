/* Checkpoints: safetensors round trip, atomic replacement (an existing file survives a failed
 * write), and every kind of corruption rejected with a clear error. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <zlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "train/checkpoint.h"
#include "train/model.h"

static char dir[256];

static void path_in(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", dir, name); }

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(b, 1, n, f);
    fclose(f);
}

/* A safetensors file by hand: u64 LE length, header text as given, data bytes. */
static void write_raw(const char *path, const char *hdr, uint64_t hlen_field, const void *data,
                      size_t dlen) {
    size_t hl = strlen(hdr);
    size_t n = 8 + hl + dlen;
    uint8_t *b = malloc(n);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hlen_field >> (8 * i));
    memcpy(b + 8, hdr, hl);
    if (dlen) memcpy(b + 8 + hl, data, dlen);
    write_bytes(path, b, n);
    free(b);
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static int count_tmp_files(void) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static float w0[12], b0[3];
static uint16_t m0[4] = {0x3c00, 0x4000, 0xc200, 0x0001};

static int sample(anet_ckpt_tensor *t, anet_ckpt_meta *meta) {
    for (int i = 0; i < 12; i++) w0[i] = (float)i * 0.25f - 1.0f;
    for (int i = 0; i < 3; i++) b0[i] = 1e-3f * (float)(i + 1);
    memset(t, 0, 3 * sizeof *t);
    snprintf(t[0].name, sizeof t[0].name, "w0");
    t[0].dtype = ANET_DT_FP32;
    t[0].rank = 2;
    t[0].dims[0] = 3;
    t[0].dims[1] = 4;
    t[0].data = w0;
    t[0].nbytes = sizeof w0;
    snprintf(t[1].name, sizeof t[1].name, "b0");
    t[1].dtype = ANET_DT_FP32;
    t[1].rank = 1;
    t[1].dims[0] = 3;
    t[1].data = b0;
    t[1].nbytes = sizeof b0;
    snprintf(t[2].name, sizeof t[2].name, "opt.m.x");
    t[2].dtype = ANET_DT_FP16;
    t[2].rank = 2;
    t[2].dims[0] = 2;
    t[2].dims[1] = 2;
    t[2].data = m0;
    t[2].nbytes = sizeof m0;
    meta[0].key = "model";
    meta[0].value = "mlp:4-3";
    meta[1].key = "step";
    meta[1].value = "17";
    return 3;
}

static void test_round_trip(void) {
    anet_ckpt_tensor t[3];
    anet_ckpt_meta meta[2];
    int n = sample(t, meta);
    char p[512];
    path_in(p, sizeof p, "a.safetensors");
    CHECK(anet_ckpt_write(p, t, n, meta, 2) == ANET_OK);
    /* The format by hand: 8-byte LE length, JSON, data 8-aligned, exact size. */
    size_t sz;
    uint8_t *raw = read_all(p, &sz);
    CHECK(raw != NULL);
    if (raw) {
        uint64_t hl = 0;
        for (int i = 0; i < 8; i++) hl |= (uint64_t)raw[i] << (8 * i);
        CHECK(hl % 8 == 0);
        CHECK(raw[8] == '{');
        CHECK_EQ_INT(sz, 8 + hl + sizeof w0 + sizeof b0 + sizeof m0);
        CHECK(memcmp(raw + 8 + hl, w0, sizeof w0) == 0); /* first tensor first, LE floats */
        char *hdr = calloc(1, hl + 1);
        memcpy(hdr, raw + 8, hl);
        CHECK_STR_CONTAINS(hdr, "\"__metadata__\":{\"model\":\"mlp:4-3\",\"step\":\"17\",");
        /* Every tensor's CRC-32, computed here with zlib directly. */
        char want[80];
        snprintf(want, sizeof want, "\"checksum.w0\":\"crc32:%08lx\"", crc32(0L, (const Bytef *)w0, sizeof w0));
        CHECK_STR_CONTAINS(hdr, want);
        snprintf(want, sizeof want, "\"checksum.opt.m.x\":\"crc32:%08lx\"", crc32(0L, (const Bytef *)m0, sizeof m0));
        CHECK_STR_CONTAINS(hdr, want);
        CHECK_STR_CONTAINS(hdr, "\"w0\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}");
        CHECK_STR_CONTAINS(hdr, "\"opt.m.x\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[60,68]}");
        free(hdr);
        free(raw);
    }
    anet_ckpt c;
    CHECK(anet_ckpt_read(p, &c) == ANET_OK);
    CHECK_EQ_INT(c.ntensors, 3);
    const anet_ckpt_tensor *w = anet_ckpt_find(&c, "w0");
    CHECK(w && w->rank == 2 && w->dims[0] == 3 && w->dims[1] == 4 && w->dtype == ANET_DT_FP32);
    CHECK(w && memcmp(w->data, w0, sizeof w0) == 0);
    const anet_ckpt_tensor *m = anet_ckpt_find(&c, "opt.m.x");
    CHECK(m && m->dtype == ANET_DT_FP16 && memcmp(m->data, m0, sizeof m0) == 0);
    CHECK(anet_ckpt_find(&c, "nope") == NULL);
    CHECK(anet_ckpt_get_meta(&c, "step") && strcmp(anet_ckpt_get_meta(&c, "step"), "17") == 0);
    CHECK(anet_ckpt_get_meta(&c, "epoch") == NULL);
    anet_ckpt_free(&c);
    CHECK_EQ_INT(count_tmp_files(), 0);
}

static void test_atomic(void) {
    anet_ckpt_tensor t[3];
    anet_ckpt_meta meta[2];
    int n = sample(t, meta);
    char p[512];
    path_in(p, sizeof p, "keep.safetensors");
    CHECK(anet_ckpt_write(p, t, n, meta, 2) == ANET_OK);
    size_t n1;
    uint8_t *before = read_all(p, &n1);

    /* A big write that fails half-way: a file-size limit makes write() fail with EFBIG. */
    size_t big_n = 1 << 20;
    float *big = calloc(big_n, sizeof(float));
    anet_ckpt_tensor bt = {0};
    snprintf(bt.name, sizeof bt.name, "w0");
    bt.dtype = ANET_DT_FP32;
    bt.rank = 1;
    bt.dims[0] = (int64_t)big_n;
    bt.data = big;
    bt.nbytes = big_n * sizeof(float);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 64 * 1024;
    signal(SIGXFSZ, SIG_IGN);
    int limited = setrlimit(RLIMIT_FSIZE, &lim) == 0;
    CHECK(limited);
    anet_status st = anet_ckpt_write(p, &bt, 1, meta, 2);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(st == ANET_E_IO);
    CHECK_STR_CONTAINS(anet_last_error(), "keep.safetensors");
    size_t n2;
    uint8_t *after = read_all(p, &n2);
    CHECK(after && n1 == n2 && memcmp(before, after, n1) == 0);
    CHECK_EQ_INT(count_tmp_files(), 0);
    anet_ckpt c;
    CHECK(anet_ckpt_read(p, &c) == ANET_OK);
    anet_ckpt_free(&c);
    free(before);
    free(after);
    free(big);

    /* Missing directory: clean error, nothing created. */
    char q[512];
    path_in(q, sizeof q, "no/such/dir/x.safetensors");
    CHECK(anet_ckpt_write(q, t, n, meta, 2) == ANET_E_IO);
    /* Malformed tensors are refused before any file is touched. */
    t[0].nbytes = 4;
    CHECK(anet_ckpt_write(p, t, n, meta, 2) == ANET_E_INVALID);
}

static void expect_reject(const char *what, const char *hdr, uint64_t hlen, const void *data,
                          size_t dlen, const char *msg_part) {
    char p[512];
    path_in(p, sizeof p, "bad.safetensors");
    write_raw(p, hdr, hlen, data, dlen);
    anet_ckpt c;
    anet_status st = anet_ckpt_read(p, &c);
    CHECK_MSG(st == ANET_E_FORMAT || st == ANET_E_IO, "%s: accepted (status %d)", what, (int)st);
    CHECK_MSG(c.ntensors == 0 && c.tensors == NULL, "%s: output not cleared", what);
    if (msg_part) CHECK_MSG(strstr(anet_last_error(), msg_part) != NULL, "%s: message '%s'", what, anet_last_error());
    CHECK_MSG(strstr(anet_last_error(), "bad.safetensors") != NULL, "%s: message names no file: '%s'", what,
              anet_last_error());
}

static void expect_ok_raw(const char *hdr, const void *data, size_t dlen) {
    char p[512];
    path_in(p, sizeof p, "ok.safetensors");
    write_raw(p, hdr, strlen(hdr), data, dlen);
    anet_ckpt c;
    CHECK_MSG(anet_ckpt_read(p, &c) == ANET_OK, "refused: %s", anet_last_error());
    anet_ckpt_free(&c);
}

static void test_corrupt(void) {
    float d[4] = {1, 2, 3, 4};
    const char *good = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
    char p[512];
    path_in(p, sizeof p, "good.safetensors");
    write_raw(p, good, strlen(good), d, 16);
    anet_ckpt c;
    CHECK(anet_ckpt_read(p, &c) == ANET_OK);
    CHECK(c.ntensors == 2);
    anet_ckpt_free(&c);

    size_t hl = strlen(good);
    expect_reject("empty", "", 0, NULL, 0, NULL);
    expect_reject("header length beyond file", good, 1u << 20, d, 16, "header length");
    expect_reject("header length huge", good, UINT64_MAX, d, 16, "header length");
    expect_reject("header length zero", good, 0, d, 16, "header length");
    expect_reject("header length cuts JSON", good, hl - 3, d, 16, NULL);
    expect_reject("not JSON", "xx not json at all", 18, NULL, 0, "JSON");
    expect_reject("JSON array", "[1,2,3]", 7, NULL, 0, "JSON");
    const char *h;
    h = "{\"a\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}";
    expect_reject("dtype", h, strlen(h), d, 16, "dtype");
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}";
    expect_reject("shape vs bytes", h, strlen(h), d, 8, "shape");
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
    expect_reject("offsets beyond data", h, strlen(h), d, 8, "data_offsets");
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
    expect_reject("overlap", h, strlen(h), d, 12, "overlap");
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}";
    expect_reject("gap", h, strlen(h), d, 16, "gap");
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    expect_reject("extra data after tensors", h, strlen(h), d, 16, "cover");
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}";
    expect_reject("negative dim", h, strlen(h), d, 8, "shape");
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}";
    expect_reject("rank 5", h, strlen(h), d, 8, "rank");
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.5,8.5]}}";
    expect_reject("fractional offsets", h, strlen(h), d, 8, NULL);
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}";
    expect_reject("one offset", h, strlen(h), d, 8, "data_offsets");
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}";
    expect_reject("no offsets", h, strlen(h), d, 8, "data_offsets");
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
    expect_reject("duplicate name", h, strlen(h), d, 16, "twice");
    h = "{\"__metadata__\":{\"step\":3},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    expect_reject("metadata not a string", h, strlen(h), d, 8, "metadata");
    h = "{\"__metadata__\":[1],\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    expect_reject("metadata not a map", h, strlen(h), d, 8, "metadata");
    h = "{\"a\":7}";
    expect_reject("tensor not an object", h, strlen(h), NULL, 0, NULL);
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[65536,65536],\"data_offsets\":[0,8]}}";
    expect_reject("huge shape", h, strlen(h), d, 8, NULL);

    /* Every truncation of a real checkpoint is rejected, and no byte flip crashes the reader. */
    anet_ckpt_tensor t[3];
    anet_ckpt_meta meta[2];
    int n = sample(t, meta);
    path_in(p, sizeof p, "src.safetensors");
    CHECK(anet_ckpt_write(p, t, n, meta, 2) == ANET_OK);
    size_t sz;
    uint8_t *raw = read_all(p, &sz);
    char q[512];
    path_in(q, sizeof q, "cut.safetensors");
    int accepted = 0;
    for (size_t cut = 0; raw && cut < sz; cut++) {
        write_bytes(q, raw, cut);
        if (anet_ckpt_read(q, &c) == ANET_OK) {
            accepted++;
            anet_ckpt_free(&c);
        }
    }
    CHECK_EQ_INT(accepted, 0);
    for (size_t i = 0; raw && i < sz; i += 3) {
        uint8_t save = raw[i];
        raw[i] ^= 0x5a;
        write_bytes(q, raw, sz);
        if (anet_ckpt_read(q, &c) == ANET_OK) anet_ckpt_free(&c);
        raw[i] = save;
    }
    free(raw);
    path_in(q, sizeof q, "does-not-exist.safetensors");
    CHECK(anet_ckpt_read(q, &c) == ANET_E_NOTFOUND);
    CHECK(anet_ckpt_read(dir, &c) == ANET_E_IO); /* a directory */
}

static void test_model_check(void) {
    anet_model_spec m128, m256;
    CHECK(anet_model_parse("mlp:6-4-3", &m128) == ANET_OK);
    CHECK(anet_model_parse("mlp:6-5-3", &m256) == ANET_OK);
    float w0f[24] = {0}, b0f[4] = {0}, w1f[12] = {0}, b1f[3] = {0};
    anet_ckpt_tensor t[4];
    memset(t, 0, sizeof t);
    const char *names[4] = {"w0", "b0", "w1", "b1"};
    void *data[4] = {w0f, b0f, w1f, b1f};
    int64_t dims[4][2] = {{4, 6}, {4, 0}, {3, 4}, {3, 0}};
    for (int i = 0; i < 4; i++) {
        snprintf(t[i].name, sizeof t[i].name, "%s", names[i]);
        t[i].dtype = ANET_DT_FP32;
        t[i].rank = dims[i][1] ? 2 : 1;
        t[i].dims[0] = dims[i][0];
        t[i].dims[1] = dims[i][1];
        t[i].data = data[i];
        t[i].nbytes = (size_t)(dims[i][0] * (dims[i][1] ? dims[i][1] : 1)) * sizeof(float);
    }
    anet_ckpt_meta meta[1] = {{"model", m128.text}};
    char p[512];
    path_in(p, sizeof p, "model.safetensors");
    CHECK(anet_ckpt_write(p, t, 4, meta, 1) == ANET_OK);
    anet_ckpt c;
    CHECK(anet_ckpt_read(p, &c) == ANET_OK);
    CHECK(anet_ckpt_check_model(&c, p, &m128, "--model") == ANET_OK);
    CHECK(anet_ckpt_check_model(&c, p, &m256, "--model") == ANET_E_MISMATCH);
    CHECK_STR_CONTAINS(anet_last_error(), "checkpoint is mlp:6-4-3, --model is mlp:6-5-3");
    anet_ckpt_free(&c);
    /* right metadata, wrong shapes: still refused */
    anet_ckpt_meta lie[1] = {{"model", m256.text}};
    CHECK(anet_ckpt_write(p, t, 4, lie, 1) == ANET_OK);
    CHECK(anet_ckpt_read(p, &c) == ANET_OK);
    CHECK(anet_ckpt_check_model(&c, p, &m256, "--model") == ANET_E_MISMATCH);
    CHECK_STR_CONTAINS(anet_last_error(), "w0");
    anet_ckpt_free(&c);
    /* a parameter missing */
    CHECK(anet_ckpt_write(p, t, 3, meta, 1) == ANET_OK);
    CHECK(anet_ckpt_read(p, &c) == ANET_OK);
    CHECK(anet_ckpt_check_model(&c, p, &m128, "--model") == ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "b1");
    anet_ckpt_free(&c);
}

/* Two writers of one path in one process (two trainers saving to the same file): every write
 * succeeds and the file always holds one whole checkpoint of one of them. */
#define RACE_N 16384
#define RACE_ROUNDS 150
typedef struct {
    const char *path;
    float fill;
    int failures;
    char err[300];
} race_arg;

static void *race_writer(void *p) {
    race_arg *a = p;
    float *buf = malloc(RACE_N * sizeof(float));
    for (int i = 0; i < RACE_N; i++) buf[i] = a->fill;
    anet_ckpt_tensor t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "w");
    t.dtype = ANET_DT_FP32;
    t.rank = 1;
    t.dims[0] = RACE_N;
    t.data = buf;
    t.nbytes = RACE_N * sizeof(float);
    anet_ckpt_meta meta = {"model", "mlp:4-3"};
    for (int r = 0; r < RACE_ROUNDS; r++)
        if (anet_ckpt_write(a->path, &t, 1, &meta, 1) != ANET_OK && a->failures++ == 0)
            snprintf(a->err, sizeof a->err, "%s", anet_last_error());
    free(buf);
    return NULL;
}

static void test_two_writers(void) {
    char p[512];
    path_in(p, sizeof p, "race.safetensors");
    race_arg a = {p, 1.0f, 0, ""}, b = {p, 2.0f, 0, ""};
    pthread_t ta, tb;
    CHECK(pthread_create(&ta, NULL, race_writer, &a) == 0);
    CHECK(pthread_create(&tb, NULL, race_writer, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_MSG(a.failures == 0 && b.failures == 0, "%d + %d failed writes: %s%s", a.failures, b.failures, a.err, b.err);
    anet_ckpt c;
    int rd = anet_ckpt_read(p, &c) == ANET_OK;
    CHECK(rd);
    const anet_ckpt_tensor *w = rd && c.ntensors == 1 ? anet_ckpt_find(&c, "w") : NULL;
    CHECK(w && w->nbytes == RACE_N * sizeof(float));
    if (w) {
        const float *f = w->data;
        int mixed = 0;
        for (int i = 1; i < RACE_N; i++) mixed += f[i] != f[0];
        CHECK(f[0] == 1.0f || f[0] == 2.0f);
        CHECK_EQ_INT(mixed, 0);
    }
    if (rd) anet_ckpt_free(&c);
    CHECK_EQ_INT(count_tmp_files(), 0);
}

/* Values a checkpoint must not hold, and damage its checksums catch (issue 16, item 7). */
static void test_values(void) {
    anet_ckpt_tensor t[3];
    anet_ckpt_meta meta[2];
    int n = sample(t, meta);
    char p[512];
    path_in(p, sizeof p, "v.safetensors");
    anet_ckpt c;
    /* A NaN weight, an inf in an fp16 tensor: refused naming the tensor. */
    w0[5] = NAN;
    CHECK(anet_ckpt_write(p, t, n, meta, 2) == ANET_OK);
    CHECK(anet_ckpt_read(p, &c) == ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "tensor w0 holds a non-finite value at element 5");
    n = sample(t, meta);
    m0[2] = 0xfc00; /* -inf */
    CHECK(anet_ckpt_write(p, t, n, meta, 2) == ANET_OK);
    CHECK(anet_ckpt_read(p, &c) == ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "tensor opt.m.x holds a non-finite value at element 2");
    m0[2] = 0xc200;
    /* A negative second moment (fp32 and fp16); a negative first moment is fine. */
    n = sample(t, meta);
    snprintf(t[0].name, sizeof t[0].name, "opt.v.w0");
    CHECK(anet_ckpt_write(p, t, n, meta, 2) == ANET_OK);
    CHECK(anet_ckpt_read(p, &c) == ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "tensor opt.v.w0 (a second moment) holds a negative value at element 0");
    snprintf(t[0].name, sizeof t[0].name, "w0");
    snprintf(t[2].name, sizeof t[2].name, "ane.v.w0");
    CHECK(anet_ckpt_write(p, t, n, meta, 2) == ANET_OK);
    CHECK(anet_ckpt_read(p, &c) == ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "tensor ane.v.w0 (a second moment) holds a negative value at element 2");
    n = sample(t, meta);
    CHECK(anet_ckpt_write(p, t, n, meta, 2) == ANET_OK);
    CHECK(anet_ckpt_read(p, &c) == ANET_OK); /* opt.m.x has a negative element: allowed */
    anet_ckpt_free(&c);
    /* One flipped bit in the data (a value that stays finite) is caught by the checksum. */
    size_t sz;
    uint8_t *raw = read_all(p, &sz);
    CHECK(raw != NULL);
    if (raw) {
        raw[sz - sizeof m0 - sizeof b0 + 1] ^= 0x01; /* b0[0]'s low mantissa byte */
        write_bytes(p, raw, sz);
        CHECK(anet_ckpt_read(p, &c) == ANET_E_FORMAT);
        CHECK_STR_CONTAINS(anet_last_error(), "tensor b0 does not match its checksum");
        free(raw);
    }
    /* Files written without checksums (older versions, other writers) still load; a checksum
     * key for a tensor the file lacks, or one tensor without a checksum among others, do not. */
    float d[2] = {1, 2};
    expect_ok_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8);
    const char *orphan = "{\"__metadata__\":{\"checksum.zz\":\"crc32:00000000\"},"
                         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    expect_reject("checksum of a missing tensor", orphan, strlen(orphan), d, 8, "metadata checksum.zz names no tensor");
    char hdr[300];
    snprintf(hdr, sizeof hdr,
             "{\"__metadata__\":{\"checksum.a\":\"crc32:%08lx\"},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             crc32(0L, (const Bytef *)d, 4));
    expect_reject("one tensor without checksum", hdr, strlen(hdr), d, 8, "tensor b has no checksum");
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/anet_test_ckpt_%ld", (long)getpid());
    mkdir(dir, 0755);
    test_round_trip();
    test_atomic();
    test_two_writers();
    test_corrupt();
    test_model_check();
    test_values();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    TEST_MAIN_END();
}
