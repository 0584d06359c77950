/* TensorBoard event files (tensorboard.h). */
#include "train/tensorboard.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/error.h"

uint32_t anet_crc32c(const void *p, size_t n) {
    const uint8_t *b = p;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= b[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

uint32_t anet_tb_mask_crc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

/* ---- protobuf encoding (just what Event needs) ---- */

typedef struct pbuf {
    uint8_t b[512];
    size_t n;
    int over;
} pbuf;

static void put(pbuf *p, const void *d, size_t n) {
    if (p->n + n > sizeof p->b) {
        p->over = 1;
        return;
    }
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void varint(pbuf *p, uint64_t v) {
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n++] = (uint8_t)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put(p, t, n);
}

static void key(pbuf *p, int field, int wire) { varint(p, (uint64_t)field << 3 | (uint64_t)wire); }

static void le(pbuf *p, uint64_t v, int bytes) {
    uint8_t t[8];
    for (int i = 0; i < bytes; i++) t[i] = (uint8_t)(v >> (8 * i));
    put(p, t, (size_t)bytes);
}

static void f64(pbuf *p, int field, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    key(p, field, 1);
    le(p, u, 8);
}

static void f32(pbuf *p, int field, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    key(p, field, 5);
    le(p, u, 4);
}

static void bytes(pbuf *p, int field, const void *d, size_t n) {
    key(p, field, 2);
    varint(p, n);
    put(p, d, n);
}

/* ---- records ---- */

static anet_status write_record(anet_tb *tb, const pbuf *ev) {
    if (ev->over) return anet_fail(ANET_E_INTERNAL, "tensorboard: event too large");
    uint8_t head[12];
    uint64_t n = ev->n;
    for (int i = 0; i < 8; i++) head[i] = (uint8_t)(n >> (8 * i));
    uint32_t hc = anet_tb_mask_crc(anet_crc32c(head, 8)), dc = anet_tb_mask_crc(anet_crc32c(ev->b, ev->n));
    for (int i = 0; i < 4; i++) head[8 + i] = (uint8_t)(hc >> (8 * i));
    uint8_t tail[4];
    for (int i = 0; i < 4; i++) tail[i] = (uint8_t)(dc >> (8 * i));
    if (fwrite(head, 1, 12, tb->f) != 12 || fwrite(ev->b, 1, ev->n, tb->f) != ev->n || fwrite(tail, 1, 4, tb->f) != 4 ||
        fflush(tb->f) != 0)
        return anet_fail(ANET_E_IO, "tensorboard: writing the event file: %s", strerror(errno));
    return ANET_OK;
}

static double wall_now(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

anet_status anet_tb_open(anet_tb *tb, const char *dir) {
    tb->f = NULL;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return anet_fail(ANET_E_IO, "--tensorboard %s: cannot create the directory: %s", dir, strerror(errno));
    char host[64] = "localhost", path[4300];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    double now = wall_now();
    snprintf(path, sizeof path, "%s/events.out.tfevents.%lld.%s.%ld", dir, (long long)now, host, (long)getpid());
    /* A new file every run (O_EXCL), never through a symlink planted under that name. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) return anet_fail(ANET_E_IO, "--tensorboard: cannot create %s: %s", path, strerror(errno));
    tb->f = fdopen(fd, "wb");
    if (!tb->f) {
        close(fd);
        return anet_fail(ANET_E_IO, "--tensorboard: cannot open %s: %s", path, strerror(errno));
    }
    pbuf ev = {.n = 0};
    f64(&ev, 1, now);
    bytes(&ev, 3, "brain.Event:2", 13);
    anet_status st = write_record(tb, &ev);
    if (st != ANET_OK) anet_tb_close(tb);
    return st;
}

anet_status anet_tb_scalar(anet_tb *tb, const char *tag, int64_t step, double wall_time, double value) {
    if (!tb->f) return ANET_OK;
    pbuf val = {.n = 0}, sum = {.n = 0}, ev = {.n = 0};
    bytes(&val, 1, tag, strlen(tag));
    f32(&val, 2, (float)value);
    bytes(&sum, 1, val.b, val.n);
    f64(&ev, 1, wall_time);
    key(&ev, 2, 0);
    varint(&ev, (uint64_t)step);
    bytes(&ev, 5, sum.b, sum.n);
    if (val.over || sum.over) ev.over = 1;
    return write_record(tb, &ev);
}

anet_status anet_tb_record(anet_tb *tb, const anet_metrics_record *r) {
    if (!tb->f || !r->event) return ANET_OK;
    int epoch = strcmp(r->event, "epoch") == 0;
    if (!epoch && strcmp(r->event, "step") != 0) return ANET_OK;
    const struct {
        const char *name;
        double v;
    } f[] = {
        {"loss", r->train_loss},          {"train_acc", r->train_acc},     {"test_acc", r->test_acc},
        {"val_acc", r->val_acc},          {"val_loss", r->val_loss},       {"lr", r->lr},
        {"samples_per_s", r->samples_per_s}, {"loss_scale", r->loss_scale},
        {"dispatches_per_step", r->dispatches_per_step}, {"host_us_per_step", r->host_us_per_step},
        {"state_bytes_copied_per_step", r->state_bytes_per_step},
        {"batch_bytes_copied_per_step", r->batch_bytes_per_step},
    };
    double now = wall_now();
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (!isfinite(f[i].v)) continue;
        char tag[64];
        snprintf(tag, sizeof tag, "%s/%s", epoch ? "epoch" : "step", f[i].name);
        anet_status st = anet_tb_scalar(tb, tag, r->step, now, f[i].v);
        if (st != ANET_OK) return st;
    }
    return ANET_OK;
}

void anet_tb_close(anet_tb *tb) {
    if (tb->f) fclose(tb->f);
    tb->f = NULL;
}
