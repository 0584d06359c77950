/* The character transformer's programs (see seq_program.h). */
#include "train/seq_program.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "graph/autodiff.h"
#include "graph/build.h"
#include "mil/mil.h"
#include "train/row_form.h"
#include "train/trainer_internal.h" /* cpu_s */

#define MAXP ANET_TFM_MAX_PARAMS

anet_status anet_seq_config_for(const anet_forms *f, anet_tfm_config *c) {
    c->vpad = c->hpad = c->spad = 0;
    if (!f) return ANET_OK;
    anet_forms_plan p;
    anet_forms_plan_for(f, &p);
    if (!p.pad32) return ANET_OK;
    /* A padded model width would change the model (LayerNorm's statistics would count the
     * padding), so dim must be a multiple of 32 already; the positions pad invisibly. */
    if (c->dim % 32) {
        int lo = c->dim / 32 * 32, hi = lo + 32;
        char use[40];
        if (lo) snprintf(use, sizeof use, "dim=%d or dim=%d", lo, hi);
        else snprintf(use, sizeof use, "dim=%d", hi);
        return anet_fail(ANET_E_UNSUPPORTED, "transformer dim=%d: the %s program form needs dim a multiple of 32 (a "
                         "matmul contraction length; ctx and heads may be any): use %s, or switch the rules off with "
                         "ANE_TRAINER_FORMS (docs/mil.md)", c->dim, f->strict ? "strict" : anet_chip_name(f->chip), use);
    }
    c->vpad = anet_forms_pad(&p, c->vocab);
    c->hpad = anet_forms_pad(&p, c->dim / c->heads);
    c->spad = anet_forms_pad(&p, c->ctx);
    return ANET_OK;
}

int anet_seq_plain(const anet_backend *be, int device_form) { return !device_form && strcmp(be->ops->name, "vane") == 0; }

anet_status anet_seq_forms(const anet_backend *be, anet_chip chip, int device_form, anet_forms *f, anet_tfm_config *c,
                           const anet_forms **out) {
    *out = NULL;
    anet_forms_default(chip, f);
    anet_status st = anet_forms_env(f);
    if (st != ANET_OK) return st;
    f->host_backend = anet_seq_plain(be, device_form);
    if (f->host_backend) return anet_seq_config_for(NULL, c); /* the plain form: as built */
    st = anet_seq_config_for(f, c);
    if (st == ANET_OK) *out = f;
    else if (strcmp(be->ops->name, "vane") == 0) st = anet_seq_config_for(NULL, c); /* as built */
    return st;
}

void anet_seq_param_dims(const anet_tfm_config *c, int i, int64_t dims[4]) {
    int r, k;
    anet_tfm_prog_param(c, i, &r, &k);
    dims[0] = dims[1] = 1;
    dims[2] = k == 1 ? 1 : r;
    dims[3] = k == 1 ? r : k;
}

static int param_input(anet_graph *g, const anet_tfm_config *c, int i, const char *suffix) {
    char name[32], in[64];
    int r, k;
    anet_tfm_param(c, i, name, &r, &k);
    (void)r, (void)k;
    for (char *q = name; *q; q++)
        if (*q == '.') *q = '_';
    snprintf(in, sizeof in, "p%02d_%s%s", i, name, suffix);
    int64_t d[4];
    anet_seq_param_dims(c, i, d);
    return anet_graph_input(g, in, anet_type_make(ANET_DT_FP16, 4, d));
}

typedef struct pb {
    anet_graph *g;
    int hyper, slot[ANET_HYPER_SLOTS];
    /* rows: the per-step scalars as rows (rule broadcast-scalar): a_hyper is [1,SLOTS,1,W]
     * with slot k in row k, sliced to rows as wide as the values they meet (train/row_form.h) */
    int rows;
    int cache[64][3]; /* rows: (slot, width, value) of the hyper rows made */
    int ncache;
} pb;

static int c16(pb *b, float v) { return anet_graph_const_fp16(b->g, NULL, v); }
static int bin(pb *b, anet_opkind k, int x, int y) { return x < 0 || y < 0 ? -1 : anet_b_binary(b->g, k, NULL, x, y); }
static int un(pb *b, anet_opkind k, int x) { return x < 0 ? -1 : anet_b_unary(b->g, k, NULL, x); }
/* The reduction of all of x: a [1,1,1,1] scalar, or in rows a [1,1,1,32] row of it. */
static int reduce_all(pb *b, anet_opkind k, int x) {
    static const int32_t all[4] = {0, 1, 2, 3};
    if (x < 0) return -1;
    return b->rows ? anet_row_all(b->g, k, x) : anet_b_reduce(b->g, k, NULL, x, 4, all, 1);
}
static int64_t width(pb *b, int v) { return v < 0 ? 0 : b->g->values[v].type.dims[b->g->values[v].type.rank - 1]; }
/* A reduced value (reduce_all) to combine with `like`: itself, or in rows widened to like's width. */
static int widen_to(pb *b, int v, int like) { return !b->rows || v < 0 || like < 0 ? v : anet_row_widen(b->g, v, width(b, like)); }

/* One slot of a_hyper to combine with `like`: a [1,1,1,1] scalar (made once), or in rows a
 * [1,1,1,W] row as wide as like's last axis (made once per width). */
static int hyper_like(pb *b, int slot, int like) {
    int64_t w = b->rows ? width(b, like) : 1;
    if (!b->rows && b->slot[slot] > 0) return b->slot[slot];
    for (int i = 0; b->rows && i < b->ncache; i++)
        if (b->cache[i][0] == slot && b->cache[i][1] == w) return b->cache[i][2];
    if (w < 1 || b->hyper < 0) return -1;
    int32_t begin[4] = {0, b->rows ? slot : 0, 0, b->rows ? 0 : slot}, size[4] = {1, 1, 1, (int32_t)w};
    int v = anet_b_slice_by_size(b->g, NULL, b->hyper, 4, begin, size);
    if (v > 0 && !b->rows) b->slot[slot] = v;
    if (v > 0 && b->rows && b->ncache < 64) {
        int *c = b->cache[b->ncache++];
        c[0] = slot, c[1] = (int)w, c[2] = v;
    }
    return v;
}
/* The optimizer's hyper scalars (anet_step_hyper_fn). */
static int hyper_cb(void *ctx, int slot, int like) { return hyper_like(ctx, slot, like); }

/* The global norm of the gradients g[] (of S * loss) in true units, the factor that takes them
 * to clipped optimizer-state units, and the largest clipped gradient in state units (see
 * seq_program.h); in rows each a [1,1,1,32] row holding the value in every element. */
static void clip_ops(pb *b, const int *g, int np, float clip, int *norm, int *factor, int *maxk) {
    int m[MAXP], M = -1;
    for (int i = 0; i < np; i++) {
        m[i] = bin(b, ANET_OP_MAXIMUM, reduce_all(b, ANET_OP_REDUCE_MAX, un(b, ANET_OP_ABS, g[i])),
                   c16(b, 5.9604644775390625e-8f));
        M = i ? bin(b, ANET_OP_MAXIMUM, M, m[i]) : m[i];
    }
    int q = -1;
    for (int i = 0; i < np; i++) {
        int r = bin(b, ANET_OP_REAL_DIV, g[i], widen_to(b, m[i], g[i]));
        int s = reduce_all(b, ANET_OP_REDUCE_SUM, bin(b, ANET_OP_MUL, r, r));
        int w = bin(b, ANET_OP_REAL_DIV, m[i], M);
        int term = bin(b, ANET_OP_MUL, bin(b, ANET_OP_MUL, bin(b, ANET_OP_MUL, w, w), s), c16(b, 0.0625f));
        q = i ? bin(b, ANET_OP_ADD, q, term) : term;
    }
    int inv_s = hyper_like(b, ANET_HYPER_INV_SCALE, M);
    *norm = bin(b, ANET_OP_MUL, bin(b, ANET_OP_MUL, bin(b, ANET_OP_MUL, M, inv_s), c16(b, 4.0f)), un(b, ANET_OP_SQRT, q));
    int f = hyper_like(b, ANET_HYPER_GRAD_TO_STATE, M);
    if (clip > 0) {
        int cf = bin(b, ANET_OP_MINIMUM, c16(b, 1.0f),
                     bin(b, ANET_OP_REAL_DIV, c16(b, clip), bin(b, ANET_OP_ADD, *norm, c16(b, 1e-6f))));
        f = bin(b, ANET_OP_MUL, f, cf);
    }
    *factor = f;
    *maxk = bin(b, ANET_OP_MUL, M, f);
}

static anet_status named(anet_graph *g, int v, const char *name, int *out) {
    static const char *const keys[1] = {"x"};
    *out = v < 0 ? -1 : anet_graph_op(g, ANET_OP_IDENTITY, name, 1, keys, &v);
    return *out < 0 ? ANET_E_INTERNAL : ANET_OK;
}

/* rows: what the host reads and writes of the row-shaped I/O: a_hyper is spread (slot k in
 * row k), a_finite a row of flags that must all be 1 (its minimum), b_gnorm a row holding the
 * norm everywhere (element 0), c_loss the per-position rows summing to the mean (their sum). */
static void row_io(anet_form_map *m, anet_seq_kind kind, int ane) {
    if (kind == ANET_SEQ_LOGITS) return;
    anet_form_io *loss = &m->out[kind == ANET_SEQ_TRAIN && ane ? 2 : 0];
    loss->mode = ANET_FORM_IO_SUM;
    loss->user_rows = loss->user_cols = 1;
    if (kind != ANET_SEQ_TRAIN) return;
    m->in[0].mode = ANET_FORM_IO_SPREAD;
    m->in[0].user_rows = 1;
    m->in[0].user_cols = ANET_HYPER_SLOTS;
    if (!ane) return;
    m->out[0].mode = ANET_FORM_IO_MIN;
    for (int k = 0; k < 2; k++) m->out[k].user_rows = m->out[k].user_cols = 1;
}

anet_status anet_seq_build(const anet_tfm_config *c, int B, anet_seq_kind kind, const anet_seq_build_opts *bo,
                           anet_seq_program *sp) {
    int train = kind == ANET_SEQ_TRAIN, ane = train && bo && bo->update == ANET_UPDATE_ANE;
    memset(sp, 0, sizeof *sp);
    if (ane && bo->opt.kind != ANET_OPT_ADAMW)
        return anet_fail(ANET_E_UNSUPPORTED, "a transformer trains with adamw");
    anet_forms_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.dialect = ANET_MIL_IOS18;
    if (bo && bo->forms) anet_forms_plan_for(bo->forms, &plan);
    pb b;
    memset(&b, 0, sizeof b);
    b.g = anet_graph_new(plan.dialect);
    b.rows = plan.row_scalars;
    anet_graph *g = b.g;
    if (!g) return anet_fail(ANET_E_NOMEM, "out of memory building the program");
    int Vp = anet_tfm_vpad(c), np = anet_tfm_nparams(c);
    /* rows: a_hyper's rows are as wide as the widest value a slot meets (a parameter, or the
     * loss's rows of ctx) */
    int Sp = anet_tfm_spad(c);
    int64_t hw = Sp;
    for (int i = 0; i < np; i++) {
        int64_t d[4];
        anet_seq_param_dims(c, i, d);
        if (d[3] > hw) hw = d[3];
    }
    int64_t hd[4] = {1, b.rows ? ANET_HYPER_SLOTS : 1, 1, b.rows ? hw : ANET_HYPER_SLOTS}, xd[4] = {1, B, Sp, Vp};
    b.hyper = train ? anet_graph_input(g, "a_hyper", anet_type_make(ANET_DT_FP16, 4, hd)) : -1;
    int xin = anet_graph_input(g, "b_x", anet_type_make(ANET_DT_FP16, 4, xd));
    int yin = kind == ANET_SEQ_LOGITS ? -1 : anet_graph_input(g, "c_y", anet_type_make(ANET_DT_FP16, 4, xd));
    int pv[MAXP], lo[MAXP], s0[MAXP], s1[MAXP], outs[4 * MAXP + 3];
    for (int i = 0; i < np; i++) {
        pv[i] = param_input(g, c, i, ane ? "_hi" : "");
        if (ane) {
            lo[i] = param_input(g, c, i, "_lo");
            s0[i] = param_input(g, c, i, "_s0");
            s1[i] = param_input(g, c, i, "_s1");
        }
    }
    /* the model reads [B,1,S,V] */
    int32_t xs[4] = {B, 1, Sp, Vp};
    int x = xin < 0 ? -1 : anet_b_reshape(g, NULL, xin, 4, xs);
    int y = yin < 0 ? -1 : anet_b_reshape(g, NULL, yin, 4, xs);
    anet_tfm_io io = {x, kind == ANET_SEQ_LOGITS ? -1 : y, pv, ANET_DT_FP16, plan.log_eps, b.rows};
    anet_tfm_out out;
    anet_status st = x < 0 ? anet_fail(ANET_E_INTERNAL, "building the program's inputs failed") : anet_tfm_build(g, c, B, &io, &out);
    int n = 0;
    if (st == ANET_OK && kind == ANET_SEQ_LOGITS) {
        int32_t ls[4] = {1, B, Sp, Vp};
        outs[n] = anet_b_reshape(g, "logits", out.logits, 4, ls);
        st = outs[n++] < 0 ? ANET_E_INTERNAL : ANET_OK;
    } else if (st == ANET_OK && !train) {
        st = named(g, out.loss, "c_loss", &outs[n++]);
    } else if (st == ANET_OK) {
        char names[MAXP][48];
        const char *gnames[MAXP];
        for (int i = 0; i < np; i++) {
            snprintf(names[i], sizeof names[i], "g%s", g->values[pv[i]].name + 1);
            gnames[i] = names[i];
        }
        int seed = hyper_like(&b, ANET_HYPER_LOSS_SCALE, out.loss), grads[MAXP];
        anet_autodiff_spec ad = {out.loss, seed, pv, np, &out.stop, 1, ane ? NULL : gnames, 0};
        st = seed < 0 ? ANET_E_INTERNAL : anet_autodiff(g, &ad, grads);
        if (st == ANET_OK && !ane) {
            st = named(g, out.loss, "c_loss", &outs[n++]);
            for (int i = 0; i < np; i++) outs[n++] = grads[i];
        } else if (st == ANET_OK) {
            int norm, factor, maxk;
            clip_ops(&b, grads, np, bo->clip, &norm, &factor, &maxk);
            int chk[3] = {out.loss, norm, maxk};
            outs[n++] = anet_row_finite_flag(g, "a_finite", 3, chk, b.rows);
            if ((st = named(g, norm, "b_gnorm", &outs[n++])) == ANET_OK) st = named(g, out.loss, "c_loss", &outs[n++]);
            for (int i = 0; i < np && st == ANET_OK; i++) {
                char base[48];
                snprintf(base, sizeof base, "u%s", g->values[pv[i]].name + 1);
                base[strlen(base) - 3] = '\0'; /* drop "_hi" */
                anet_step_update_out u;
                st = anet_step_update_ops(g, &bo->opt, base, pv[i], lo[i], s0[i], s1[i],
                                          bin(&b, ANET_OP_MUL, grads[i], widen_to(&b, factor, grads[i])), hyper_cb, &b, &u);
                outs[n++] = u.hi;
                outs[n++] = u.lo;
                outs[n++] = u.s0;
                outs[n++] = u.s1;
            }
        }
    }
    for (int i = 0; i < n && st == ANET_OK; i++)
        if (outs[i] < 0) st = anet_fail(ANET_E_INTERNAL, "building the transformer's program failed: %s", anet_last_error());
    if (st == ANET_OK) st = anet_graph_set_outputs(g, n, outs);
    if (st != ANET_OK) {
        anet_graph_free(g);
        return st;
    }
    sp->g = g;
    sp->nin = g->ninputs;
    sp->nout = n;
    sp->kind = kind;
    sp->forms = bo ? bo->forms : NULL;
    if (sp->forms) {
        st = anet_step_forms_lower_graph(&sp->form, g, sp->forms);
        if (st == ANET_OK && b.rows) row_io(&sp->form.map, kind, ane);
        if (st != ANET_OK) {
            anet_step_forms_free(&sp->form);
            anet_graph_free(g);
            memset(sp, 0, sizeof *sp);
        }
    }
    return st;
}

anet_status anet_seq_eval(anet_backend *be, anet_seq_program *sp, anet_io *in, int nin, anet_io *out, int nout) {
    if (sp->form.lowered) return anet_step_forms_eval(&sp->form, be, sp->p, in, nin, out, nout, &sp->backend_s);
    double t0 = cpu_s();
    anet_status st = be->ops->eval(be->state, sp->p, in, nin, out, nout);
    sp->backend_s += cpu_s() - t0;
    return st;
}

anet_status anet_seq_compile(anet_backend *be, anet_seq_program *sp) {
    static const char *const what[3] = {"training", "validation", "logits"};
    char *mil = NULL;
    size_t len = 0;
    /* A form that still breaks a rule would fail (or compute wrong) on a device: refused on the
     * ANE backends (as the layer graphs' programs are); vane runs any form. */
    anet_status st = ANET_OK;
    if (sp->form.lowered && strncmp(be->ops->name, "ane", 3) == 0)
        st = anet_step_forms_require(&sp->form, sp->forms, what[sp->kind]);
    if (st == ANET_OK) st = anet_mil_emit(sp->g, &mil, &len);
    if (st == ANET_OK) st = be->ops->compile(be->state, mil, len, NULL, 0, &sp->p);
    free(mil);
    return st;
}

void anet_seq_program_free(anet_backend *be, anet_seq_program *sp) {
    if (sp->p) be->ops->release(be->state, sp->p);
    anet_step_forms_free(&sp->form);
    anet_graph_free(sp->g);
    memset(sp, 0, sizeof *sp);
}
