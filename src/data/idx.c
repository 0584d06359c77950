/* IDX reader. Everything read from the file is checked before it is trusted: the header before
 * any allocation, the payload length exactly (short = truncated, longer = trailing data), and for
 * gzip the CRC and length trailer, which zlib only checks when it reaches the end of the stream. */
#include "data/idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/bigbuf.h"
#include "core/error.h"
#include "core/safe_file.h"

/* One open input, raw or gzip. Gzip is inflated here with zlib's inflate (not gzread) so that
 * the end of the stream is exact: bytes after the last gzip member are an error, which gzread
 * would silently skip. */
typedef struct {
    const char *path;
    FILE *f;
    int gz;             /* 1 when the file is gzip */
    int gz_done;        /* the last member ended and the file ended with it */
    int gz_cut;         /* the file ended inside a gzip stream */
    z_stream z;
    unsigned char *in;  /* compressed input buffer (gzip only) */
} src;

enum { IN_CHUNK = 1 << 16 };

static anet_status src_start(src *s);

static anet_status src_open(src *s, const char *path) {
    memset(s, 0, sizeof *s);
    s->path = path;
    /* A FIFO or device is refused before it is read (it would block or never end). */
    anet_status st = anet_fopen_input(path, NULL, &s->f, NULL);
    if (st != ANET_OK) return st;
    return src_start(s);
}

/* The same over bytes in memory (fmemopen): one reader for files and buffers. */
static anet_status src_open_mem(src *s, const uint8_t *buf, size_t len, const char *name) {
    memset(s, 0, sizeof *s);
    s->path = name ? name : "(memory)";
    static const uint8_t none[1] = {0};
    /* fmemopen needs a non-empty buffer; an empty input is the first byte of a 1-byte one cut to 0. */
    s->f = fmemopen((void *)(len ? buf : none), len ? len : 1, "rb");
    if (!s->f) return anet_fail(ANET_E_NOMEM, "%s: cannot open the bytes in memory", s->path);
    if (!len) fseek(s->f, 0, SEEK_END);
    return src_start(s);
}

/* Detects gzip from the first two bytes and starts the decoder. */
static anet_status src_start(src *s) {
    const char *path = s->path;
    unsigned char m[2];
    size_t got = fread(m, 1, 2, s->f);
    if (ferror(s->f)) {
        int e = errno;
        fclose(s->f);
        s->f = NULL;
        return anet_fail(ANET_E_IO, "%s: cannot read: %s", path, strerror(e));
    }
    if (got > 0) rewind(s->f);
    if (got == 2 && m[0] == 0x1f && m[1] == 0x8b) {
        s->in = malloc(IN_CHUNK);
        /* 16 + MAX_WBITS: expect a gzip header and trailer (CRC-32 and length are checked). */
        if (!s->in || inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK) {
            free(s->in);
            fclose(s->f);
            s->f = NULL;
            s->in = NULL;
            return anet_fail(ANET_E_NOMEM, "%s: cannot start the gzip decoder", path);
        }
        s->gz = 1;
    }
    return ANET_OK;
}

static void src_close(src *s) {
    if (s->gz) inflateEnd(&s->z);
    free(s->in);
    if (s->f) fclose(s->f);
    s->f = NULL;
    s->in = NULL;
    s->gz = 0;
}

/* Tops the compressed buffer up (keeping unread bytes). Returns bytes now available. */
static anet_status refill(src *s, size_t *avail) {
    if (s->z.avail_in > 0 && s->z.next_in != s->in) memmove(s->in, s->z.next_in, s->z.avail_in);
    s->z.next_in = s->in;
    size_t r = fread(s->in + s->z.avail_in, 1, IN_CHUNK - s->z.avail_in, s->f);
    if (r == 0 && ferror(s->f)) return anet_fail(ANET_E_IO, "%s: read error: %s", s->path, strerror(errno));
    s->z.avail_in += (uInt)r;
    *avail = s->z.avail_in;
    return ANET_OK;
}

/* Reads up to n bytes; *got is how many arrived. Fails on I/O or gzip errors (bad CRC, corrupt
 * deflate data, a gzip stream cut short, garbage after it); a short read at the end of the data
 * is not an error here. */
static anet_status src_read(src *s, void *buf, size_t n, size_t *got) {
    *got = 0;
    unsigned char *p = buf;
    if (!s->gz) {
        *got = fread(p, 1, n, s->f);
        if (*got < n && ferror(s->f)) return anet_fail(ANET_E_IO, "%s: read error: %s", s->path, strerror(errno));
        return ANET_OK;
    }
    while (*got < n && !s->gz_done) {
        size_t avail = s->z.avail_in;
        anet_status st;
        if (avail == 0) {
            if ((st = refill(s, &avail)) != ANET_OK) return st;
            if (avail == 0) {
                s->gz_cut = 1;
                return anet_fail(ANET_E_FORMAT, "%s: truncated gzip stream (unexpected end of file)", s->path);
            }
        }
        size_t want = n - *got;
        if (want > (1u << 30)) want = 1u << 30;
        s->z.next_out = p + *got;
        s->z.avail_out = (uInt)want;
        int ret = inflate(&s->z, Z_NO_FLUSH);
        *got += want - s->z.avail_out;
        if (ret == Z_STREAM_END) {
            /* Another gzip member may follow (concatenated gzip); anything else is garbage. */
            if (s->z.avail_in < 2 && (st = refill(s, &avail)) != ANET_OK) return st;
            if (s->z.avail_in == 0) {
                s->gz_done = 1;
            } else if (s->z.avail_in >= 2 && s->z.next_in[0] == 0x1f && s->z.next_in[1] == 0x8b) {
                inflateReset(&s->z);
            } else {
                long long extra = (long long)s->z.avail_in;
                long here = ftell(s->f);
                if (here >= 0 && fseek(s->f, 0, SEEK_END) == 0) extra += ftell(s->f) - here;
                return anet_fail(ANET_E_FORMAT, "%s: %lld bytes of trailing garbage after the gzip stream", s->path, extra);
            }
        } else if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT) {
            return anet_fail(ANET_E_FORMAT, "%s: corrupt gzip data: %s", s->path, s->z.msg ? s->z.msg : "invalid data");
        } else if (ret == Z_MEM_ERROR) {
            return anet_fail(ANET_E_NOMEM, "%s: out of memory while decompressing", s->path);
        } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
            return anet_fail(ANET_E_FORMAT, "%s: gzip error %d", s->path, ret);
        }
    }
    return ANET_OK;
}

/* After the payload: the input must end here. For gzip this read also runs zlib to the end of
 * the stream, which checks the CRC-32 and length trailer. */
static anet_status src_expect_end(src *s) {
    unsigned char extra[64];
    size_t got = 0;
    anet_status st = src_read(s, extra, sizeof extra, &got);
    if (st != ANET_OK) return st;
    if (got > 0) return anet_fail(ANET_E_FORMAT, "%s: trailing data after the payload", s->path);
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

/* The buffer grows with the bytes that really arrive (doubling from 1 MiB), so a 20-byte file
 * whose header claims a 1 GiB payload costs 1 MiB, not 1 GiB, before it is refused. */
static anet_status read_growing(src *s, uint64_t size, uint8_t **bufp, size_t *got) {
    size_t cap = size < ((size_t)1 << 20) ? (size_t)size : ((size_t)1 << 20);
    uint8_t *buf = malloc(cap ? cap : 1);
    *got = 0;
    *bufp = buf;
    if (!buf) return anet_fail(ANET_E_NOMEM, "%s: cannot allocate %zu bytes", s->path, cap);
    for (;;) {
        size_t want = cap - *got, g = 0;
        anet_status st = src_read(s, buf + *got, want, &g);
        *got += g;
        if (st != ANET_OK || g < want || *got == size) return st;
        size_t ncap = (uint64_t)cap * 2 < size ? cap * 2 : (size_t)size;
        /* The last growth (the whole payload): where samples will be read at random (bigbuf.h). */
        uint8_t *nb = ncap == size ? anet_bigbuf_alloc(ncap) : realloc(buf, ncap);
        if (nb && ncap == size) {
            memcpy(nb, buf, *got);
            free(buf);
        }
        if (!nb) return anet_fail(ANET_E_NOMEM, "%s: cannot allocate %zu bytes", s->path, ncap);
        *bufp = buf = nb;
        cap = ncap;
    }
}

static anet_status read_payload(src *s, uint64_t size, const char *what, uint8_t **out) {
    uint8_t *buf = NULL;
    size_t got = 0;
    anet_status st = read_growing(s, size, &buf, &got);
    if (st != ANET_OK && s->gz_cut && got < size) /* say how much of the payload arrived */
        st = anet_fail(ANET_E_FORMAT, "%s: truncated: expected %llu bytes of %s, got %zu (gzip stream cut short)",
                       s->path, (unsigned long long)size, what, got);
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

static anet_status images_from(src *s, anet_status st, uint8_t **pixels, uint32_t *n, uint32_t *rows, uint32_t *cols);
static anet_status labels_from(src *s, anet_status st, uint32_t num_classes, uint8_t **labels, uint32_t *n);

anet_status anet_idx_read_images(const char *path, uint8_t **pixels, uint32_t *n, uint32_t *rows, uint32_t *cols) {
    if (!path || !pixels || !n || !rows || !cols) return anet_fail(ANET_E_INVALID, "anet_idx_read_images: NULL argument");
    *pixels = NULL;
    src s;
    return images_from(&s, src_open(&s, path), pixels, n, rows, cols);
}

anet_status anet_idx_parse_images(const uint8_t *buf, size_t len, const char *name, uint8_t **pixels, uint32_t *n,
                                  uint32_t *rows, uint32_t *cols) {
    if ((!buf && len) || !pixels || !n || !rows || !cols)
        return anet_fail(ANET_E_INVALID, "anet_idx_parse_images: NULL argument");
    *pixels = NULL;
    src s;
    return images_from(&s, src_open_mem(&s, buf, len, name), pixels, n, rows, cols);
}

/* Reads an images file from an opened source (st: how the opening went) and closes it. */
static anet_status images_from(src *s, anet_status st, uint8_t **pixels, uint32_t *n, uint32_t *rows, uint32_t *cols) {
    if (st != ANET_OK) return st;
    uint32_t d[3] = {0, 0, 0};
    uint64_t size = 0;
    st = read_header(s, ANET_IDX_MAGIC_IMAGES, 3, d, &size);
    if (st == ANET_OK) st = read_payload(s, size, "pixels", pixels);
    src_close(s);
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
    return labels_from(&s, src_open(&s, path), num_classes, labels, n);
}

anet_status anet_idx_parse_labels(const uint8_t *buf, size_t len, const char *name, uint32_t num_classes,
                                  uint8_t **labels, uint32_t *n) {
    if ((!buf && len) || !labels || !n) return anet_fail(ANET_E_INVALID, "anet_idx_parse_labels: NULL argument");
    *labels = NULL;
    src s;
    return labels_from(&s, src_open_mem(&s, buf, len, name), num_classes, labels, n);
}

static anet_status labels_from(src *s, anet_status st, uint32_t num_classes, uint8_t **labels, uint32_t *n) {
    if (st != ANET_OK) return st;
    const char *path = s->path;
    uint32_t d[1] = {0};
    uint64_t size = 0;
    uint8_t *buf = NULL;
    st = read_header(s, ANET_IDX_MAGIC_LABELS, 1, d, &size);
    if (st == ANET_OK) st = read_payload(s, size, "labels", &buf);
    src_close(s);
    if (st != ANET_OK) return st;
    if (num_classes > 0) {
        for (uint32_t i = 0; i < d[0]; i++)
            if (buf[i] >= num_classes) {
                unsigned bad = buf[i];
                free(buf);
                return anet_fail(ANET_E_FORMAT, "%s: label %u at index %u is out of range (%u classes)", path, bad, i,
                                 num_classes);
            }
    }
    *labels = buf;
    *n = d[0];
    return ANET_OK;
}

anet_status anet_idx_peek_count(const char *path, uint32_t magic, uint32_t *n) {
    if (!path || !n) return anet_fail(ANET_E_INVALID, "anet_idx_peek_count: NULL argument");
    src s;
    anet_status st = src_open(&s, path);
    if (st != ANET_OK) return st;
    uint32_t d[3] = {0, 0, 0};
    uint64_t size = 0;
    st = read_header(&s, magic, magic == ANET_IDX_MAGIC_IMAGES ? 3 : 1, d, &size);
    src_close(&s);
    if (st == ANET_OK) *n = d[0];
    return st;
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
    FILE *f;
    if (anet_fopen_input(path, NULL, &f, NULL) != ANET_OK) return -1;
    unsigned char m[2];
    size_t got = fread(m, 1, 2, f);
    fclose(f);
    return got == 2 && m[0] == 0x1f && m[1] == 0x8b;
}
