/* The sequence training loop (see seq_train.h). */
#include "train/seq_train.h"

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fp16.h"
#include "core/rng.h"
#include "core/safe_file.h"
#include "data/text.h"
#include "train/checkpoint.h"
#include "train/rundir.h"
#include "train/optim_cpu.h"
#include "train/seq_program.h"
#include "train/step.h"
#include "train/trainer_internal.h" /* cpu_s */
#include "train/transformer.h"

#define MAXP ANET_TFM_MAX_PARAMS

/* One-hot inputs and targets of windows w[b*(S+1) + t], in Sp >= S positions (the padded ones
 * zero) of V classes (the padded width). */
static void onehot(const uint32_t *w, int B, int S, int Sp, int V, anet_f16 *x, anet_f16 *y) {
    size_t n = (size_t)B * Sp * V;
    memset(x, 0, n * sizeof *x);
    memset(y, 0, n * sizeof *y);
    const anet_f16 one = anet_f32_to_f16(1.0f);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < S; t++) {
            x[((size_t)b * Sp + t) * V + w[(size_t)b * (S + 1) + t]] = one;
            y[((size_t)b * Sp + t) * V + w[(size_t)b * (S + 1) + t + 1]] = one;
        }
}

typedef struct run {
    anet_backend be;
    anet_tfm_config c;
    anet_text_dataset td;
    anet_forms forms;   /* the chip's program form (host_backend: vane runs the plain form instead) */
    anet_optim_cpu opt; /* fp32 weights in program form (update=cpu: master weights and AdamW state) */
    anet_seq_program train, eval;
    int np, ane;
    /* update=ane: weight parts and optimizer state as program I/O, two sets (in, out) that
     * swap after a finite step */
    anet_f16 *dev[2][MAXP][4];
    int cur;
    /* update=ane on a lowered program: the weight parts and state stay in the backend between
     * steps (train/step_resident.h); dev[cur] is then refreshed from it only when read
     * (validation, checkpoints) */
    anet_step_resident res;
    /* the rest of the state a checkpoint keeps (resume continues exactly) */
    int64_t step, t;  /* steps done; optimizer steps taken (AdamW's bias correction) */
    float scale;      /* loss scale */
    int good;         /* finite steps since the scale last changed */
    anet_rng data_rng;
    anet_f16 *x, *y;
    uint32_t *win;
} run;

/* Mean validation loss over the first nb batches of validation windows. */
static anet_status validate(run *r, int B, int64_t nb, double *out) {
    int S = r->c.ctx, Sp = anet_tfm_spad(&r->c), V = anet_tfm_vpad(&r->c);
    anet_io in[MAXP + 2], res[1];
    anet_f16 loss = 0;
    double sum = 0;
    for (int64_t k = 0; k < nb; k++) {
        for (int b = 0; b < B; b++) anet_text_val_window(&r->td, (uint32_t)S, (size_t)(k * B + b), r->win + (size_t)b * (S + 1));
        onehot(r->win, B, S, Sp, V, r->x, r->y);
        size_t nx = (size_t)B * Sp * V * sizeof(anet_f16);
        in[0] = (anet_io){r->x, nx};
        in[1] = (anet_io){r->y, nx};
        for (int i = 0; i < r->np; i++)
            in[2 + i] = (anet_io){r->ane ? r->dev[r->cur][i][0] : r->opt.w16[i], r->opt.sizes[i] * sizeof(anet_f16)};
        res[0] = (anet_io){&loss, sizeof loss};
        anet_status st = anet_seq_eval(&r->be, &r->eval, in, 2 + r->np, res, 1);
        if (st != ANET_OK) return st;
        sum += anet_f16_to_f32(loss);
    }
    *out = sum / (double)nb;
    return ANET_OK;
}

void anet_seq_spec_text(const anet_tfm_config *c, char *buf, size_t cap) {
    snprintf(buf, cap, "transformer:layers=%d,dim=%d,heads=%d,ctx=%d", c->layers, c->dim, c->heads, c->ctx);
}

/* The checkpoint: every parameter as F32 [rows, cols] under its name, the model spec, the
 * vocabulary (hex of its bytes in id order), the dataset, steps and the last validation loss. */
static void ane_store(run *r);
static const char *const dev_part[4] = {"hi", "lo", "m", "s"};

static anet_status save(run *r, const anet_seq_options *o, double val) {
    enum { NT = 5 * MAXP };
    anet_ckpt_tensor *t = calloc(NT, sizeof *t);
    float *user[MAXP] = {0};
    anet_status st = t ? ANET_OK : anet_fail(ANET_E_NOMEM, "out of memory for the checkpoint");
    int n = 0;
    for (int i = 0; i < r->np && st == ANET_OK; i++) {
        int rows, cols;
        anet_tfm_param(&r->c, i, t[n].name, &rows, &cols);
        t[n].dtype = ANET_DT_FP32;
        t[n].rank = 2;
        t[n].dims[0] = rows;
        t[n].dims[1] = cols;
        t[n].nbytes = (size_t)rows * cols * sizeof(float);
        if (!(user[i] = malloc(t[n].nbytes))) st = anet_fail(ANET_E_NOMEM, "out of memory for the checkpoint");
        else anet_tfm_from_prog(&r->c, i, r->opt.w[i], user[i]);
        t[n++].data = user[i];
    }
    /* the training state in the program form: update=ane the program's fp16 I/O, update=cpu
     * the fp32 master weights and AdamW's moments */
    for (int i = 0; i < r->np && st == ANET_OK; i++)
        for (int k = 0; k < (r->ane ? 4 : 3); k++) {
            char name[32];
            int rows, cols;
            anet_tfm_param(&r->c, i, name, &rows, &cols);
            anet_ckpt_tensor *q = &t[n++];
            q->rank = 1;
            q->dims[0] = (int64_t)r->opt.sizes[i];
            q->dtype = r->ane ? ANET_DT_FP16 : ANET_DT_FP32;
            q->nbytes = r->opt.sizes[i] * (r->ane ? 2 : 4);
            if (r->ane) snprintf(q->name, sizeof q->name, "ane.%s.%s", dev_part[k], name);
            else snprintf(q->name, sizeof q->name, "opt.%s.%s", k == 0 ? "w" : k == 1 ? "m" : "v", name);
            q->data = r->ane ? (void *)r->dev[r->cur][i][k] : (void *)(k == 0 ? r->opt.w[i] : k == 1 ? r->opt.m[i] : r->opt.v[i]);
        }
    char spec[128], vocab[513], num[12][40], rng[80];
    anet_seq_spec_text(&r->c, spec, sizeof spec);
    for (uint32_t i = 0; i < r->td.vocab.size; i++) snprintf(vocab + 2 * i, 3, "%02x", r->td.vocab.chars[i]);
    snprintf(num[0], 40, "%lld", (long long)r->step);
    snprintf(num[1], 40, "%.6f", val);
    snprintf(num[2], 40, "%d", o->batch);
    snprintf(num[3], 40, "%.9g", (double)o->lr);
    snprintf(num[4], 40, "%.9g", (double)o->beta1);
    snprintf(num[5], 40, "%.9g", (double)o->beta2);
    snprintf(num[6], 40, "%.9g", (double)o->eps);
    snprintf(num[7], 40, "%.9g", (double)o->weight_decay);
    snprintf(num[8], 40, "%.9g", (double)o->clip);
    snprintf(num[9], 40, "%lld", (long long)r->t);
    snprintf(num[10], 40, "%.9g", (double)r->scale);
    snprintf(num[11], 40, "%d", r->good);
    snprintf(rng, sizeof rng, "%016llx%016llx%016llx%016llx", (unsigned long long)r->data_rng.s[0],
             (unsigned long long)r->data_rng.s[1], (unsigned long long)r->data_rng.s[2], (unsigned long long)r->data_rng.s[3]);
    anet_ckpt_meta meta[] = {{"model", spec}, {"vocab", vocab}, {"dataset", (char *)o->dataset}, {"steps", num[0]},
                             {"val_loss", num[1]}, {"batch", num[2]}, {"lr", num[3]}, {"beta1", num[4]}, {"beta2", num[5]},
                             {"eps", num[6]}, {"weight_decay", num[7]}, {"clip", num[8]}, {"update", r->ane ? "ane" : "cpu"},
                             {"opt_t", num[9]}, {"loss_scale", num[10]}, {"good_steps", num[11]}, {"data_rng", rng},
                             {"form", r->c.vpad ? "padded" : "plain"}, {"program_form", o->device_form ? "device" : "auto"}};
    if (st == ANET_OK) st = anet_ckpt_write(o->checkpoint, t, n, meta, (int)(sizeof meta / sizeof meta[0]));
    for (int i = 0; i < r->np; i++) free(user[i]);
    free(t);
    return st;
}

int anet_seq_ckpt_device_form(const anet_ckpt *ck) {
    const char *pf = anet_ckpt_get_meta(ck, "program_form");
    return !pf || strcmp(pf, "auto") != 0;
}

static int meta_num(const anet_ckpt *ck, const char *key, double lo, double hi, double *out) {
    const char *v = anet_ckpt_get_meta(ck, key);
    char *end;
    if (!v || !*v) return 0;
    *out = strtod(v, &end);
    return !*end && *out >= lo && *out <= hi;
}

/* Whether the checkpoint's "vocab" (hex of its characters in id order) is v. */
static int vocab_is(const anet_ckpt *ck, const anet_vocab *v) {
    const char *hex = anet_ckpt_get_meta(ck, "vocab");
    if (!hex || strlen(hex) != 2 * (size_t)v->size) return 0;
    for (uint32_t i = 0; i < v->size; i++) {
        char h[3];
        snprintf(h, sizeof h, "%02x", v->chars[i]);
        if (memcmp(hex + 2 * i, h, 2) != 0) return 0;
    }
    return 1;
}

/* The training state a checkpoint of this loop holds (resume_check fills it, resume_apply
 * takes it over). */
typedef struct resumed {
    anet_ckpt ck;
    int64_t steps, t;
    float scale;
    int good;
    anet_rng rng;
} resumed;

static const anet_ckpt_tensor *state_tensor(const run *r, const anet_ckpt *ck, int i, int k, size_t size, char tn[64]) {
    char name[32];
    int rows, cols;
    anet_tfm_param(&r->c, i, name, &rows, &cols);
    if (r->ane) snprintf(tn, 64, "ane.%s.%s", dev_part[k], name);
    else snprintf(tn, 64, "opt.%s.%s", k == 0 ? "w" : k == 1 ? "m" : "v", name);
    const anet_ckpt_tensor *q = anet_ckpt_find(ck, tn);
    return q && q->dtype == (r->ane ? ANET_DT_FP16 : ANET_DT_FP32) && q->nbytes == size * (r->ane ? 2 : 4) ? q : NULL;
}

/* Reads and checks a checkpoint of this loop to continue (the same model, data, update mode
 * and program form; every state tensor of its size) before anything of the model's size is
 * allocated: a checkpoint naming a huge model without its tensors costs nothing. sizes: each
 * parameter's element count in the program form. */
static anet_status resume_check(const run *r, const anet_seq_options *o, const size_t *sizes, resumed *rs) {
    anet_ckpt *ck = &rs->ck;
    anet_status st = anet_ckpt_read(o->resume, ck);
    if (st != ANET_OK) return st;
    char spec[128];
    anet_seq_spec_text(&r->c, spec, sizeof spec);
    const char *m = anet_ckpt_get_meta(ck, "model"), *u = anet_ckpt_get_meta(ck, "update"),
               *f = anet_ckpt_get_meta(ck, "form"), *rng = anet_ckpt_get_meta(ck, "data_rng");
    double steps = 0, t = 0, scale = 1, good = 0;
    if (!m || strcmp(m, spec) != 0) st = anet_fail(ANET_E_INVALID, "--resume %s: model %s, not %s", o->resume, m ? m : "?", spec);
    else if (!u || strcmp(u, r->ane ? "ane" : "cpu") != 0)
        st = anet_fail(ANET_E_INVALID, "--resume %s: saved with --update %s; resume it with the same", o->resume, u ? u : "?");
    else if (!f || strcmp(f, r->c.vpad ? "padded" : "plain") != 0)
        st = anet_fail(ANET_E_INVALID, "--resume %s: saved in the %s program form, this run uses the %s one (--program-form, "
                       "--backend, --chip, ANE_TRAINER_FORMS)", o->resume, f ? f : "?", r->c.vpad ? "padded" : "plain");
    else if (!meta_num(ck, "steps", 1, 1e15, &steps) || !meta_num(ck, "opt_t", 0, steps, &t) ||
             !meta_num(ck, "loss_scale", 1, 65504, &scale) || !meta_num(ck, "good_steps", 0, steps < 1e9 ? steps : 1e9, &good) ||
             !rng || strlen(rng) != 64) /* good_steps: an int that counts on */
        st = anet_fail(ANET_E_FORMAT, "--resume %s: not a resumable transformer checkpoint (training state metadata)", o->resume);
    else if (!vocab_is(ck, &r->td.vocab))
        st = anet_fail(ANET_E_MISMATCH, "--resume %s: trained on a text with another vocabulary than %s (--dataset)", o->resume,
                       o->dataset);
    else if ((int64_t)steps >= o->max_steps)
        st = anet_fail(ANET_E_INVALID, "--resume %s: already %lld steps; give a larger --max-steps", o->resume, (long long)steps);
    for (int k = 0; k < 4 && st == ANET_OK; k++) {
        char h[17];
        memcpy(h, rng + 16 * k, 16);
        h[16] = 0;
        char *end;
        rs->rng.s[k] = strtoull(h, &end, 16);
        if (*end) st = anet_fail(ANET_E_FORMAT, "--resume %s: data_rng is not hex", o->resume);
    }
    for (int i = 0; i < r->np && st == ANET_OK; i++)
        for (int k = 0; k < (r->ane ? 4 : 3) && st == ANET_OK; k++) {
            char tn[64];
            if (!state_tensor(r, ck, i, k, sizes[i], tn))
                st = anet_fail(ANET_E_FORMAT, "--resume %s: tensor %s missing or of another size", o->resume, tn);
        }
    if (st != ANET_OK) {
        anet_ckpt_free(ck);
        memset(ck, 0, sizeof *ck);
        return st;
    }
    rs->steps = (int64_t)steps;
    rs->t = (int64_t)t;
    rs->scale = (float)scale;
    rs->good = (int)good;
    return ANET_OK;
}

/* Continues from the checked checkpoint: weights, optimizer state, loss scale, step counts and
 * the data generator. */
static void resume_apply(run *r, const resumed *rs) {
    for (int i = 0; i < r->np; i++)
        for (int k = 0; k < (r->ane ? 4 : 3); k++) {
            char tn[64];
            const anet_ckpt_tensor *q = state_tensor(r, &rs->ck, i, k, r->opt.sizes[i], tn);
            memcpy(r->ane ? (void *)r->dev[r->cur][i][k] : (void *)(k == 0 ? r->opt.w[i] : k == 1 ? r->opt.m[i] : r->opt.v[i]),
                   q->data, q->nbytes);
        }
    r->step = rs->steps;
    r->t = r->opt.t = rs->t;
    r->scale = rs->scale;
    r->good = rs->good;
    r->data_rng = rs->rng;
    if (r->ane) ane_store(r);
    else anet_optim_cpu_sync_f16(&r->opt);
}

/* update=cpu: the gradients come back; unscale, check finiteness, clip by the global norm (in
 * double) and step AdamW on the CPU. *finite 0: skip the step. */
static anet_status step_cpu(run *r, const anet_seq_options *o, anet_io *in, int nin, anet_f16 **g16, float **grads,
                            float scale, float *loss, double *norm, int *finite) {
    anet_io out[MAXP + 1];
    anet_f16 l16 = 0;
    out[0] = (anet_io){&l16, sizeof l16};
    for (int i = 0; i < r->np; i++) out[1 + i] = (anet_io){g16[i], r->opt.sizes[i] * sizeof(anet_f16)};
    anet_status st = anet_seq_eval(&r->be, &r->train, in, nin, out, 1 + r->np);
    if (st != ANET_OK) return st;
    *loss = anet_f16_to_f32(l16);
    double norm2 = 0;
    *finite = isfinite(*loss);
    for (int i = 0; i < r->np && *finite; i++)
        for (size_t j = 0; j < r->opt.sizes[i]; j++) {
            float gv = anet_f16_to_f32(g16[i][j]) / scale;
            if (!isfinite(gv)) {
                *finite = 0;
                break;
            }
            grads[i][j] = gv;
            norm2 += (double)gv * gv;
        }
    if (!*finite) return ANET_OK;
    *norm = sqrt(norm2);
    if (o->clip > 0 && *norm > o->clip) {
        float f = (float)(o->clip / *norm);
        for (int i = 0; i < r->np; i++)
            for (size_t j = 0; j < r->opt.sizes[i]; j++) grads[i][j] *= f;
    }
    anet_optim_cpu_step(&r->opt, o->lr, (const float *const *)grads);
    anet_optim_cpu_sync_f16(&r->opt);
    return ANET_OK;
}

/* res on: the resident state to (pull 0) or from (pull 1) dev[cur]; k_end 1: the weights' hi parts only. */
static anet_status resident_sync(run *r, int pull, int k_end) {
    anet_status st = ANET_OK;
    for (int i = 0; i < r->np && r->res.on && st == ANET_OK; i++)
        for (int k = 0; k < k_end && st == ANET_OK; k++)
            st = pull ? anet_step_resident_read(&r->res, &r->be, r->train.p, &r->train.form, 3 + 4 * i + k, r->dev[r->cur][i][k])
                      : anet_step_resident_write(&r->res, &r->be, r->train.p, &r->train.form, 3 + 4 * i + k, r->dev[r->cur][i][k]);
    return st;
}

/* update=ane: the program clips and steps AdamW; its outputs become the next inputs when the
 * step was finite. */
static anet_status step_ane(run *r, anet_io *in, int nin, float *loss, double *norm, int *finite) {
    anet_io out[4 * MAXP + 3];
    anet_f16 fin = 0, gn = 0, l16 = 0;
    out[0] = (anet_io){&fin, sizeof fin};
    out[1] = (anet_io){&gn, sizeof gn};
    out[2] = (anet_io){&l16, sizeof l16};
    int nx = r->cur ^ 1;
    for (int i = 0; i < r->np; i++)
        for (int k = 0; k < 4; k++) out[3 + 4 * i + k] = (anet_io){r->dev[nx][i][k], r->opt.sizes[i] * sizeof(anet_f16)};
    anet_status st = r->res.on ? anet_step_resident_run(&r->res, &r->be, r->train.p, &r->train.form, in, out, &r->train.backend_s)
                               : anet_seq_eval(&r->be, &r->train, in, nin, out, 3 + 4 * r->np);
    if (st != ANET_OK) return st;
    *loss = anet_f16_to_f32(l16);
    *norm = anet_f16_to_f32(gn);
    *finite = anet_f16_to_f32(fin) == 1.0f;
    if (*finite && r->res.on) return anet_step_resident_commit(&r->res, &r->be, r->train.p, &r->train.form);
    if (*finite) r->cur = nx;
    return ANET_OK;
}

/* GPT-2's initialization (anet_tfm_init) in the user's shapes, then into the program form. */
static anet_status init_weights(run *r, anet_rng *rng) {
    float *user[MAXP] = {0};
    anet_status st = ANET_OK;
    for (int i = 0; i < r->np; i++) {
        char name[32];
        int rows, cols;
        anet_tfm_param(&r->c, i, name, &rows, &cols);
        if (!(user[i] = malloc((size_t)rows * cols * sizeof(float)))) st = anet_fail(ANET_E_NOMEM, "out of memory for the weights");
    }
    if (st == ANET_OK) {
        anet_tfm_init(&r->c, rng, user);
        for (int i = 0; i < r->np; i++) anet_tfm_to_prog(&r->c, i, user[i], r->opt.w[i]);
    }
    for (int i = 0; i < r->np; i++) free(user[i]);
    return st;
}

/* update=ane: the fp32 weights as hi + lo parts, zero state; and back. */
static void ane_load(run *r) {
    for (int i = 0; i < r->np; i++) {
        anet_step_split_param(r->opt.w[i], r->opt.sizes[i], r->dev[r->cur][i][0], r->dev[r->cur][i][1]);
        memset(r->dev[r->cur][i][2], 0, r->opt.sizes[i] * sizeof(anet_f16));
        memset(r->dev[r->cur][i][3], 0, r->opt.sizes[i] * sizeof(anet_f16));
    }
}
static void ane_store(run *r) {
    for (int i = 0; i < r->np; i++)
        anet_step_join_param(r->dev[r->cur][i][0], r->dev[r->cur][i][1], r->opt.sizes[i], r->opt.w[i]);
}

anet_status anet_seq_train(const anet_seq_options *o) {
    run r;
    memset(&r, 0, sizeof r);
    anet_status st = anet_tfm_parse(o->model, &r.c);
    if (st != ANET_OK) return st;
    if (o->batch < 1 || o->batch > 4096) return anet_fail(ANET_E_INVALID, "batch size %d: 1 to 4096 for a transformer", o->batch);
    st = anet_text_open(o->dataset, o->data_dir, &r.td);
    if (st != ANET_OK) return st;
    r.c.vocab = (int)r.td.vocab.size;
    r.ane = o->update == ANET_UPDATE_ANE;
    int B = o->batch, S = r.c.ctx;
    size_t nval = anet_text_val_count(&r.td, (uint32_t)S);
    int64_t val_batches = (int64_t)((o->val_windows > 0 && (size_t)o->val_windows < nval ? (size_t)o->val_windows : nval) / (size_t)B);
    if (r.td.n_train < (size_t)S + 1 || val_batches < 1) {
        anet_text_free(&r.td);
        return anet_fail(ANET_E_INVALID, "text %s is too short for ctx=%d and batch %d (%zu validation windows)", o->dataset, S,
                         B, nval);
    }
    FILE *mf = NULL;
    /* vane runs the plain form unless the device form is asked for: not a chip's program, so
     * not checked against its profile (a device backend ignores host_form) */
    anet_backend_config bc = {o->chip, o->numerics, !o->device_form};
    const anet_forms *forms = NULL;
    st = anet_backend_open(o->backend ? o->backend : "vane", &bc, &r.be);
    if (st == ANET_OK) st = anet_seq_forms(&r.be, o->chip, o->device_form, &r.forms, &r.c, &forms);
    if (st != ANET_OK) {
        if (r.be.ops) anet_backend_close(&r.be);
        anet_text_free(&r.td);
        return st;
    }
    int V = anet_tfm_vpad(&r.c), Sp = anet_tfm_spad(&r.c);
    r.np = anet_tfm_nparams(&r.c);
    size_t sizes[MAXP];
    for (int i = 0; i < r.np; i++) {
        int rr, k;
        anet_tfm_prog_param(&r.c, i, &rr, &k);
        sizes[i] = (size_t)rr * k;
    }
    anet_seq_build_opts bo;
    memset(&bo, 0, sizeof bo);
    anet_opt_config_default(ANET_OPT_ADAMW, &bo.opt);
    bo.opt.lr = o->lr;
    bo.opt.beta1 = o->beta1;
    bo.opt.beta2 = o->beta2;
    bo.opt.eps = o->eps;
    bo.opt.weight_decay = o->weight_decay;
    bo.update = o->update;
    bo.forms = forms;
    bo.clip = o->clip;
    /* anet_step_hyper reads the optimizer of a step config */
    anet_step_config *hc = calloc(1, sizeof *hc);
    float *grads[MAXP] = {0};
    anet_f16 *g16[MAXP] = {0};
    resumed rs;
    memset(&rs, 0, sizeof rs);
    if (o->resume) st = resume_check(&r, o, sizes, &rs);
    if (st == ANET_OK) st = anet_optim_cpu_init(&r.opt, &bo.opt, r.np, sizes);
    size_t nx = (size_t)B * Sp * V;
    r.x = malloc(nx * sizeof(anet_f16));
    r.y = malloc(nx * sizeof(anet_f16));
    r.win = malloc((size_t)B * (S + 1) * sizeof(uint32_t));
    for (int i = 0; i < r.np && st == ANET_OK; i++) {
        if (!r.ane) {
            grads[i] = malloc(sizes[i] * sizeof(float));
            g16[i] = malloc(sizes[i] * sizeof(anet_f16));
            if (!grads[i] || !g16[i]) st = anet_fail(ANET_E_NOMEM, "out of memory for gradients");
        }
        for (int k = 0; r.ane && k < 8; k++)
            if (!(r.dev[k / 4][i][k % 4] = calloc(sizes[i], sizeof(anet_f16))))
                st = anet_fail(ANET_E_NOMEM, "out of memory for the optimizer state");
    }
    if (st == ANET_OK && (!r.x || !r.y || !r.win || !hc)) st = anet_fail(ANET_E_NOMEM, "out of memory for a batch");
    if (hc) hc->opt = bo.opt;
    anet_rng init_rng;
    anet_rng_seed(&init_rng, o->seed);
    anet_rng_seed(&r.data_rng, o->seed ^ 0x5eedda7aULL);
    r.scale = 1024.0f;
    if (st == ANET_OK) st = init_weights(&r, &init_rng);
    if (st == ANET_OK) {
        anet_optim_cpu_sync_f16(&r.opt);
        if (r.ane) ane_load(&r);
    }
    if (st == ANET_OK && o->resume) resume_apply(&r, &rs);
    anet_ckpt_free(&rs.ck);
    if (st == ANET_OK) st = anet_seq_build(&r.c, B, ANET_SEQ_TRAIN, &bo, &r.train);
    if (st == ANET_OK) st = anet_seq_build(&r.c, B, ANET_SEQ_LOSS, &bo, &r.eval);
    if (st == ANET_OK) st = anet_seq_compile(&r.be, &r.train);
    if (st == ANET_OK) st = anet_seq_compile(&r.be, &r.eval);
    if (st == ANET_OK && r.ane && r.train.form.lowered) {
        int pair[4 * MAXP + 3];
        for (int i = 0; i < r.train.nin; i++) pair[i] = i < 3 ? -1 : i; /* pII_*_hi.. -> uII_*_hi.. */
        st = anet_step_resident_init(&r.res, &r.be, r.train.p, &r.train.form, r.train.nin, r.train.nout, pair);
        if (st == ANET_OK) st = resident_sync(&r, 0, 4);
    }
    /* resume: the metrics up to the checkpoint's step stay, the run appends */
    if (st == ANET_OK && o->metrics && o->resume) st = anet_rundir_truncate_metrics(o->metrics, r.step, INT_MAX, NULL);
    if (st == ANET_OK && o->metrics) {
        mf = anet_fopen_output(o->metrics, "metrics file", o->resume ? O_APPEND : O_TRUNC);
        if (!mf) st = ANET_E_IO;
    }
    if (st == ANET_OK && !o->quiet)
        fprintf(stderr, "dataset %s (%s, %zu train + %zu validation characters, vocabulary %u%s); model %s; %d parameter tensors; "
                        "batch %d; adamw lr %g wd %g; clip %g; update %s; program form %s%s; %lld validation batches\n",
                o->dataset, r.td.path, r.td.n_train, r.td.n - r.td.n_train, r.td.vocab.size,
                r.td.verified ? ", verified" : "", o->model, r.np, B, (double)o->lr, (double)o->weight_decay,
                (double)o->clip, r.ane ? "ane" : "cpu",
                forms ? anet_chip_name(o->chip) : r.forms.host_backend ? "plain" : "as built",
                forms && forms->strict ? " (strict rules)" : "",
                (long long)val_batches);
    /* Per-step costs, reported at each evaluation over the steps since the last one (as the
     * layer graphs' epoch records): training dispatches, host CPU time outside the backend's
     * eval (batch, one-hot, packing into the form, copies), and the bytes of weights and
     * optimizer state copied into and out of the program each step (none where they are
     * resident, r.res). */
    size_t state_bytes = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < (k ? r.train.nout : r.train.nin); i++) {
            /* update=ane: every input and output after a_hyper, b_x, c_y / a_finite, b_gnorm,
             * c_loss; update=cpu: the weights written (inputs after c_y) */
            if (i < 3 || (k && !r.ane)) continue;
            if (!r.res.on) state_bytes += r.train.form.lowered ? anet_step_forms_dev_bytes(&r.train.form, k, i) : sizes[(i - 3) / (r.ane ? 4 : 1)] * 2;
        }
    double cpu_since = 0, backend0 = r.train.backend_s;
    uint64_t disp_since = 0;
    int64_t steps_since = 0;
    double val = NAN;
    for (int64_t step = r.step + 1; st == ANET_OK && step <= o->max_steps; step++) {
        double cpu0 = cpu_s();
        anet_backend_stats bs0 = {0}, bs1 = {0};
        if (r.be.ops->stats) r.be.ops->stats(r.be.state, &bs0);
        st = anet_text_train_windows(&r.td, &r.data_rng, (uint32_t)B, (uint32_t)S, r.win);
        if (st != ANET_OK) break;
        onehot(r.win, B, S, Sp, V, r.x, r.y);
        float hyper[ANET_HYPER_SLOTS];
        anet_f16 h16[ANET_HYPER_SLOTS];
        anet_step_hyper(hc, r.t + 1, o->lr, r.scale, 1, hyper);
        for (int k = 0; k < ANET_HYPER_SLOTS; k++) h16[k] = anet_f32_to_f16(hyper[k]);
        anet_io in[4 * MAXP + 3];
        in[0] = (anet_io){h16, sizeof h16};
        in[1] = (anet_io){r.x, nx * sizeof(anet_f16)};
        in[2] = (anet_io){r.y, nx * sizeof(anet_f16)};
        int nin = 3;
        for (int i = 0; i < r.np; i++)
            for (int k = 0; k < (r.ane ? 4 : 1); k++)
                in[nin++] = (anet_io){r.ane ? r.dev[r.cur][i][k] : r.opt.w16[i], sizes[i] * sizeof(anet_f16)};
        float loss = 0;
        double norm = 0;
        int finite = 0;
        st = r.ane ? step_ane(&r, in, nin, &loss, &norm, &finite)
                   : step_cpu(&r, o, in, nin, g16, grads, r.scale, &loss, &norm, &finite);
        if (st != ANET_OK) break;
        if (r.be.ops->stats) r.be.ops->stats(r.be.state, &bs1);
        disp_since += bs1.dispatches - bs0.dispatches;
        steps_since++;
        cpu_since += cpu_s() - cpu0;
        if (!finite && r.scale <= 1.0f) {
            st = anet_fail(ANET_E_VERIFY, "step %lld: the loss or the gradients are not finite even at loss scale 1 (the "
                           "model diverged; try a smaller --lr or --clip)", (long long)step);
            break;
        }
        if (!finite) { /* overflow at this loss scale: skip the step, halve the scale */
            r.scale /= 2;
            r.good = 0;
            step--;
            continue;
        }
        r.t++;
        r.step = step;
        if (++r.good >= 1000 && r.scale < 32768.0f) r.scale *= 2, r.good = 0;
        int do_eval = step == o->max_steps || (o->eval_every > 0 && step % o->eval_every == 0);
        if (do_eval) st = resident_sync(&r, 1, 1);
        if (do_eval && st == ANET_OK) st = validate(&r, B, val_batches, &val);
        if (st != ANET_OK) break;
        if (mf) {
            fprintf(mf, "{\"step\":%lld,\"loss\":%.6f,\"grad_norm\":%.6f,\"loss_scale\":%g", (long long)step, (double)loss,
                    norm, (double)r.scale);
            if (do_eval) {
                double host = cpu_since - (r.train.backend_s - backend0);
                fprintf(mf, ",\"val_loss\":%.6f,\"dispatches_per_step\":%.6g,\"host_us_per_step\":%.1f,"
                        "\"state_bytes_copied_per_step\":%zu", val, (double)disp_since / (double)steps_since,
                        (host > 0 ? host : 0) * 1e6 / (double)steps_since, state_bytes);
            }
            fputs("}\n", mf);
            fflush(mf);
        }
        if (do_eval) cpu_since = 0, backend0 = r.train.backend_s, disp_since = 0, steps_since = 0;
        /* a checkpoint at every evaluation (atomic): an interrupted run resumes from it */
        if (do_eval && o->checkpoint && step < o->max_steps) {
            if ((st = resident_sync(&r, 1, 4)) != ANET_OK) break;
            if (r.ane) ane_store(&r);
            st = save(&r, o, val);
            if (st != ANET_OK) break;
        }
        if (!o->quiet && do_eval)
            fprintf(stderr, "step %lld: loss %.4f, val_loss %.4f nats/char\n", (long long)step, (double)loss, val);
        else if (!o->quiet && (step % 50 == 0 || step == 1))
            fprintf(stderr, "step %lld: loss %.4f\n", (long long)step, (double)loss);
    }
    if (st == ANET_OK && o->final_val) *o->final_val = val;
    if (st == ANET_OK && !o->quiet && r.be.ops->stats) {
        /* Two programs for the whole run: one dispatch per training step, one per validation batch. */
        anet_backend_stats bs;
        memset(&bs, 0, sizeof bs);
        r.be.ops->stats(r.be.state, &bs);
        fprintf(stderr, "compiles %llu, dispatches %llu (%lld steps, %lld validation batches each evaluation)\n",
                (unsigned long long)bs.compiles, (unsigned long long)bs.dispatches, (long long)o->max_steps,
                (long long)val_batches);
    }
    if (mf && fclose(mf) != 0 && st == ANET_OK) st = anet_fail(ANET_E_IO, "metrics file %s: write failed", o->metrics);
    if (st == ANET_OK) st = resident_sync(&r, 1, 4);
    if (st == ANET_OK && r.ane) ane_store(&r);
    if (st == ANET_OK && o->checkpoint) st = save(&r, o, val);
    anet_step_resident_free(&r.res);
    anet_seq_program_free(&r.be, &r.train);
    anet_seq_program_free(&r.be, &r.eval);
    anet_backend_close(&r.be);
    for (int i = 0; i < r.np; i++) {
        free(grads[i]);
        free(g16[i]);
        for (int k = 0; k < 8; k++) free(r.dev[k / 4][i][k % 4]);
    }
    free(hc);
    anet_optim_cpu_free(&r.opt);
    free(r.x);
    free(r.y);
    free(r.win);
    anet_text_free(&r.td);
    return st;
}
