/* The public trainer calls: an options string parsed into anet_train_options, then the
 * trainer's in-memory mode (src/train/trainer.c) does the work. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/error.h"
#include "train/checkpoint.h"
#include "train/optim_cpu.h"
#include "train/trainer.h"

/* Values of options parsed from the string; the ones given are applied after the defaults
 * that depend on the optimizer (as the CLI does). */
typedef struct parsed {
    anet_train_options o;
    int has_opt, has_lr, has_mom, has_wd, has_b1, has_b2, has_eps;
    double lr, mom, wd, b1, b2, eps;
    char backend[16];
} parsed;

static const char *const known_keys =
    "optimizer lr momentum weight_decay beta1 beta2 eps schedule warmup_steps schedule_steps epochs seed batch_size backend "
    "chip update numerics program_form loss_scale loss_scale_growth max_memory quiet";

static anet_status bad(const char *key, const char *val, const char *want) {
    return anet_fail(ANET_E_INVALID, "option %s=%s: expected %s", key, val, want);
}

static int parse_num(const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(d) || d < lo || d > hi) return -1;
    *out = d;
    return 0;
}

static int parse_int(const char *v, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi) return -1;
    *out = n;
    return 0;
}

static anet_status apply_one(parsed *p, const char *k, const char *v) {
    anet_train_options *o = &p->o;
    double d;
    long long n;
    if (!strcmp(k, "optimizer")) {
        if (anet_opt_kind_lookup(v, &o->opt.kind)) return bad(k, v, "adam, adamw or sgd");
        p->has_opt = 1;
    } else if (!strcmp(k, "lr")) {
        if (parse_num(v, 0, 1e6, &p->lr)) return bad(k, v, "a number >= 0");
        p->has_lr = 1;
    } else if (!strcmp(k, "momentum")) {
        if (parse_num(v, 0, 0.999999, &p->mom)) return bad(k, v, "a number in [0, 1)");
        p->has_mom = 1;
    } else if (!strcmp(k, "weight_decay")) {
        if (parse_num(v, 0, 1e6, &p->wd)) return bad(k, v, "a number >= 0");
        p->has_wd = 1;
    } else if (!strcmp(k, "beta1")) {
        if (parse_num(v, 0, 0.999999999, &p->b1)) return bad(k, v, "a number in [0, 1)");
        p->has_b1 = 1;
    } else if (!strcmp(k, "beta2")) {
        if (parse_num(v, 0, 0.999999999, &p->b2)) return bad(k, v, "a number in [0, 1)");
        p->has_b2 = 1;
    } else if (!strcmp(k, "eps")) {
        if (parse_num(v, 0, 1, &p->eps)) return bad(k, v, "a number in [0, 1]");
        p->has_eps = 1;
    } else if (!strcmp(k, "schedule")) {
        if (anet_sched_kind_lookup(v, &o->schedule)) return bad(k, v, "constant, cosine, warmup or warmup-cosine");
    } else if (!strcmp(k, "warmup_steps")) {
        if (parse_int(v, 0, (int64_t)ANET_CKPT_MAX_COUNTER, &n)) return bad(k, v, "an integer in 0..2^53");
        o->warmup_steps = n;
    } else if (!strcmp(k, "schedule_steps")) {
        if (parse_int(v, 1, (int64_t)1 << 53, &n)) return bad(k, v, "an integer in 1..2^53");
        o->schedule_steps = n;
    } else if (!strcmp(k, "epochs")) {
        if (parse_int(v, 1, 1000000, &n)) return bad(k, v, "an integer in 1..1000000");
        o->epochs = (int)n;
    } else if (!strcmp(k, "seed")) {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(v, &end, 10);
        if (!*v || *end || errno || v[0] == '-') return bad(k, v, "a non-negative integer");
        o->seed = u;
    } else if (!strcmp(k, "batch_size")) {
        if (parse_int(v, 1, ANET_MAX_BATCH, &n)) {
            char want[40];
            snprintf(want, sizeof want, "an integer in 1..%d", ANET_MAX_BATCH);
            return bad(k, v, want);
        }
        o->batch_size = (int)n;
    } else if (!strcmp(k, "backend")) {
        if (strcmp(v, "auto") && strcmp(v, "vane") && strcmp(v, "ane") && strcmp(v, "ane-sim"))
            return bad(k, v, "auto, vane, ane or ane-sim");
        snprintf(p->backend, sizeof p->backend, "%s", v);
        o->backend = p->backend;
    } else if (!strcmp(k, "chip")) {
        if (anet_chip_lookup(v, &o->chip)) return bad(k, v, "m1, m2, m3, m4 or strict");
    } else if (!strcmp(k, "update")) {
        if (strcmp(v, "cpu") && strcmp(v, "ane")) return bad(k, v, "cpu or ane");
        o->update = strcmp(v, "ane") == 0 ? ANET_UPDATE_ANE : ANET_UPDATE_CPU;
    } else if (!strcmp(k, "numerics")) {
        if (strcmp(v, "fp16") && strcmp(v, "fp32")) return bad(k, v, "fp16 or fp32");
        o->numerics = strcmp(v, "fp32") == 0 ? ANET_NUMERICS_FP32 : ANET_NUMERICS_FP16;
    } else if (!strcmp(k, "program_form")) {
        if (strcmp(v, "auto") && strcmp(v, "device")) return bad(k, v, "auto or device");
        o->device_form = strcmp(v, "device") == 0;
    } else if (!strcmp(k, "loss_scale")) {
        if (parse_num(v, 1.0 / 16384, 32768, &d)) return bad(k, v, "a number in [2^-14, 2^15]");
        o->loss_scale = (float)d;
    } else if (!strcmp(k, "loss_scale_growth")) {
        if (parse_int(v, 1, 1000000000, &n)) return bad(k, v, "an integer >= 1");
        o->loss_scale_growth = (int)n;
    } else if (!strcmp(k, "max_memory")) {
        if (parse_int(v, 1, INT64_MAX, &n)) return bad(k, v, "a number of bytes >= 1");
        o->max_memory = (uint64_t)n;
    } else if (!strcmp(k, "quiet")) {
        if (strcmp(v, "0") && strcmp(v, "1")) return bad(k, v, "0 or 1");
        o->quiet = v[0] == '1';
    } else {
        return anet_fail(ANET_E_INVALID, "unknown option '%s' (known: %s)", k, known_keys);
    }
    return ANET_OK;
}

/* Parses "key=value key=value ..." on top of p->o. lock_optimizer: the optimizer comes from a
 * checkpoint, so its constants are not reset to the optimizer's defaults. */
static anet_status parse_options(const char *text, parsed *p, int lock_optimizer) {
    if (!text) text = "";
    size_t len = strlen(text);
    if (len > 4096) return anet_fail(ANET_E_INVALID, "options string of %zu bytes is too long", len);
    char buf[4097];
    memcpy(buf, text, len + 1);
    for (char *tok = buf; *tok;) {
        while (*tok == ' ' || *tok == '\t' || *tok == '\n') tok++;
        if (!*tok) break;
        char *end = tok + strcspn(tok, " \t\n");
        if (*end) *end++ = '\0';
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1])
            return anet_fail(ANET_E_INVALID, "option '%s': expected key=value", tok);
        *eq = '\0';
        anet_status st = apply_one(p, tok, eq + 1);
        if (st != ANET_OK) return st;
        tok = end;
    }
    if (p->has_opt && !lock_optimizer) anet_opt_config_default(p->o.opt.kind, &p->o.opt);
    if (p->has_lr) p->o.opt.lr = (float)p->lr;
    if (p->has_mom) p->o.opt.momentum = (float)p->mom;
    if (p->has_wd) p->o.opt.weight_decay = (float)p->wd;
    if (p->has_b1) p->o.opt.beta1 = (float)p->b1;
    if (p->has_b2) p->o.opt.beta2 = (float)p->b2;
    if (p->has_eps) p->o.opt.eps = (float)p->eps;
    return ANET_OK;
}

static void api_defaults(parsed *p) {
    memset(p, 0, sizeof *p);
    anet_train_options_default(&p->o);
    p->o.quiet = 1; /* a library stays silent unless asked */
}

static int same_spec(const anet_trainer *t, const anet_model *m) {
    return strcmp(anet_trainer_model(t)->text, m->spec.text) == 0;
}

anet_status anet_trainer_set_model(anet_trainer *t, const anet_model *m) {
    if (!t || !m) return anet_fail(ANET_E_INVALID, "set_model: NULL trainer or model");
    if (!same_spec(t, m))
        return anet_fail(ANET_E_MISMATCH, "model %s does not fit this trainer's model %s", m->spec.text,
                         anet_trainer_model(t)->text);
    /* Check every parameter before changing any. */
    for (int i = 0; i < m->nparams; i++) {
        size_t n = (size_t)m->info[i].rows * (size_t)m->info[i].cols;
        for (size_t k = 0; k < n; k++)
            if (!isfinite(m->w[i][k]))
                return anet_fail(ANET_E_INVALID, "parameter %s[%zu] is not finite", m->info[i].name, k);
    }
    for (int i = 0; i < m->nparams; i++) {
        anet_status st = anet_trainer_set_weights(t, i, m->w[i]);
        if (st != ANET_OK) return st;
    }
    return ANET_OK;
}

anet_status anet_trainer_get_model(const anet_trainer *t, anet_model *m) {
    if (!t || !m) return anet_fail(ANET_E_INVALID, "get_model: NULL trainer or model");
    if (!same_spec(t, m))
        return anet_fail(ANET_E_MISMATCH, "model %s does not fit this trainer's model %s", m->spec.text,
                         anet_trainer_model(t)->text);
    for (int i = 0; i < m->nparams; i++) {
        anet_status st = anet_trainer_get_weights(t, i, m->w[i]);
        if (st != ANET_OK) return st;
    }
    return ANET_OK;
}

anet_status anet_trainer_new(const anet_model *model, const char *options, anet_trainer **out) {
    if (!out) return anet_fail(ANET_E_INVALID, "trainer: NULL output pointer");
    *out = NULL;
    if (!model) return anet_fail(ANET_E_INVALID, "trainer: NULL model");
    parsed p;
    api_defaults(&p);
    anet_status st = parse_options(options, &p, 0);
    if (st != ANET_OK) return st;
    p.o.model = model->spec.text;
    anet_trainer *t;
    if ((st = anet_trainer_create_mem(&p.o, &t)) != ANET_OK) return st;
    if ((st = anet_trainer_set_model(t, model)) != ANET_OK) {
        anet_trainer_free(t);
        return st;
    }
    *out = t;
    return ANET_OK;
}

anet_status anet_trainer_load(const char *checkpoint, const char *options, anet_trainer **out) {
    if (!out) return anet_fail(ANET_E_INVALID, "trainer: NULL output pointer");
    *out = NULL;
    if (!checkpoint) return anet_fail(ANET_E_INVALID, "trainer: NULL checkpoint path");
    anet_ckpt c;
    anet_status st = anet_ckpt_read(checkpoint, &c);
    if (st != ANET_OK) return st;
    parsed p;
    api_defaults(&p);
    char model_buf[256], ds_buf[4096];
    if ((st = anet_train_options_from_ckpt(&c, checkpoint, &p.o, model_buf, sizeof model_buf, ds_buf,
                                           sizeof ds_buf)) != ANET_OK) {
        anet_ckpt_free(&c);
        return st;
    }
    /* The backend is not taken: "auto" (or the options' backend) picks again on this machine. */
    int has_model = anet_ckpt_get_meta(&c, "model") != NULL;
    anet_ckpt_free(&c);
    if (!has_model) return anet_fail(ANET_E_FORMAT, "checkpoint %s has no \"model\" metadata", checkpoint);
    if ((st = parse_options(options, &p, 1)) != ANET_OK) return st;
    anet_trainer *t;
    if ((st = anet_trainer_load_mem(&p.o, checkpoint, &t)) != ANET_OK) return st;
    *out = t;
    return ANET_OK;
}

static anet_status arrays(const void *x, int x_type, const int64_t *y, size_t n, size_t features, anet_arrays *a) {
    a->x = x;
    a->x_type = x_type;
    a->y = y;
    a->targets = NULL;
    a->n = n;
    a->features = features;
    if (features && n > SIZE_MAX / features / sizeof(float))
        return anet_fail(ANET_E_NOMEM, "%zu x %zu values: too large", n, features);
    return ANET_OK;
}

/* Class labels (y) and regression targets share one path; exactly one of them is given
 * (the public wrappers check which). */
static anet_status fit_any(anet_trainer *t, const void *x, int x_type, const int64_t *y, const float *targets,
                           size_t n, size_t features, double *loss) {
    if (!t) return anet_fail(ANET_E_INVALID, "fit: trainer is NULL");
    anet_arrays a;
    anet_status st = arrays(x, x_type, y, n, features, &a);
    a.targets = targets;
    if (st == ANET_OK) st = anet_trainer_train_epoch(t, &a, loss);
    return st == ANET_OK ? st : anet_fail_ctx(st, "fit");
}

static anet_status evaluate_any(anet_trainer *t, const void *x, int x_type, const int64_t *y, const float *targets,
                                size_t n, size_t features, double *accuracy, double *loss) {
    if (!t) return anet_fail(ANET_E_INVALID, "evaluate: trainer is NULL");
    anet_arrays a;
    anet_status st = arrays(x, x_type, y, n, features, &a);
    a.targets = targets;
    double acc;
    if (st == ANET_OK) st = anet_trainer_eval_arrays(t, &a, accuracy ? accuracy : &acc, loss, NULL);
    return st == ANET_OK ? st : anet_fail_ctx(st, "evaluate");
}

anet_status anet_trainer_fit_epoch(anet_trainer *t, const void *x, int x_type, const int64_t *y, size_t n,
                                   size_t features, double *loss) {
    if (t && !y) return anet_fail(ANET_E_INVALID, "fit: y is NULL");
    return fit_any(t, x, x_type, y, NULL, n, features, loss);
}

anet_status anet_trainer_evaluate(anet_trainer *t, const void *x, int x_type, const int64_t *y, size_t n,
                                  size_t features, double *accuracy, double *loss) {
    if (t && !y) return anet_fail(ANET_E_INVALID, "evaluate: y is NULL");
    return evaluate_any(t, x, x_type, y, NULL, n, features, accuracy, loss);
}

anet_status anet_trainer_fit_epoch_targets(anet_trainer *t, const void *x, int x_type, const float *targets,
                                           size_t n, size_t features, double *loss) {
    if (t && !targets) return anet_fail(ANET_E_INVALID, "fit: targets is NULL");
    return fit_any(t, x, x_type, NULL, targets, n, features, loss);
}

anet_status anet_trainer_evaluate_targets(anet_trainer *t, const void *x, int x_type, const float *targets,
                                          size_t n, size_t features, double *loss) {
    if (t && !targets) return anet_fail(ANET_E_INVALID, "evaluate: targets is NULL");
    return evaluate_any(t, x, x_type, NULL, targets, n, features, NULL, loss);
}

anet_status anet_trainer_predict(anet_trainer *t, const void *x, int x_type, size_t n, size_t features,
                                 float *logits) {
    if (!t) return anet_fail(ANET_E_INVALID, "predict: trainer is NULL");
    if (!logits) return anet_fail(ANET_E_INVALID, "predict: logits buffer is NULL");
    anet_arrays a;
    anet_status st = arrays(x, x_type, NULL, n, features, &a);
    if (st == ANET_OK) st = anet_trainer_eval_arrays(t, &a, NULL, NULL, logits);
    return st == ANET_OK ? st : anet_fail_ctx(st, "predict");
}

const char *anet_trainer_model_spec(const anet_trainer *t) { return t ? anet_trainer_model(t)->text : ""; }

anet_status anet_trainer_set_total_epochs(anet_trainer *t, int epochs) {
    if (!t) return anet_fail(ANET_E_INVALID, "trainer is NULL");
    if (epochs < 1 || epochs > 1000000) return anet_fail(ANET_E_INVALID, "epochs %d: must be in 1..1000000", epochs);
    anet_trainer_set_epochs(t, epochs);
    return ANET_OK;
}

anet_status anet_trainer_set_lr(anet_trainer *t, double lr) {
    if (!t) return anet_fail(ANET_E_INVALID, "trainer is NULL");
    if (!isfinite(lr) || lr < 0 || lr > 1e6) return anet_fail(ANET_E_INVALID, "lr %g: must be a number in [0, 1e6]", lr);
    anet_trainer_set_peak_lr(t, (float)lr);
    return ANET_OK;
}

anet_status anet_trainer_set_shuffle(anet_trainer *t, int shuffle) {
    if (!t) return anet_fail(ANET_E_INVALID, "trainer is NULL");
    anet_trainer_set_shuffle_mode(t, shuffle != 0);
    return ANET_OK;
}

static cJSON *record_json(const anet_metrics_record *r) {
    char *s = anet_metrics_format(r);
    if (!s) return NULL;
    cJSON *j = cJSON_Parse(s);
    free(s);
    return j;
}

anet_status anet_trainer_stats_json(const anet_trainer *t, char **json) {
    if (!t || !json) return anet_fail(ANET_E_INVALID, "stats: NULL trainer or output pointer");
    *json = NULL;
    const anet_train_options *o = anet_trainer_options(t);
    anet_metrics_record now;
    anet_trainer_stats(t, &now);
    cJSON *root = record_json(&now);
    if (!root) return anet_fail(ANET_E_NOMEM, "stats: out of memory");
    cJSON_DeleteItemFromObject(root, "event");
    cJSON_DeleteItemFromObject(root, "train_loss");
    cJSON_DeleteItemFromObject(root, "epoch_seconds");
    cJSON_DeleteItemFromObject(root, "samples_per_s");
    cJSON_DeleteItemFromObject(root, "dispatches_per_step");
    cJSON_DeleteItemFromObject(root, "bytes_per_step");
    cJSON_DeleteItemFromObject(root, "host_us_per_step");
    cJSON_DeleteItemFromObject(root, "state_bytes_copied_per_step");
    cJSON_DeleteItemFromObject(root, "batch_bytes_copied_per_step");
    cJSON_AddStringToObject(root, "model", anet_trainer_model(t)->text);
    cJSON_AddNumberToObject(root, "epochs_done", anet_trainer_epochs_done(t));
    cJSON_AddStringToObject(root, "backend_reason", anet_trainer_backend_reason(t));
    cJSON_AddStringToObject(root, "optimizer", anet_opt_kind_name(o->opt.kind));
    cJSON_AddNumberToObject(root, "peak_lr", anet_float_as_typed(o->opt.lr));
    cJSON_AddNumberToObject(root, "momentum", anet_float_as_typed(o->opt.momentum));
    cJSON_AddNumberToObject(root, "beta1", anet_float_as_typed(o->opt.beta1));
    cJSON_AddNumberToObject(root, "beta2", anet_float_as_typed(o->opt.beta2));
    cJSON_AddNumberToObject(root, "eps", anet_float_as_typed(o->opt.eps));
    cJSON_AddNumberToObject(root, "weight_decay", anet_float_as_typed(o->opt.weight_decay));
    cJSON_AddStringToObject(root, "schedule", anet_sched_kind_name(o->schedule));
    cJSON_AddNumberToObject(root, "batch_size", o->batch_size);
    cJSON_AddNumberToObject(root, "seed", (double)o->seed);
    const anet_metrics_record *last = anet_trainer_last_epoch(t);
    cJSON *lj = last ? record_json(last) : cJSON_CreateNull();
    if (!lj) {
        cJSON_Delete(root);
        return anet_fail(ANET_E_NOMEM, "stats: out of memory");
    }
    cJSON_AddItemToObject(root, "last_epoch", lj);
    return anet_api_json_out(root, json);
}
