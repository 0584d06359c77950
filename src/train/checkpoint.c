/* safetensors reader/writer with atomic replacement. */
#include "train/checkpoint.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "core/safe_file.h"

static const char *dtype_tag(anet_dtype t) {
    return t == ANET_DT_FP32 ? "F32" : t == ANET_DT_FP16 ? "F16" : NULL;
}

static int64_t tensor_elems(const anet_ckpt_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 1 || t->dims[i] > ANET_MAX_ELEMENTS) return -1;
        n *= t->dims[i];
        if (n > ANET_MAX_ELEMENTS) return -1;
    }
    return n;
}

static void put_u64le(uint8_t *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64le(const uint8_t *b) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* The directory part of path ("." when there is none), for the temp file and the dir fsync. */
static void dir_of(const char *path, char *dir, size_t len) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, len, ".");
    } else if (slash == path) {
        snprintf(dir, len, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= len) n = len - 1;
        memcpy(dir, path, n);
        dir[n] = 0;
    }
}

/* CRC-32 (zlib) of a tensor's bytes, in chunks zlib's uInt can take. */
static uint32_t tensor_crc(const void *data, size_t n) {
    uLong crc = crc32(0L, Z_NULL, 0);
    const Bytef *p = data;
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)crc;
}

static int is_checksum_key(const char *k) { return strncmp(k, ANET_CKPT_CHECKSUM_PREFIX, strlen(ANET_CKPT_CHECKSUM_PREFIX)) == 0; }

static char *build_header(const anet_ckpt_tensor *t, int n, const anet_ckpt_meta *meta, int nmeta,
                          uint64_t *data_len) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (nmeta > 0 || n > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        if (!m) goto fail;
        for (int i = 0; i < nmeta; i++)
            if (!is_checksum_key(meta[i].key) && !cJSON_AddStringToObject(m, meta[i].key, meta[i].value)) goto fail;
        /* One checksum per tensor, recomputed on every write (a caller's stale ones are dropped). */
        for (int i = 0; i < n; i++) {
            char key[96], val[24];
            snprintf(key, sizeof key, ANET_CKPT_CHECKSUM_PREFIX "%s", t[i].name);
            snprintf(val, sizeof val, "crc32:%08x", (unsigned)tensor_crc(t[i].data, t[i].nbytes));
            if (!cJSON_AddStringToObject(m, key, val)) goto fail;
        }
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_AddObjectToObject(root, t[i].name);
        if (!o || !cJSON_AddStringToObject(o, "dtype", dtype_tag(t[i].dtype))) goto fail;
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        if (!shape) goto fail;
        for (int d = 0; d < t[i].rank; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].dims[d]));
        cJSON *offs = cJSON_AddArrayToObject(o, "data_offsets");
        if (!offs) goto fail;
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += t[i].nbytes;
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    *data_len = off;
    return s;
fail:
    cJSON_Delete(root);
    return NULL;
}

anet_status anet_ckpt_write(const char *path, const anet_ckpt_tensor *t, int n,
                            const anet_ckpt_meta *meta, int nmeta) {
    if (!path || !path[0]) return anet_fail(ANET_E_INVALID, "checkpoint: empty path");
    if (n < 0 || n > ANET_CKPT_MAX_TENSORS || nmeta < 0)
        return anet_fail(ANET_E_INVALID, "checkpoint %s: %d tensors", path, n);
    for (int i = 0; i < n; i++) {
        int64_t e = tensor_elems(&t[i]);
        if (!dtype_tag(t[i].dtype) || t[i].rank < 0 || t[i].rank > ANET_CKPT_MAX_RANK || e < 0 ||
            (uint64_t)e * anet_dtype_size(t[i].dtype) != t[i].nbytes || !t[i].data ||
            !t[i].name[0] || strcmp(t[i].name, "__metadata__") == 0)
            return anet_fail(ANET_E_INVALID, "checkpoint %s: tensor '%s' is malformed", path,
                             t[i].name);
        for (int j = 0; j < i; j++)
            if (strcmp(t[i].name, t[j].name) == 0)
                return anet_fail(ANET_E_INVALID, "checkpoint %s: tensor '%s' twice", path,
                                 t[i].name);
    }
    uint64_t data_len = 0;
    char *hdr = build_header(t, n, meta, nmeta, &data_len);
    if (!hdr) return anet_fail(ANET_E_NOMEM, "checkpoint %s: cannot build the header", path);
    size_t hlen = strlen(hdr);
    size_t padded = (hlen + 7) & ~(size_t)7; /* data 8-byte aligned, as safetensors writers do */

    char dir[4096], tmp[4200];
    dir_of(path, dir, sizeof dir);
    /* A name of its own for every write (mkstemp: O_CREAT | O_EXCL), so two writers of one
     * path (two trainers in a process, or two processes) never share a temporary file. The pid
     * in it tells a later run whether the writer is still alive (trainer.c remove_stale_temps). */
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
    int fd = mkstemp(tmp);
    if (fd >= 0 && fchmod(fd, 0644) != 0) { /* mkstemp creates 0600; a checkpoint is a normal file */
        int e = errno;
        close(fd);
        unlink(tmp);
        free(hdr);
        return anet_fail(ANET_E_IO, "checkpoint %s: cannot set the mode of %s: %s", path, tmp, strerror(e));
    }
    if (fd < 0) {
        int e = errno;
        free(hdr);
        return anet_fail(ANET_E_IO, "checkpoint %s: cannot create %s: %s", path, tmp, strerror(e));
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        free(hdr);
        return anet_fail(ANET_E_IO, "checkpoint %s: %s", path, strerror(e));
    }
    uint8_t len8[8];
    put_u64le(len8, (uint64_t)padded);
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hlen, f) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    free(hdr);
    for (int i = 0; ok && i < n; i++) ok = fwrite(t[i].data, 1, t[i].nbytes, f) == t[i].nbytes;
    int e = 0;
    if (ok && fflush(f) != 0) ok = 0;
    if (!ok) e = errno;
    if (ok && fsync(fileno(f)) != 0) {
        ok = 0;
        e = errno;
    }
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        return anet_fail(ANET_E_IO, "checkpoint %s: write failed: %s", path,
                         e ? strerror(e) : "short write");
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return anet_fail(ANET_E_IO, "checkpoint %s: cannot rename %s: %s", path, tmp, strerror(e));
    }
    /* The rename itself must reach the disk too. */
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return ANET_OK;
}

void anet_ckpt_free(anet_ckpt *c) {
    if (!c) return;
    for (int i = 0; i < c->ntensors; i++) free(c->tensors[i].data);
    for (int i = 0; i < c->nmeta; i++) {
        free(c->meta[i].key);
        free(c->meta[i].value);
    }
    free(c->tensors);
    free(c->meta);
    memset(c, 0, sizeof *c);
}

/* A JSON number that is a non-negative integer up to max. */
static int json_uint(const cJSON *j, uint64_t max, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0) || d > (double)max || d != (double)(uint64_t)d) return -1;
    *out = (uint64_t)d;
    return 0;
}

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

typedef struct span {
    uint64_t b, e;
    int idx;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : 0;
}

/* An optimizer's second moment (Adam's v) is a mean of squares: never negative. */
static int is_second_moment(const char *name) {
    return strncmp(name, "opt.v.", 6) == 0 || strncmp(name, "ane.v.", 6) == 0;
}

/* What the bytes hold: each tensor's recorded checksum matches (a flipped bit is caught), every
 * value is finite (a NaN weight would make every later step non-finite, and every step be
 * skipped), and second moments are not negative (Adam would take the square root). */
static anet_status check_values(const char *path, const anet_ckpt *c) {
    int nsum = 0;
    for (int i = 0; i < c->nmeta; i++) {
        if (!is_checksum_key(c->meta[i].key)) continue;
        nsum++;
        const char *tn = c->meta[i].key + strlen(ANET_CKPT_CHECKSUM_PREFIX);
        if (!anet_ckpt_find(c, tn))
            return anet_fail(ANET_E_FORMAT, "checkpoint %s: metadata %.80s names no tensor of the file", path,
                             c->meta[i].key);
    }
    for (int i = 0; i < c->ntensors; i++) {
        const anet_ckpt_tensor *t = &c->tensors[i];
        char key[96];
        snprintf(key, sizeof key, ANET_CKPT_CHECKSUM_PREFIX "%s", t->name);
        const char *rec = anet_ckpt_get_meta(c, key);
        if (!rec && nsum > 0)
            return anet_fail(ANET_E_FORMAT, "checkpoint %s: tensor %s has no checksum (the others have)", path,
                             t->name);
        if (rec) {
            char want[24];
            snprintf(want, sizeof want, "crc32:%08x", (unsigned)tensor_crc(t->data, t->nbytes));
            if (strcmp(rec, want) != 0)
                return anet_fail(ANET_E_FORMAT, "checkpoint %s: tensor %s does not match its checksum (%.24s "
                                 "recorded, %s read): the file is damaged", path, t->name, rec, want);
        }
        size_t n = t->nbytes / anet_dtype_size(t->dtype);
        int moment = is_second_moment(t->name);
        for (size_t k = 0; k < n; k++) {
            int finite, negative;
            if (t->dtype == ANET_DT_FP16) {
                uint16_t h;
                memcpy(&h, (const uint8_t *)t->data + 2 * k, 2);
                finite = (h & 0x7c00) != 0x7c00;
                negative = (h & 0x8000) && (h & 0x7fff);
            } else {
                float f;
                memcpy(&f, (const uint8_t *)t->data + 4 * k, 4);
                finite = isfinite(f);
                negative = f < 0;
            }
            if (!finite)
                return anet_fail(ANET_E_FORMAT, "checkpoint %s: tensor %s holds a non-finite value at element %zu",
                                 path, t->name, k);
            if (moment && negative)
                return anet_fail(ANET_E_FORMAT, "checkpoint %s: tensor %s (a second moment) holds a negative value "
                                 "at element %zu", path, t->name, k);
        }
    }
    return ANET_OK;
}

static anet_status parse_header(const char *path, const char *json, size_t jlen,
                                const uint8_t *data, uint64_t data_len, anet_ckpt *c) {
    cJSON *root = cJSON_ParseWithLength(json, jlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return anet_fail(ANET_E_FORMAT, "checkpoint %s: the header is not a JSON object", path);
    }
    anet_status st = ANET_OK;
    int count = cJSON_GetArraySize(root);
    span *spans = NULL;
    if (count > ANET_CKPT_MAX_TENSORS + 1) {
        st = anet_fail(ANET_E_FORMAT, "checkpoint %s: %d header entries (at most %d)", path, count,
                       ANET_CKPT_MAX_TENSORS);
        goto done;
    }
    c->tensors = calloc((size_t)count + 1, sizeof *c->tensors);
    spans = calloc((size_t)count + 1, sizeof *spans);
    if (!c->tensors || !spans) {
        st = anet_fail(ANET_E_NOMEM, "checkpoint %s: out of memory", path);
        goto done;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const char *name = it->string ? it->string : "";
        if (strcmp(name, "__metadata__") == 0) {
            if (!cJSON_IsObject(it) || c->meta) {
                st = anet_fail(ANET_E_FORMAT, "checkpoint %s: __metadata__ is not a string map", path);
                goto done;
            }
            int nm = cJSON_GetArraySize(it);
            c->meta = calloc((size_t)nm + 1, sizeof *c->meta);
            if (!c->meta) {
                st = anet_fail(ANET_E_NOMEM, "checkpoint %s: out of memory", path);
                goto done;
            }
            const cJSON *kv;
            cJSON_ArrayForEach(kv, it) {
                if (!cJSON_IsString(kv) || !kv->string) {
                    st = anet_fail(ANET_E_FORMAT, "checkpoint %s: metadata '%s' is not a string",
                                   path, kv->string ? kv->string : "?");
                    goto done;
                }
                c->meta[c->nmeta].key = dupstr(kv->string);
                c->meta[c->nmeta].value = dupstr(kv->valuestring);
                c->nmeta++;
                if (!c->meta[c->nmeta - 1].key || !c->meta[c->nmeta - 1].value) {
                    st = anet_fail(ANET_E_NOMEM, "checkpoint %s: out of memory", path);
                    goto done;
                }
            }
            continue;
        }
        anet_ckpt_tensor *t = &c->tensors[c->ntensors];
        if (!name[0] || strlen(name) >= sizeof t->name) {
            st = anet_fail(ANET_E_FORMAT, "checkpoint %s: tensor name '%.40s' is empty or too long",
                           path, name);
            goto done;
        }
        for (int j = 0; j < c->ntensors; j++)
            if (strcmp(c->tensors[j].name, name) == 0) {
                st = anet_fail(ANET_E_FORMAT, "checkpoint %s: tensor '%s' appears twice", path, name);
                goto done;
            }
        snprintf(t->name, sizeof t->name, "%s", name);
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsObject(it) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) ||
            !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2) {
            st = anet_fail(ANET_E_FORMAT,
                           "checkpoint %s: tensor '%s' needs dtype, shape and data_offsets [begin, end]",
                           path, name);
            goto done;
        }
        if (strcmp(dt->valuestring, "F32") == 0) t->dtype = ANET_DT_FP32;
        else if (strcmp(dt->valuestring, "F16") == 0) t->dtype = ANET_DT_FP16;
        else {
            st = anet_fail(ANET_E_FORMAT, "checkpoint %s: tensor '%s' has dtype %.16s (F32 or F16 expected)",
                           path, name, dt->valuestring);
            goto done;
        }
        int rank = cJSON_GetArraySize(shape);
        if (rank > ANET_CKPT_MAX_RANK) {
            st = anet_fail(ANET_E_FORMAT, "checkpoint %s: tensor '%s' has rank %d (at most %d)", path,
                           name, rank, ANET_CKPT_MAX_RANK);
            goto done;
        }
        t->rank = rank;
        for (int d = 0; d < rank; d++) {
            uint64_t v;
            if (json_uint(cJSON_GetArrayItem(shape, d), (uint64_t)ANET_MAX_ELEMENTS, &v) || v < 1) {
                st = anet_fail(ANET_E_FORMAT, "checkpoint %s: tensor '%s' has a bad shape", path, name);
                goto done;
            }
            t->dims[d] = (int64_t)v;
        }
        int64_t elems = tensor_elems(t);
        if (elems < 0) {
            st = anet_fail(ANET_E_FORMAT, "checkpoint %s: tensor '%s' has too many elements", path, name);
            goto done;
        }
        uint64_t b, e;
        if ( json_uint(cJSON_GetArrayItem(offs, 0), data_len, &b) ||
            json_uint(cJSON_GetArrayItem(offs, 1), data_len, &e) || e < b) {
            st = anet_fail(ANET_E_FORMAT,
                           "checkpoint %s: tensor '%s' has data_offsets outside the %llu data bytes",
                           path, name, (unsigned long long)data_len);
            goto done;
        }
        if (e - b != (uint64_t)elems * anet_dtype_size(t->dtype)) {
            st = anet_fail(ANET_E_FORMAT,
                           "checkpoint %s: tensor '%s' has %llu bytes but its shape needs %llu", path,
                           name, (unsigned long long)(e - b),
                           (unsigned long long)((uint64_t)elems * anet_dtype_size(t->dtype)));
            goto done;
        }
        t->nbytes = (size_t)(e - b);
        spans[c->ntensors].b = b;
        spans[c->ntensors].e = e;
        spans[c->ntensors].idx = c->ntensors;
        c->ntensors++;
    }
    /* Tensors must tile the data exactly: no overlap, no hole, nothing after the last one. */
    qsort(spans, (size_t)c->ntensors, sizeof *spans, span_cmp);
    uint64_t pos = 0;
    for (int i = 0; i < c->ntensors; i++) {
        if (spans[i].b != pos) {
            st = anet_fail(ANET_E_FORMAT, "checkpoint %s: tensor '%s' %s at byte %llu of the data",
                           path, c->tensors[spans[i].idx].name,
                           spans[i].b < pos ? "overlaps another" : "leaves a gap",
                           (unsigned long long)spans[i].b);
            goto done;
        }
        pos = spans[i].e;
    }
    if (pos != data_len) {
        st = anet_fail(ANET_E_FORMAT, "checkpoint %s: %llu data bytes but the tensors cover %llu",
                       path, (unsigned long long)data_len, (unsigned long long)pos);
        goto done;
    }
    for (int i = 0; i < c->ntensors; i++) {
        anet_ckpt_tensor *t = &c->tensors[spans[i].idx];
        t->data = malloc(t->nbytes ? t->nbytes : 1);
        if (!t->data) {
            st = anet_fail(ANET_E_NOMEM, "checkpoint %s: out of memory", path);
            goto done;
        }
        memcpy(t->data, data + spans[i].b, t->nbytes);
    }
    st = check_values(path, c);
done:
    free(spans);
    cJSON_Delete(root);
    return st;
}

/* The header-length check, shared by the file reader (before it allocates) and the parser. */
static anet_status check_hlen(const char *name, uint64_t hlen, uint64_t size) {
    if (hlen < 2 || hlen > ANET_CKPT_MAX_HEADER || hlen > size - 8)
        return anet_fail(ANET_E_FORMAT,
                         "checkpoint %s: header length %llu does not fit the %llu-byte file "
                         "(truncated or not a safetensors file)",
                         name, (unsigned long long)hlen, (unsigned long long)size);
    return ANET_OK;
}

anet_status anet_ckpt_parse(const uint8_t *buf, size_t len, const char *name, anet_ckpt *out) {
    memset(out, 0, sizeof *out);
    if (!name) name = "(memory)";
    if (!buf || len < 8 || (uint64_t)len > ANET_CKPT_MAX_FILE)
        return anet_fail(ANET_E_FORMAT, "checkpoint %s: %zu bytes is not a safetensors file", name, len);
    uint64_t hlen = get_u64le(buf);
    anet_status st = check_hlen(name, hlen, len);
    if (st != ANET_OK) return st;
    const uint8_t *hdr = buf + 8;
    if (hdr[0] != '{')
        return anet_fail(ANET_E_FORMAT, "checkpoint %s: the header is not a JSON object", name);
    st = parse_header(name, (const char *)hdr, (size_t)hlen, hdr + hlen, (uint64_t)len - 8 - hlen, out);
    if (st != ANET_OK) anet_ckpt_free(out);
    return st;
}

anet_status anet_ckpt_read(const char *path, anet_ckpt *out) {
    memset(out, 0, sizeof *out);
    if (!path || !path[0]) return anet_fail(ANET_E_INVALID, "checkpoint: empty path");
    /* A FIFO or device is refused before anything is read from it (it would block or never end). */
    uint64_t size = 0;
    FILE *f;
    anet_status st = anet_fopen_input(path, "checkpoint", &f, &size);
    if (st != ANET_OK) return st;
    if (size < 8 || size > ANET_CKPT_MAX_FILE) {
        fclose(f);
        return anet_fail(ANET_E_FORMAT, "checkpoint %s: %llu bytes is not a safetensors file", path,
                         (unsigned long long)size);
    }
    /* The header length is checked against the file size before the whole file is read. */
    uint8_t len8[8];
    if (fread(len8, 1, 8, f) != 8) {
        fclose(f);
        return anet_fail(ANET_E_IO, "checkpoint %s: cannot read the header length", path);
    }
    st = check_hlen(path, get_u64le(len8), size);
    if (st != ANET_OK) {
        fclose(f);
        return st;
    }
    uint8_t *buf = malloc((size_t)size);
    if (!buf) {
        fclose(f);
        return anet_fail(ANET_E_NOMEM, "checkpoint %s: out of memory for %llu bytes", path,
                         (unsigned long long)size);
    }
    memcpy(buf, len8, 8);
    size_t got = fread(buf + 8, 1, (size_t)(size - 8), f);
    fclose(f);
    if (got != size - 8) {
        free(buf);
        return anet_fail(ANET_E_IO, "checkpoint %s: short read", path);
    }
    st = anet_ckpt_parse(buf, (size_t)size, path, out);
    free(buf);
    return st;
}

const anet_ckpt_tensor *anet_ckpt_find(const anet_ckpt *c, const char *name) {
    for (int i = 0; i < c->ntensors; i++)
        if (strcmp(c->tensors[i].name, name) == 0) return &c->tensors[i];
    return NULL;
}

const char *anet_ckpt_get_meta(const anet_ckpt *c, const char *key) {
    for (int i = 0; i < c->nmeta; i++)
        if (strcmp(c->meta[i].key, key) == 0) return c->meta[i].value;
    return NULL;
}

static anet_status meta_absent(const char *path, const char *key, int required) {
    return required ? anet_fail(ANET_E_FORMAT, "checkpoint %s: metadata \"%s\" is missing", path, key) : ANET_OK;
}

anet_status anet_ckpt_meta_uint(const anet_ckpt *c, const char *path, const char *key, uint64_t lo, uint64_t hi,
                                int required, uint64_t *out) {
    const char *s = anet_ckpt_get_meta(c, key);
    if (!s) return meta_absent(path, key, required);
    char *end = NULL;
    errno = 0;
    unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
    if (!end || *end || errno || v < lo || v > hi)
        return anet_fail(ANET_E_FORMAT, "checkpoint %s: metadata %s = \"%.40s\" is not an integer in %llu..%llu",
                         path, key, s, (unsigned long long)lo, (unsigned long long)hi);
    *out = v;
    return ANET_OK;
}

anet_status anet_ckpt_meta_real(const anet_ckpt *c, const char *path, const char *key, double lo, double hi,
                                int required, double *out) {
    const char *s = anet_ckpt_get_meta(c, key);
    if (!s) return meta_absent(path, key, required);
    char *end = NULL;
    double v = *s && !isspace((unsigned char)*s) ? strtod(s, &end) : NAN;
    if (!end || *end || !isfinite(v) || v < lo || v > hi)
        return anet_fail(ANET_E_FORMAT, "checkpoint %s: metadata %s = \"%.40s\" is not a finite number in [%g, %g]",
                         path, key, s, lo, hi);
    *out = v;
    return ANET_OK;
}

anet_status anet_ckpt_check_model(const anet_ckpt *c, const char *path, const anet_model_spec *m,
                                  const char *what_model) {
    const char *spec = anet_ckpt_get_meta(c, "model");
    if (!spec)
        return anet_fail(ANET_E_FORMAT, "checkpoint %s has no \"model\" metadata", path);
    if (strcmp(spec, m->text) != 0)
        return anet_fail(ANET_E_MISMATCH, "checkpoint is %.200s, %s is %s", spec, what_model, m->text);
    int np = anet_model_nparams(m);
    for (int i = 0; i < np; i++) {
        anet_param_info p;
        anet_model_param(m, i, &p);
        const anet_ckpt_tensor *t = anet_ckpt_find(c, p.name);
        int is_w = p.name[0] == 'w';
        if (!t)
            return anet_fail(ANET_E_FORMAT, "checkpoint %s: parameter %s is missing", path, p.name);
        if (t->dtype != ANET_DT_FP32 || t->rank != (is_w ? 2 : 1) || t->dims[0] != p.rows ||
            (is_w && t->dims[1] != p.cols))
        {
            char shape[64];
            if (is_w) snprintf(shape, sizeof shape, "[%d, %d]", p.rows, p.cols);
            else snprintf(shape, sizeof shape, "[%d]", p.rows);
            return anet_fail(ANET_E_MISMATCH,
                             "checkpoint %s: parameter %s is not F32 of shape %s as %s needs", path,
                             p.name, shape, m->text);
        }
    }
    return ANET_OK;
}
