/* vane: compile = parse MIL + check the chip profile + plan each op (plan_op.c) + order the
 * steps into units with fused elementwise chains (fuse.c) + lay out one arena by liveness
 * (arena.c; consts converted once); eval = convert inputs, run the units, convert outputs.
 * Every value holds fp16-representable numbers in the default numerics: each op computes in
 * fp32 and its output is rounded to binary16 once (docs/numerics.md). */
#include "runtime/vane/vane.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fp16.h"
#include "mil/mil.h"
#include "plan/constraints.h"
#include "runtime/vane/kernels.h"
#include "runtime/vane/plan.h"

typedef struct vane_state {
    anet_backend_config cfg;
    anet_backend_stats stats;
} vane_state;

/* ---------------------------------------------------------------- helpers */

static void program_free(anet_program *p) {
    if (!p) return;
    for (int i = 0; i < p->nsteps; i++) {
        free(p->steps[i].parts);
        free(p->steps[i].part_len);
        free(p->steps[i].aoff);
        free(p->steps[i].boff);
        free(p->steps[i].taps);
        free(p->steps[i].tap_start);
    }
    free(p->steps);
    free(p->units);
    free(p->tile);
    free(p->buf);
    free(p->arena);
    free(p->in);
    free(p->out);
    free(p->in_direct);
    free(p->out_direct);
    free(p->cur_in);
    free(p->cur_out);
    free(p->h16_io);
    free(p->span);
    for (int i = 0; i < p->nluts; i++) free(p->luts[i]);
    free(p->luts);
    free(p->lut_op);
    free(p->lut_p);
    free(p);
}

/* Converts a const payload into its fp32 buffer. */
static void load_const(const anet_const *k, float *dst, int64_t n) {
    switch (k->type.dtype) {
    case ANET_DT_FP16: anet_f16_to_f32_n((const anet_f16 *)k->data, dst, (size_t)n); break;
    case ANET_DT_FP32: memcpy(dst, k->data, (size_t)n * sizeof(float)); break;
    case ANET_DT_INT32:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)((const int32_t *)k->data)[i];
        break;
    case ANET_DT_INT8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)((const int8_t *)k->data)[i];
        break;
    case ANET_DT_BOOL:
        for (int64_t i = 0; i < n; i++) dst[i] = ((const uint8_t *)k->data)[i] ? 1.0f : 0.0f;
        break;
    case ANET_DT_UINT8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)((const uint8_t *)k->data)[i];
        break;
    default: memset(dst, 0, (size_t)n * sizeof(float)); break;
    }
}

static anet_status io_desc_fill(const anet_graph *g, int v, io_desc *d, const char *what) {
    const anet_value *val = &g->values[v];
    if (val->type.dtype != ANET_DT_FP16 && val->type.dtype != ANET_DT_FP32)
        return anet_fail(ANET_E_UNSUPPORTED, "vane: %s '%s' has dtype %s; vane's I/O is fp16 or fp32",
                         what, val->name, anet_dtype_name(val->type.dtype));
    d->value = v;
    d->dtype = val->type.dtype;
    d->elems = anet_type_elements(&val->type);
    if (d->elems < 0) return anet_fail(ANET_E_INVALID, "vane: %s '%s' has an invalid shape", what, val->name);
    d->nbytes = (size_t)d->elems * anet_dtype_size(d->dtype);
    snprintf(d->name, sizeof d->name, "%s", val->name ? val->name : "?");
    anet_type_str(&val->type, d->type, sizeof d->type);
    return ANET_OK;
}

static anet_status reject(const anet_graph *g, anet_chip chip) {
    anet_verdict v[4];
    int n = anet_plan_check_graph(g, chip, v, 4);
    if (n < 0) return ANET_E_INTERNAL;
    if (n == 0) return ANET_OK;
    return anet_fail(ANET_E_BACKEND,
                     "vane: the program does not compile for chip profile %s: [%s] %s: %s (%s; source: %s)%s",
                     anet_chip_name(chip), v[0].rule->id, v[0].rule->title, v[0].detail,
                     v[0].rule->reason, v[0].rule->source,
                     n > 1 ? " (and more violations)" : "");
}

anet_status anet_vane_compile_graph(void *state, const anet_graph *g, anet_program **out) {
    return anet_vane_compile_graph_opts(state, g, 0, out);
}

/* A fused step's operand or output may live in a tile slot instead of a buffer. */
static int in_slot(const step *s, int k) { return s->src[k] == SRC_SLOT || s->src[k] == SRC_IN16; }

/* A step run whole whose output is read by no step and leaves the program only as fp16 need
 * not round it: the output conversion rounds to nearest even too (the same bits; a weight
 * gradient of --update cpu skips one pass over the largest tensor). */
static void drop_output_rounding(anet_program *p, const anet_graph *g, const int *alias) {
    char *read = calloc((size_t)(g->nvalues > 0 ? g->nvalues : 1), 1);
    if (!read) return; /* keep rounding: correct, only slower */
    for (int i = 0; i < p->nsteps; i++) {
        const step *s = &p->steps[i];
        for (int k = 0; k < 3; k++) if (s->in[k] >= 0) read[anet_vane_root(alias, s->in[k])] = 1;
        if (s->has_bias) read[anet_vane_root(alias, s->bias)] = 1;
        for (int k = 0; k < s->nparts; k++) read[anet_vane_root(alias, s->parts[k])] = 1;
    }
    for (int u = 0; u < p->nunits; u++) {
        if (p->units[u].fused) continue;
        step *s = &p->steps[p->units[u].first];
        int r = anet_vane_root(alias, s->out), outs = 0, ok = s->round && !read[r];
        for (int j = 0; ok && j < p->nout; j++) {
            if (anet_vane_root(alias, p->out[j].value) != r) continue;
            outs++;
            if (p->out[j].dtype != ANET_DT_FP16 || p->out_direct[j]) ok = 0;
        }
        if (ok && outs > 0) s->round = 0;
    }
    free(read);
}

/* A const whose every element is +0 or -0 (a finite check multiplies by one). */
static int const_zero(const anet_graph *g, const int *alias, int v) {
    const anet_const *k = anet_graph_const_of(g, anet_vane_root(alias, v));
    if (!k || !k->data) return 0;
    int64_t n = anet_type_elements(&k->type);
    anet_dtype dt = k->type.dtype;
    if ((dt != ANET_DT_FP16 && dt != ANET_DT_FP32) || n < 1 || k->nbytes < (size_t)n * anet_dtype_size(dt)) return 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits = dt == ANET_DT_FP16 ? (uint32_t)((const anet_f16 *)k->data)[i] << 16 : 0;
        if (dt == ANET_DT_FP32) memcpy(&bits, (const float *)k->data + i, sizeof bits);
        if (bits << 1 != 0) return 0; /* anything but the sign bit */
    }
    return 1;
}

/* Knuth's TwoSum: with s = RN(a + b) and bb = RN(s - a), the four ops
 *     a' = s - bb,  da = a - a',  db = b - bb,  t = da + db
 * have fp16 results exactly (t = a + b - s); bb itself does not always (tests/test_two_sum.c,
 * every pair of fp16 values with --all). The --update ane step carries each weight as hi + lo
 * this way. Finds t's step and marks those four; every operand one element per output. */
static void mark_two_sum(anet_program *p, const anet_graph *g, const int *alias, const int *made, int t, char *exact) {
#define R(v) anet_vane_root(alias, (v))
#define BIN(i, o) ((i) >= 0 && p->steps[i].kind == S_BINARY && p->steps[i].op == (o))
    const step *ts = &p->steps[t];
    if (!BIN(t, ANET_VK_ADD)) return;
    for (int sw = 0; sw < 2; sw++) {
        int da = made[R(ts->in[sw])], db = made[R(ts->in[1 - sw])];
        if (!BIN(da, ANET_VK_SUB) || !BIN(db, ANET_VK_SUB)) continue;
        int a = R(p->steps[da].in[0]), ap = made[R(p->steps[da].in[1])];
        int b = R(p->steps[db].in[0]), bb = made[R(p->steps[db].in[1])];
        if (!BIN(ap, ANET_VK_SUB) || !BIN(bb, ANET_VK_SUB)) continue;
        int s = made[R(p->steps[bb].in[0])];
        if (!BIN(s, ANET_VK_ADD) || R(p->steps[bb].in[1]) != a || made[R(p->steps[ap].in[0])] != s ||
            made[R(p->steps[ap].in[1])] != bb)
            continue;
        int sa = R(p->steps[s].in[0]), sb = R(p->steps[s].in[1]);
        if (!((sa == a && sb == b) || (sa == b && sb == a))) continue;
        const int six[6] = {s, bb, ap, da, db, t};
        int ok = p->steps[s].round && p->steps[bb].round;
        for (int k = 0; ok && k < 6; k++) {
            const step *q = &p->steps[six[k]];
            ok = g->values[q->out].type.dtype == ANET_DT_FP16 && q->ny == ts->ny;
            for (int j = 0; ok && j < 2; j++)
                ok = g->values[q->in[j]].type.dtype == ANET_DT_FP16 &&
                     anet_type_elements(&g->values[q->in[j]].type) == q->ny;
        }
        if (!ok) continue;
        exact[ap] = exact[da] = exact[db] = exact[t] = 1;
        return;
    }
#undef BIN
#undef R
}

/* Ops whose result is one of their fp16 operands, or 0 / 1, give an fp16 value exactly: max,
 * min, the comparisons, abs, relu, a select between fp16 values, an fp16-to-fp16 cast, a
 * product with a zero const (+-0 or NaN); so do the last four ops of a TwoSum (above). Every
 * fp16 value a step of the fp32 path reads is fp16 exactly (rounded where made, converted from
 * fp16 where given; an unrounded buffer is read only by native fp16 units, fuse.c), so such a
 * step's rounding pass changes no bit and is dropped (in Adam's chain, 8 of ~27 ops per
 * parameter). Native fp16 units are left as they are. */
static void drop_exact_rounding(anet_program *p, const anet_graph *g, const int *alias) {
#define F16(v) ((v) >= 0 && g->values[v].type.dtype == ANET_DT_FP16)
    int *made = malloc((size_t)(g->nvalues > 0 ? g->nvalues : 1) * sizeof *made);
    char *two_sum = calloc((size_t)(p->nsteps > 0 ? p->nsteps : 1), 1);
    if (made && two_sum) {
        for (int v = 0; v < g->nvalues; v++) made[v] = -1;
        for (int i = 0; i < p->nsteps; i++) made[p->steps[i].out] = i;
        for (int i = 0; i < p->nsteps; i++) mark_two_sum(p, g, alias, made, i, two_sum);
    } /* else: no TwoSum marks; correct, only slower */
    for (int u = 0; u < p->nunits; u++) {
        if (p->units[u].h16) continue;
        for (int i = p->units[u].first; i < p->units[u].first + p->units[u].count; i++) {
            step *s = &p->steps[i];
            int exact = 0;
            if (s->kind == S_BINARY)
                exact = s->op == ANET_VK_GT || s->op == ANET_VK_GE || s->op == ANET_VK_LT || s->op == ANET_VK_EQ ||
                        ((s->op == ANET_VK_MAX || s->op == ANET_VK_MIN) && F16(s->in[0]) && F16(s->in[1])) ||
                        (s->op == ANET_VK_MUL && ((F16(s->in[0]) && const_zero(g, alias, s->in[1])) ||
                                                  (F16(s->in[1]) && const_zero(g, alias, s->in[0])))) ||
                        (two_sum && two_sum[i]);
            else if (s->kind == S_UNARY)
                exact = (s->op == ANET_VK_ABS || s->op == ANET_VK_RELU) && !s->lut && F16(s->in[0]);
            else if (s->kind == S_SELECT)
                exact = F16(s->in[1]) && F16(s->in[2]);
            else if (s->kind == S_COPY)
                exact = F16(s->in[0]);
            if (exact && s->round) {
                s->round = 0;
                s->exact = 1;
            }
        }
    }
    free(made);
    free(two_sum);
#undef F16
}

anet_status anet_vane_compile_graph_opts(void *state, const anet_graph *g, unsigned flags, anet_program **out) {
    vane_state *vs = state;
    if (!vs || !g || !out) return anet_fail(ANET_E_INVALID, "vane compile: missing argument");
    *out = NULL;
    anet_status st = vs->cfg.host_form ? ANET_OK : reject(g, vs->cfg.chip);
    if (st != ANET_OK) return st;

    anet_program *p = calloc(1, sizeof *p);
    int *alias = malloc((size_t)(g->nvalues > 0 ? g->nvalues : 1) * sizeof *alias);
    char *need = NULL;
    if (!p || !alias) { st = anet_fail(ANET_E_NOMEM, "vane: out of memory"); goto fail; }
    p->fp16 = vs->cfg.numerics == ANET_NUMERICS_FP16;
    p->k = anet_vk_best();
    p->nvalues = g->nvalues;
    p->steps = calloc((size_t)(g->nops > 0 ? g->nops : 1), sizeof *p->steps);
    p->buf = calloc((size_t)(g->nvalues > 0 ? g->nvalues : 1), sizeof *p->buf);
    p->in = calloc((size_t)(g->ninputs > 0 ? g->ninputs : 1), sizeof *p->in);
    p->out = calloc((size_t)(g->noutputs > 0 ? g->noutputs : 1), sizeof *p->out);
    p->in_direct = calloc((size_t)(g->ninputs > 0 ? g->ninputs : 1), 1);
    p->out_direct = calloc((size_t)(g->noutputs > 0 ? g->noutputs : 1), 1);
    p->cur_in = calloc((size_t)(g->ninputs > 0 ? g->ninputs : 1), sizeof *p->cur_in);
    p->cur_out = calloc((size_t)(g->noutputs > 0 ? g->noutputs : 1), sizeof *p->cur_out);
    if (!p->steps || !p->buf || !p->in || !p->out || !p->in_direct || !p->out_direct || !p->cur_in || !p->cur_out) { st = anet_fail(ANET_E_NOMEM, "vane: out of memory"); goto fail; }
    for (int i = 0; i < g->nvalues; i++) alias[i] = -1;

    p->nin = g->ninputs;
    for (int i = 0; i < g->ninputs; i++)
        if ((st = io_desc_fill(g, g->inputs[i], &p->in[i], "input")) != ANET_OK) goto fail;
    p->nout = g->noutputs;
    for (int i = 0; i < g->noutputs; i++)
        if ((st = io_desc_fill(g, g->outputs[i], &p->out[i], "output")) != ANET_OK) goto fail;

    /* Plan the steps. */
    for (int o = 0; o < g->nops; o++) {
        const anet_op *op = &g->ops[o];
        if (op->kind == ANET_OP_CONST) continue;

        step *s = &p->steps[p->nsteps];
        memset(s, 0, sizeof *s);
        st = anet_vane_plan_op(g, o, s, alias);
        if (st != ANET_OK) {
            free(s->parts); free(s->part_len); free(s->aoff); free(s->boff);
            goto fail;
        }
        if (s->kind == S_COPY && s->in[0] < 0) continue; /* alias: no step */
        s->round = p->fp16 && g->values[s->out].type.dtype == ANET_DT_FP16;
        p->nsteps++;
    }

    /* Execution order, fused chains, then one arena laid out by liveness. */
    need = malloc((size_t)(g->nvalues > 0 ? g->nvalues : 1));
    if (!need) { st = anet_fail(ANET_E_NOMEM, "vane: out of memory"); goto fail; }
    if ((st = anet_vane_schedule(p, g, alias, flags, need)) != ANET_OK) goto fail;
    if ((st = anet_vane_layout(p, g, alias, need, flags)) != ANET_OK) goto fail;
    if (!(flags & ANET_VANE_NO_FUSE)) { /* op-by-op: the reference */
        drop_output_rounding(p, g, alias);
        drop_exact_rounding(p, g, alias);
    }
    /* Consts: converted once, now. */
    for (int o = 0; o < g->nops; o++) {
        const anet_op *op = &g->ops[o];
        if (op->kind != ANET_OP_CONST || !op->val || op->noutputs < 1) continue;
        int v = op->outputs[0];
        if (!p->buf[v]) continue;
        int64_t n = anet_type_elements(&op->val->type);
        if (n != anet_type_elements(&g->values[v].type) || op->val->nbytes < (size_t)n * anet_dtype_size(op->val->type.dtype)) {
            st = anet_fail(ANET_E_FORMAT, "vane: const '%s' payload does not match its type", g->values[v].name);
            goto fail;
        }
        load_const(op->val, p->buf[v], n);
    }
    /* Every step input must have a buffer (a value of a dtype vane cannot hold would not). */
    for (int i = 0; i < p->nsteps; i++) {
        step *s = &p->steps[i];
        for (int k = 0; k < 3; k++)
            if (s->in[k] >= 0 && !p->buf[s->in[k]] && !in_slot(s, k)) {
                st = anet_fail(ANET_E_UNSUPPORTED, "vane: op '%s' reads a value of unsupported dtype", s->name ? s->name : "?");
                goto fail;
            }
        if ((!p->buf[s->out] && s->slot < 0) || (s->has_bias && !p->buf[s->bias])) {
            st = anet_fail(ANET_E_UNSUPPORTED, "vane: op '%s' uses a value of unsupported dtype", s->name ? s->name : "?");
            goto fail;
        }
        for (int k = 0; k < s->nparts; k++)
            if (!p->buf[s->parts[k]]) {
                st = anet_fail(ANET_E_UNSUPPORTED, "vane: op '%s' reads a value of unsupported dtype", s->name ? s->name : "?");
                goto fail;
            }
    }
    for (int i = 0; i < p->nout; i++)
        if (!p->buf[p->out[i].value] && !p->out_direct[i]) {
            st = anet_fail(ANET_E_UNSUPPORTED, "vane: output '%s' has no buffer", p->out[i].name);
            goto fail;
        }
    /* Step names point into the graph, which the caller may free: drop them. */
    for (int i = 0; i < p->nsteps; i++) p->steps[i].name = NULL;
    free(alias);
    free(need);
    vs->stats.compiles++;
    *out = p;
    return ANET_OK;
fail:
    free(alias);
    free(need);
    program_free(p);
    return st;
}

/* ---------------------------------------------------------------- execution */

static void run_step(const anet_program *p, const step *s) {
    float *y = p->buf[s->out];
    float *const *b = p->buf;
    switch (s->kind) {
    case S_BINARY: p->k->binary((anet_vk_binop)s->op, &s->bc, b[s->in[0]], b[s->in[1]], y); break;
    case S_SELECT: p->k->select(&s->bc, b[s->in[0]], b[s->in[1]], b[s->in[2]], y); break;
    case S_UNARY: p->k->unary((anet_vk_unop)s->op, (size_t)s->ny, b[s->in[0]], y, s->p); break;
    case S_COPY: memcpy(y, b[s->in[0]], (size_t)s->ny * sizeof(float)); break;
    case S_SOFTMAX: anet_vk_softmax(s->outer, s->n, s->inner, b[s->in[0]], y); break;
    case S_REDUCE: p->k->reduce((anet_vk_redop)s->op, s->rank, s->dims, s->mask, b[s->in[0]], y); break;
    case S_TRANSPOSE: anet_vk_transpose(s->rank, s->dims, s->perm, b[s->in[0]], y); break;
    case S_SLICE: anet_vk_slice(s->rank, s->dims, s->begin, s->size, b[s->in[0]], y); break;
    case S_CONCAT: {
        float *dst = y;
        for (int64_t o = 0; o < s->outer; o++)
            for (int k = 0; k < s->nparts; k++) {
                memcpy(dst, b[s->parts[k]] + o * s->part_len[k], (size_t)s->part_len[k] * sizeof(float));
                dst += s->part_len[k];
            }
        break;
    }
    case S_MATMUL: {
        const float *x = b[s->in[0]], *w = b[s->in[1]];
        int lda = (int)(s->ta ? s->M : s->K), ldb = (int)(s->tb ? s->K : s->N);
        for (int64_t i = 0; i < s->nb; i++)
            cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                        (int)s->M, (int)s->N, (int)s->K, 1.0f, x + s->aoff[i], lda, w + s->boff[i], ldb,
                        0.0f, y + i * s->M * s->N, (int)s->N);
        break;
    }
    case S_LINEAR: {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)s->M, (int)s->N, (int)s->K, 1.0f,
                    b[s->in[0]], (int)s->K, b[s->in[1]], (int)s->K, 0.0f, y, (int)s->N);
        if (s->has_bias) {
            const float *bias = b[s->bias];
            for (int64_t r = 0; r < s->M; r++) {
                float *yr = y + r * s->N;
                for (int64_t j = 0; j < s->N; j++) yr[j] += bias[j];
            }
        }
        break;
    }
    case S_CONV: {
        const anet_vk_win *w = &s->win;
        const float *x = b[s->in[0]], *wt = b[s->in[1]];
        int64_t in_plane = w->h * w->w, out_plane = w->ho * w->wo;
        for (int64_t n = 0; s->taps && n < s->batch; n++)
            for (int64_t o = 0; o < s->cout; o++)
                anet_vk_conv_taps(w, s->taps + s->tap_start[o], s->tap_start[o + 1] - s->tap_start[o],
                                  x + (n * s->cin + o / s->M * w->c) * in_plane, y + (n * s->cout + o) * out_plane);
        if (s->col2im) {
            /* The weight regrouped [(m, i, j)][c] per group, once per run. */
            const int64_t khw = w->kh * w->kw, mk = s->M * khw;
            float *wr = s->scratch, *pl = s->scratch + s->groups * s->M * s->K;
            for (int64_t o = 0; o < s->cout; o++)
                for (int64_t c = 0; c < w->c; c++)
                    for (int64_t t = 0; t < khw; t++)
                        wr[(o / s->M * mk + o % s->M * khw + t) * w->c + c] = wt[(o * w->c + c) * khw + t];
            for (int64_t n = 0; n < s->batch; n++)
                for (int64_t g = 0; g < s->groups; g++) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mk, (int)in_plane, (int)w->c, 1.0f,
                                wr + g * mk * w->c, (int)w->c, x + (n * s->cin + g * w->c) * in_plane, (int)in_plane,
                                0.0f, pl, (int)in_plane);
                    anet_vk_conv_scatter(w, s->M, pl, y + (n * s->cout + g * s->M) * out_plane);
                }
        }
        if (s->wide) {
            /* The weight with rows padded to the lanes, once per run. */
            const int64_t kwp = anet_vk_wide_kwp(w), rows = s->cout * w->c * w->kh;
            float *wp = s->scratch, *ws = s->scratch + rows * kwp;
            anet_vk_conv_wide_pad(w, rows, wt, wp);
            for (int64_t n = 0; n < s->batch; n++)
                for (int64_t g = 0; g < s->groups; g++)
                    anet_vk_conv_wide(w, s->M, wp + g * s->M * w->c * w->kh * kwp, x + (n * s->cin + g * w->c) * in_plane,
                                      y + (n * s->cout + g * s->M) * out_plane, ws);
        }
        for (int64_t n = 0; !s->taps && !s->col2im && !s->wide && n < s->batch; n++)
            for (int64_t g = 0; g < s->groups; g++) {
                const float *xg = x + (n * s->cin + g * w->c) * in_plane;
                float *yg = y + (n * s->cout + g * s->M) * out_plane;
                const float *col = xg;
                if (s->im2col_t) {
                    anet_vk_im2col_t(w, xg, s->scratch);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)s->M, (int)s->N, (int)s->K, 1.0f,
                                wt + g * s->M * s->K, (int)s->K, s->scratch, (int)s->K, 0.0f, yg, (int)s->N);
                    continue;
                } else if (!s->direct) {
                    anet_vk_im2col(w, xg, s->scratch);
                    col = s->scratch;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->M, (int)s->N, (int)s->K,
                            1.0f, wt + g * s->M * s->K, (int)s->K, col, (int)s->N, 0.0f, yg, (int)s->N);
            }
        if (s->has_bias) {
            const float *bias = b[s->bias];
            for (int64_t n = 0; n < s->batch; n++)
                for (int64_t co = 0; co < s->cout; co++) {
                    float *yc = y + (n * s->cout + co) * out_plane;
                    for (int64_t i = 0; i < out_plane; i++) yc[i] += bias[co];
                }
        }
        break;
    }
    case S_POOL: anet_vk_pool(s->is_max, s->exclude, s->batch, &s->win, b[s->in[0]], y); break;
    }
    if (s->round) p->k->round((size_t)s->ny, y);
}

static anet_status vane_eval(void *state, anet_program *p, const anet_io *in, int nin, anet_io *out,
                             int nout) {
    vane_state *vs = state;
    if (!vs || !p) return anet_fail(ANET_E_INVALID, "vane eval: missing program");
    if (nin != p->nin || (nin > 0 && !in))
        return anet_fail(ANET_E_INVALID, "vane eval: the program takes %d inputs, got %d", p->nin, nin);
    if (nout != p->nout || (nout > 0 && !out))
        return anet_fail(ANET_E_INVALID, "vane eval: the program has %d outputs, got %d", p->nout, nout);
    for (int i = 0; i < nin; i++) {
        const io_desc *d = &p->in[i];
        if (!in[i].data || in[i].nbytes != d->nbytes)
            return anet_fail(ANET_E_MISMATCH, "vane eval: input %d '%s' (%s) needs %zu bytes, got %zu%s", i,
                             d->name, d->type, d->nbytes, in[i].nbytes, in[i].data ? "" : " (NULL data)");
    }
    for (int i = 0; i < nout; i++) {
        const io_desc *d = &p->out[i];
        if (!out[i].data || out[i].nbytes != d->nbytes)
            return anet_fail(ANET_E_MISMATCH, "vane eval: output %d '%s' (%s) needs %zu bytes, got %zu%s", i,
                             d->name, d->type, d->nbytes, out[i].nbytes, out[i].data ? "" : " (NULL data)");
    }
    uint64_t bin = 0, bout = 0;
    for (int i = 0; i < nin; i++) {
        const io_desc *d = &p->in[i];
        float *dst = p->buf[d->value];
        p->cur_in[i] = in[i].data;
        bin += d->nbytes;
        if (p->in_direct[i] || !dst) continue; /* read by fused chains from in[i] (or by no one) */
        if (d->dtype == ANET_DT_FP16) anet_f16_to_f32_n((const anet_f16 *)in[i].data, dst, (size_t)d->elems);
        else memcpy(dst, in[i].data, d->nbytes);
    }
    for (int i = 0; i < nout; i++) p->cur_out[i] = out[i].data;
    anet_vane_h16_check_io(p, in, out);
    for (int u = 0; u < p->nunits; u++) {
        const unit *un = &p->units[u];
        if (un->fused) anet_vane_run_fused(p, un);
        else run_step(p, &p->steps[un->first]);
    }
    for (int i = 0; i < nout; i++) {
        const io_desc *d = &p->out[i];
        const float *src = p->buf[d->value];
        bout += d->nbytes;
        if (p->out_direct[i]) continue; /* written by its fused chain */
        if (d->dtype == ANET_DT_FP16) anet_f32_to_f16_n(src, (anet_f16 *)out[i].data, (size_t)d->elems);
        else memcpy(out[i].data, src, d->nbytes);
    }
    vs->stats.dispatches++;
    vs->stats.bytes_in += bin;
    vs->stats.bytes_out += bout;
    return ANET_OK;
}

/* ---------------------------------------------------------------- backend ops */

static anet_status vane_probe(char *why, size_t why_len) {
    if (why && why_len) snprintf(why, why_len, "vane runs on every CPU");
    return ANET_OK;
}

static anet_status vane_create(const anet_backend_config *cfg, void **state) {
    if (!cfg || !state) return anet_fail(ANET_E_INVALID, "vane: missing config");
    vane_state *vs = calloc(1, sizeof *vs);
    if (!vs) return anet_fail(ANET_E_NOMEM, "vane: out of memory");
    vs->cfg = *cfg;
    *state = vs;
    return ANET_OK;
}

static void vane_destroy(void *state) { free(state); }

static anet_status vane_compile(void *state, const char *mil, size_t mil_len, const uint8_t *weights,
                                size_t weights_len, anet_program **out) {
    if (!state || !mil || !out) return anet_fail(ANET_E_INVALID, "vane compile: missing argument");
    anet_graph *g = NULL;
    anet_status st = anet_mil_parse(mil, mil_len, weights, weights_len, &g);
    if (st != ANET_OK) return anet_fail_ctx(st, "vane compile");
    st = anet_vane_compile_graph(state, g, out);
    anet_graph_free(g);
    return st;
}

static void vane_release(void *state, anet_program *p) {
    (void)state;
    program_free(p);
}

static void vane_stats(void *state, anet_backend_stats *out) {
    const vane_state *vs = state;
    if (!out) return;
    if (vs) *out = vs->stats;
    else memset(out, 0, sizeof *out);
}

const anet_backend_ops anet_vane_ops = {
    "vane", vane_probe, vane_create, vane_destroy, vane_compile, vane_eval, vane_release, vane_stats,
    NULL, /* no resident I/O: the trainer ping-pongs the program form's buffers on the host (step_resident.c) */
};
