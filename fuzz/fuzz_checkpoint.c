/* libFuzzer target for the checkpoint (safetensors) reader: any input must be accepted or
 * refused cleanly; what is accepted must describe tensors that tile the data exactly, and must
 * survive write -> read unchanged. Its metadata, taken as training options (--resume), is
 * refused or gives options in range. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/checkpoint.h"
#include "train/trainer.h"

/* Metadata besides the per-tensor checksums (which every write recomputes). */
static int plain_meta(const anet_ckpt *c) {
    int n = 0;
    for (int i = 0; i < c->nmeta; i++)
        n += strncmp(c->meta[i].key, ANET_CKPT_CHECKSUM_PREFIX, strlen(ANET_CKPT_CHECKSUM_PREFIX)) != 0;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    anet_ckpt c;
    if (anet_ckpt_parse(data, size, "fuzz", &c) != ANET_OK) {
        if (c.ntensors != 0 || c.tensors || c.meta) abort(); /* a refusal leaves nothing behind */
        return 0;
    }
    anet_train_options o;
    anet_train_options_default(&o);
    char model[256], ds[512];
    if (anet_train_options_from_ckpt(&c, "fuzz", &o, model, sizeof model, ds, sizeof ds) == ANET_OK) {
        if (o.batch_size < 1 || o.batch_size > ANET_MAX_BATCH || o.warmup_steps < 0 ||
            (uint64_t)o.warmup_steps > ANET_CKPT_MAX_COUNTER || o.schedule_steps < 0 ||
            (uint64_t)o.schedule_steps > ANET_CKPT_MAX_COUNTER || o.loss_scale_growth < 1 || !isfinite(o.opt.lr) ||
            !isfinite(o.opt.eps) || !isfinite(o.opt.momentum) || !isfinite(o.opt.beta1) || !isfinite(o.opt.beta2) ||
            !isfinite(o.opt.weight_decay))
            abort();
    }
    size_t total = 0;
    for (int i = 0; i < c.ntensors; i++) total += c.tensors[i].nbytes;
    if (total > size) abort();
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_ckpt_%ld.safetensors", (long)getpid());
    if (anet_ckpt_write(path, c.tensors, c.ntensors, c.meta, c.nmeta) == ANET_OK) {
        anet_ckpt d;
        if (anet_ckpt_read(path, &d) != ANET_OK || d.ntensors != c.ntensors || plain_meta(&d) != plain_meta(&c) ||
            d.nmeta != plain_meta(&c) + c.ntensors)
            abort();
        for (int i = 0; i < c.ntensors; i++) {
            const anet_ckpt_tensor *t = anet_ckpt_find(&d, c.tensors[i].name);
            if (!t || t->nbytes != c.tensors[i].nbytes || t->dtype != c.tensors[i].dtype ||
                t->rank != c.tensors[i].rank || memcmp(t->data, c.tensors[i].data, t->nbytes) != 0)
                abort();
        }
        anet_ckpt_free(&d);
        unlink(path);
    }
    anet_ckpt_free(&c);
    return 0;
}
