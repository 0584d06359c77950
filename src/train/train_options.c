/* Training options: their defaults, and the ones a checkpoint records (--resume, eval). */
#include "train/trainer.h"

#include <float.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "train/checkpoint.h"
#include "train/loss_scale.h"
#include "train/optim_cpu.h"

void anet_train_options_default(anet_train_options *o) {
    memset(o, 0, sizeof *o);
    o->model = "mlp:784-128-10";
    o->epochs = 5;
    o->batch_size = 128;
    anet_opt_config_default(ANET_OPT_ADAM, &o->opt);
    o->schedule = ANET_SCHED_CONSTANT;
    o->seed = 0;
    o->backend = "auto";
    o->chip = ANET_CHIP_M4;
    o->update = ANET_UPDATE_CPU;
    o->numerics = ANET_NUMERICS_FP16;
    o->loss_scale = 32768.0f;
    o->loss_scale_growth = 1000;
}

/* A name the checkpoint gives for an option: one of the known ones, or a FORMAT error. */
static anet_status meta_name(const anet_ckpt *c, const char *path, const char *key, int bad) {
    return bad ? anet_fail(ANET_E_FORMAT, "checkpoint %s: metadata %s = \"%.40s\" is not a known value", path, key,
                           anet_ckpt_get_meta(c, key))
               : ANET_OK;
}

static anet_status meta_text(const anet_ckpt *c, const char *path, const char *key, char *buf, size_t len,
                             const char **out) {
    const char *v = anet_ckpt_get_meta(c, key);
    if (!v) return ANET_OK;
    if (strlen(v) >= len)
        return anet_fail(ANET_E_FORMAT, "checkpoint %s: metadata %s is longer than %zu characters", path, key, len - 1);
    snprintf(buf, len, "%s", v);
    *out = buf;
    return ANET_OK;
}

anet_status anet_train_options_from_ckpt(const anet_ckpt *c, const char *path, anet_train_options *o,
                                         char *model_buf, size_t model_len, char *ds_buf, size_t ds_len) {
    const char *v;
    anet_status st;
    if ((st = meta_text(c, path, "model", model_buf, model_len, &o->model)) != ANET_OK) return st;
    /* "" (in-memory arrays) is no dataset: o->dataset stays as it is. */
    const char *ds = anet_ckpt_get_meta(c, "dataset");
    if (ds && ds[0] && (st = meta_text(c, path, "dataset", ds_buf, ds_len, &o->dataset)) != ANET_OK) return st;
    if ((v = anet_ckpt_get_meta(c, "optimizer")) &&
        (st = meta_name(c, path, "optimizer", anet_opt_kind_lookup(v, &o->opt.kind) != 0)) != ANET_OK)
        return st;
    /* Hyper-parameters: finite and representable as float here; their own ranges are checked
     * by the optimizer (anet_optim_cpu_init). */
    static const struct { const char *key; size_t off; } reals[] = {
        {"lr", offsetof(anet_opt_config, lr)},
        {"momentum", offsetof(anet_opt_config, momentum)},
        {"weight_decay", offsetof(anet_opt_config, weight_decay)},
        {"beta1", offsetof(anet_opt_config, beta1)},
        {"beta2", offsetof(anet_opt_config, beta2)},
        {"eps", offsetof(anet_opt_config, eps)},
    };
    for (size_t k = 0; k < sizeof reals / sizeof reals[0]; k++) {
        float *f = (float *)(void *)((char *)&o->opt + reals[k].off);
        double d = *f;
        if ((st = anet_ckpt_meta_real(c, path, reals[k].key, 0, FLT_MAX, 0, &d)) != ANET_OK) return st;
        *f = (float)d;
    }
    uint64_t u = (uint64_t)o->batch_size;
    if ((st = anet_ckpt_meta_uint(c, path, "batch_size", 1, ANET_MAX_BATCH, 0, &u)) != ANET_OK) return st;
    o->batch_size = (int)u;
    if ((st = anet_ckpt_meta_uint(c, path, "seed", 0, UINT64_MAX, 0, &o->seed)) != ANET_OK) return st;
    if ((v = anet_ckpt_get_meta(c, "schedule")) &&
        (st = meta_name(c, path, "schedule", anet_sched_kind_lookup(v, &o->schedule) != 0)) != ANET_OK)
        return st;
    u = (uint64_t)o->warmup_steps;
    if ((st = anet_ckpt_meta_uint(c, path, "warmup_steps", 0, ANET_CKPT_MAX_COUNTER, 0, &u)) != ANET_OK) return st;
    o->warmup_steps = (int64_t)u;
    if ((v = anet_ckpt_get_meta(c, "update"))) {
        if ((st = meta_name(c, path, "update", strcmp(v, "ane") != 0 && strcmp(v, "cpu") != 0)) != ANET_OK) return st;
        o->update = strcmp(v, "ane") == 0 ? ANET_UPDATE_ANE : ANET_UPDATE_CPU;
    }
    if ((v = anet_ckpt_get_meta(c, "numerics"))) {
        if ((st = meta_name(c, path, "numerics", strcmp(v, "fp32") != 0 && strcmp(v, "fp16") != 0)) != ANET_OK)
            return st;
        o->numerics = strcmp(v, "fp32") == 0 ? ANET_NUMERICS_FP32 : ANET_NUMERICS_FP16;
    }
    if ((v = anet_ckpt_get_meta(c, "program_form"))) {
        if ((st = meta_name(c, path, "program_form", strcmp(v, "auto") != 0 && strcmp(v, "device") != 0)) != ANET_OK)
            return st;
        o->device_form = strcmp(v, "device") == 0;
    }
    u = (uint64_t)o->schedule_steps;
    if ((st = anet_ckpt_meta_uint(c, path, "schedule_steps", 0, ANET_CKPT_MAX_COUNTER, 0, &u)) != ANET_OK) return st;
    o->schedule_steps = (int64_t)u;
    u = (uint64_t)o->loss_scale_growth;
    if ((st = anet_ckpt_meta_uint(c, path, "loss_scale_growth", 1, ANET_LOSS_SCALE_MAX_GROWTH, 0, &u)) != ANET_OK) return st;
    o->loss_scale_growth = (int)u;
    if ((v = anet_ckpt_get_meta(c, "chip")) &&
        (st = meta_name(c, path, "chip", anet_chip_lookup(v, &o->chip) != 0)) != ANET_OK)
        return st;
    if ((st = anet_ckpt_meta_real(c, path, "val_split", 0, 0.999999, 0, &o->val_split)) != ANET_OK) return st;
    return ANET_OK;
}
