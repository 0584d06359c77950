/* IDX reader. Everything read from the file is checked before it is trusted: the header before
 * any allocation, the payload length exactly (short = truncated, longer = trailing data), and for
 * gzip the CRC and length trailer, which zlib only checks when it reaches the end of the stream. */
#include "data/idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/error.h"

/* One open input, raw or gzip. */
typedef struct {
    const char *path;
    FILE *f;
    gzFile gz;
    long long raw_size; /* compressed file size, for the trailing-garbage check */
} src;

static anet_status src_open(src *s, const char *path) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->f = fopen(path, "rb");
    if (!s->f) return anet_fail(errno == ENOENT ? ANET_E_NOTFOUND : ANET_E_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char m[2];
    size_t got = fread(m, 1, 2, s->f);
    if (ferror(s->f)) {
        fclose(s->f);
        s->f = NULL;
        return anet_fail(ANET_E_IO, "%s: cannot read: %s", path, strerror(errno));
    }
    if (fseek(s->f, 0, SEEK_END) == 0) s->raw_size = ftell(s->f);
    rewind(s->f);
    if (got == 2 && m[0] == 0x1f && m[1] == 0x8b) {
        fclose(s->f);
        s->f = NULL;
        s->gz = gzopen(path, "rb");
        if (!s->gz) return anet_fail(ANET_E_IO, "%s: cannot open: %s", path, strerror(errno ? errno : ENOMEM));
        gzbuffer(s->gz, 1 << 16);
    }
    return ANET_OK;
}

static void src_close(src *s) {
    if (s->f) fclose(s->f);
    if (s->gz) gzclose(s->gz);
    s->f = NULL;
    s->gz = NULL;
}

/* Reads up to n bytes; *got is how many arrived. Fails on I/O or gzip errors (bad CRC, corrupt
 * deflate data); a short read at the end of the input is not an error here. */
static anet_status src_read(src *s, void *buf, size_t n, size_t *got) {
    *got = 0;
    unsigned char *p = buf;
    if (s->f) {
        *got = fread(p, 1, n, s->f);
        if (*got < n && ferror(s->f)) return anet_fail(ANET_E_IO, "%s: read error: %s", s->path, strerror(errno));
        return ANET_OK;
    }
    while (*got < n) {
        size_t want = n - *got;
        if (want > (1u << 30)) want = 1u << 30; /* gzread takes an unsigned int */
        int r = gzread(s->gz, p + *got, (unsigned)want);
        if (r < 0) {
            int err = 0;
            const char *msg = gzerror(s->gz, &err);
            return anet_fail(ANET_E_FORMAT, "%s: corrupt gzip data: %s", s->path, msg ? msg : "unknown error");
        }
        if (r == 0) {
            /* End of input: zlib reports a gzip stream cut short as Z_BUF_ERROR. */
            int err = 0;
            const char *msg = gzerror(s->gz, &err);
            if (err == Z_BUF_ERROR)
                return anet_fail(ANET_E_FORMAT, "%s: truncated gzip stream (%s)", s->path, msg ? msg : "unexpected end of file");
            if (err != Z_OK && err != Z_STREAM_END)
                return anet_fail(ANET_E_FORMAT, "%s: corrupt gzip data: %s", s->path, msg ? msg : "unknown error");
            break;
        }
        *got += (size_t)r;
    }
    return ANET_OK;
}

/* After the payload: the input must end here. For gzip this read also makes zlib check the
 * CRC-32 and length trailer. */
static anet_status src_expect_end(src *s) {
    unsigned char extra[64];
    size_t got = 0;
    anet_status st = src_read(s, extra, sizeof extra, &got);
    if (st != ANET_OK) return st;
    if (got > 0) return anet_fail(ANET_E_FORMAT, "%s: trailing data after the payload", s->path);
    /* zlib silently skips non-gzip bytes after the last gzip member; refuse them too. */
    if (s->gz && s->raw_size > 0) {
        long long used = (long long)gzoffset(s->gz);
        if (used >= 0 && used < s->raw_size)
            return anet_fail(ANET_E_FORMAT, "%s: %lld bytes of trailing garbage after the gzip stream",
                             s->path, s->raw_size - used);
    }
    return ANET_OK;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads and validates the header; returns the dims and the payload size. */
static anet_status read_header(src *s, uint32_t want_magic, uint32_t ndim, uint32_t *dims, uint64_t *payload) {
    unsigned char h[16];
    size_t need = 4 + 4 * (size_t)ndim, got = 0;
    anet_status st = src_read(s, h, 4, &got);
    if (st != ANET_OK) return st;
    if (got < 4) return anet_fail(ANET_E_FORMAT, "%s: truncated: expected a 4-byte IDX magic number, got %zu bytes", s->path, got);
    uint32_t magic = be32(h);
    if (magic != want_magic) {
        const char *kind = want_magic == ANET_IDX_MAGIC_IMAGES ? "images" : "labels";
        if ((magic >> 16) == 0 && (h[3] == 1 || h[3] == 3) && h[2] != 0x08)
            return anet_fail(ANET_E_FORMAT, "%s: IDX element type 0x%02x is not unsigned byte (0x08)", s->path, h[2]);
        return anet_fail(ANET_E_FORMAT, "%s: wrong magic number 0x%08x: not an IDX %s file (expected 0x%08x)",
                         s->path, magic, kind, want_magic);
    }
    st = src_read(s, h + 4, need - 4, &got);
    if (st != ANET_OK) return st;
    if (got < need - 4)
        return anet_fail(ANET_E_FORMAT, "%s: truncated: expected a %zu-byte IDX header, got %zu bytes", s->path, need, 4 + got);
    uint64_t total = 1;
    for (uint32_t i = 0; i < ndim; i++) {
        dims[i] = be32(h + 4 + 4 * i);
        if (dims[i] == 0) return anet_fail(ANET_E_FORMAT, "%s: dimension %u is zero", s->path, i);
        total *= dims[i];
        if (total > ANET_IDX_MAX_BYTES)
            return anet_fail(ANET_E_NOMEM, "%s: dimensions too large: over the %llu-byte limit", s->path,
                             (unsigned long long)ANET_IDX_MAX_BYTES);
    }
    *payload = total;
    return ANET_OK;
}

static anet_status read_payload(src *s, uint64_t size, const char *what, uint8_t **out) {
    uint8_t *buf = malloc(size ? (size_t)size : 1);
    if (!buf) return anet_fail(ANET_E_NOMEM, "%s: cannot allocate %llu bytes", s->path, (unsigned long long)size);
    size_t got = 0;
    anet_status st = src_read(s, buf, (size_t)size, &got);
    if (st == ANET_OK && got < size)
        st = anet_fail(ANET_E_FORMAT, "%s: truncated: expected %llu bytes of %s, got %zu", s->path,
                       (unsigned long long)size, what, got);
    if (st == ANET_OK) st = src_expect_end(s);
    if (st != ANET_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    return ANET_OK;
}

anet_status anet_idx_read_images(const char *path, uint8_t **pixels, uint32_t *n, uint32_t *rows, uint32_t *cols) {
    if (!path || !pixels || !n || !rows || !cols) return anet_fail(ANET_E_INVALID, "anet_idx_read_images: NULL argument");
    *pixels = NULL;
    src s;
    anet_status st = src_open(&s, path);
    if (st != ANET_OK) return st;
    uint32_t d[3] = {0, 0, 0};
    uint64_t size = 0;
    st = read_header(&s, ANET_IDX_MAGIC_IMAGES, 3, d, &size);
    if (st == ANET_OK) st = read_payload(&s, size, "pixels", pixels);
    src_close(&s);
    if (st != ANET_OK) return st;
    *n = d[0];
    *rows = d[1];
    *cols = d[2];
    return ANET_OK;
}

anet_status anet_idx_read_labels(const char *path, uint32_t num_classes, uint8_t **labels, uint32_t *n) {
    if (!path || !labels || !n) return anet_fail(ANET_E_INVALID, "anet_idx_read_labels: NULL argument");
    *labels = NULL;
    src s;
    anet_status st = src_open(&s, path);
    if (st != ANET_OK) return st;
    uint32_t d[1] = {0};
    uint64_t size = 0;
    uint8_t *buf = NULL;
    st = read_header(&s, ANET_IDX_MAGIC_LABELS, 1, d, &size);
    if (st == ANET_OK) st = read_payload(&s, size, "labels", &buf);
    src_close(&s);
    if (st != ANET_OK) return st;
    if (num_classes > 0) {
        for (uint32_t i = 0; i < d[0]; i++)
            if (buf[i] >= num_classes) {
                free(buf);
                return anet_fail(ANET_E_FORMAT, "%s: label %u at index %u is out of range (%u classes)", path,
                                 buf[i], i, num_classes);
            }
    }
    *labels = buf;
    *n = d[0];
    return ANET_OK;
}

anet_status anet_file_decoded_stream(const char *path, anet_bytes_cb cb, void *ctx) {
    src s;
    anet_status st = src_open(&s, path);
    if (st != ANET_OK) return st;
    enum { CHUNK = 1 << 16 };
    uint8_t *buf = malloc(CHUNK);
    if (!buf) {
        src_close(&s);
        return anet_fail(ANET_E_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        size_t got = 0;
        st = src_read(&s, buf, CHUNK, &got);
        if (st != ANET_OK || got == 0) break;
        st = cb(ctx, buf, got);
        if (st != ANET_OK || got < CHUNK) break;
    }
    if (st == ANET_OK) st = src_expect_end(&s);
    free(buf);
    src_close(&s);
    return st;
}

int anet_file_is_gzip(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char m[2];
    size_t got = fread(m, 1, 2, f);
    fclose(f);
    return got == 2 && m[0] == 0x1f && m[1] == 0x8b;
}
