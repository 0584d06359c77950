/* Lowering a program to its chip's form (see forms_lower.h). */
#include "plan/forms_lower.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fp16.h"
#include "graph/build.h"
#include "plan/forms_check.h"

#define FORM_MAX_NAME 300

void anet_forms_plan_for(const anet_forms *f, anet_forms_plan *out) {
    memset(out, 0, sizeof *out);
    out->dialect = f->on[ANET_FORM_DIALECT_IOS16] && f->chip != ANET_CHIP_M4 ? ANET_MIL_IOS16 : ANET_MIL_IOS18;
    /* Padding is invisible and costs little: every chip pads when the rule or the I/O width
     * rule is on (the padded batch is also the I/O width). */
    out->pad32 = f->on[ANET_FORM_MATMUL_CONTRACTION_32] || f->on[ANET_FORM_IO_WIDTH_MULT32];
    out->bias_cols = f->on[ANET_FORM_BROADCAST_CHANNEL] || f->on[ANET_FORM_IO_WIDTH_MULT32] ? 32 : 1;
    /* 2^-14: the smallest normal fp16; the argument of the loss's log is >= 1, so the result
     * changes by at most one fp16 ulp. */
    out->log_eps = f->on[ANET_FORM_LOG_EPSILON] ? 6.103515625e-05f : 0.0f;
    out->row_scalars = f->on[ANET_FORM_BROADCAST_SCALAR];
}

int anet_forms_pad(const anet_forms_plan *p, int n) { return p->pad32 ? (int)anet_form_round32(n) : n; }

static anet_status rename_value(anet_graph *g, int v, const char *prefix) {
    char buf[FORM_MAX_NAME];
    snprintf(buf, sizeof buf, "%s%s", prefix, g->values[v].name);
    char *d = malloc(strlen(buf) + 1);
    if (!d) return anet_fail(ANET_E_NOMEM, "forms: out of memory");
    strcpy(d, buf);
    free(g->values[v].name);
    g->values[v].name = d;
    return ANET_OK;
}

/* The last op created writes `old` instead of its fresh value (uses and name stay). */
static anet_status adopt_output(anet_graph *g, int r, int old) {
    anet_op *op = &g->ops[g->nops - 1];
    if (r != g->nvalues - 1 || op->noutputs != 1 || op->outputs[0] != r)
        return anet_fail(ANET_E_INTERNAL, "forms: unexpected graph layout while lowering an input");
    op->outputs[0] = old;
    g->values[old].producer = g->nops - 1;
    free(g->values[r].name);
    g->values[r].name = NULL;
    g->nvalues--;
    return ANET_OK;
}

static int fp16_rank4(const anet_type *t) { return t->rank == 4 && t->dtype == ANET_DT_FP16 && t->dims[0] == 1; }

static void io_init(anet_form_io *io, const anet_type *t, int pad) {
    io->rows = t->dims[1] * t->dims[2];
    io->cols = t->dims[3];
    io->C = io->rows;
    io->S = pad ? anet_form_round32(io->cols) : io->cols;
    io->user_rows = io->rows;
    io->user_cols = io->cols;
    io->fill = 0.0f;
}

/* One input: a new [1,C,1,S] input takes the name; the old value becomes the end of
 * prologue -> slice -> reshape, so every use stays. pro gets the value after the prologue. */
static anet_status lower_input(anet_graph *g, const anet_forms *f, int i, anet_form_map *m, int *newv, int *pro) {
    int v = g->inputs[i];
    anet_type t = g->values[v].type;
    *newv = v;
    *pro = -1;
    if (!fp16_rank4(&t)) {
        m->unmet[ANET_FORM_IO_SHAPE_1C1S] = 1;
        snprintf(m->unmet_detail[ANET_FORM_IO_SHAPE_1C1S], sizeof m->unmet_detail[0], "input '%s' is not fp16 rank 4", g->values[v].name);
        return ANET_OK;
    }
    anet_form_io *io = &m->in[i];
    /* Inputs to be packed (max-inputs) go in rows of 32: padded like the width rule pads. */
    int packs = f->on[ANET_FORM_MAX_INPUTS] && g->ninputs > f->max_inputs;
    io_init(io, &t, f->on[ANET_FORM_IO_WIDTH_MULT32] || packs);
    int reshape = t.dims[2] != 1, slice = io->S != io->cols, prologue = f->on[ANET_FORM_RUNTIME_INPUT_LAYOUT];
    if (!reshape && !slice && !prologue) {
        *pro = v;
        return ANET_OK;
    }
    char name[FORM_MAX_NAME], opn[FORM_MAX_NAME + 16];
    snprintf(name, sizeof name, "%s", g->values[v].name);
    anet_status st = rename_value(g, v, "fl_");
    if (st) return st;
    int64_t dd[4] = {1, io->C, 1, io->S};
    int d = anet_graph_input(g, name, anet_type_make(ANET_DT_FP16, 4, dd));
    if (d < 0) return anet_fail_ctx(ANET_E_INVALID, "forms: input '%s'", name);
    *newv = d;
    int cur = d;
    int last = !slice && !reshape;
    if (prologue) {
        /* Layout ops may not read a runtime input directly: one elementwise op first. */
        snprintf(opn, sizeof opn, "fl_pro_%s", name);
        cur = anet_b_binary(g, ANET_OP_MUL, opn, d, anet_graph_const_fp16(g, NULL, 1.0f));
        if (cur < 0) return anet_fail_ctx(ANET_E_INTERNAL, "forms: prologue of '%s'", name);
        if (last && (st = adopt_output(g, cur, v))) return st;
        *pro = last ? v : cur;
        m->shaped[ANET_FORM_RUNTIME_INPUT_LAYOUT] = 1;
    }
    if (slice) {
        int32_t b[4] = {0, 0, 0, 0}, s[4] = {1, (int32_t)io->C, 1, (int32_t)io->cols};
        snprintf(opn, sizeof opn, "fl_sl_%s", name);
        int r = anet_b_slice_by_size(g, opn, cur, 4, b, s);
        if (r < 0) return anet_fail_ctx(ANET_E_INTERNAL, "forms: slicing '%s'", name);
        if (!reshape && (st = adopt_output(g, r, v))) return st;
        cur = reshape ? r : v;
        m->shaped[ANET_FORM_IO_WIDTH_MULT32] = 1;
    }
    if (reshape) {
        int32_t s[4] = {1, (int32_t)t.dims[1], (int32_t)t.dims[2], (int32_t)t.dims[3]};
        snprintf(opn, sizeof opn, "fl_rs_%s", name);
        int r = anet_b_reshape(g, opn, cur, 4, s);
        if (r < 0) return anet_fail_ctx(ANET_E_INTERNAL, "forms: reshaping '%s'", name);
        if ((st = adopt_output(g, r, v))) return st;
    }
    m->shaped[ANET_FORM_IO_SHAPE_1C1S] = 1;
    if (*pro < 0) *pro = d;
    return ANET_OK;
}

/* One output: reshaped to [1,C,1,S]; a scalar is widened to a [1,1,1,32] row (element 0). */
static anet_status lower_output(anet_graph *g, const anet_forms *f, int j, int row_src, anet_form_map *m) {
    int v = g->outputs[j];
    anet_type t = g->values[v].type;
    if (!fp16_rank4(&t)) {
        m->unmet[ANET_FORM_IO_SHAPE_1C1S] = 1;
        snprintf(m->unmet_detail[ANET_FORM_IO_SHAPE_1C1S], sizeof m->unmet_detail[0], "output '%s' is not fp16 rank 4", g->values[v].name);
        return ANET_OK;
    }
    anet_form_io *io = &m->out[j];
    io_init(io, &t, 0);
    int reshape = t.dims[2] != 1;
    int widen = 0;
    if (f->on[ANET_FORM_IO_WIDTH_MULT32] && io->cols % 32 != 0) {
        /* A scalar can be widened by a broadcast add (not where scalar broadcasts are wrong);
         * other widths would need pad/concat, which the chips reject: the builder pads them. */
        widen = io->rows * io->cols == 1 && !f->on[ANET_FORM_BROADCAST_SCALAR] && row_src >= 0;
        if (!widen && io->rows * io->cols == 1 && f->on[ANET_FORM_BROADCAST_SCALAR]) {
            m->unmet[ANET_FORM_BROADCAST_SCALAR] = 1;
            snprintf(m->unmet_detail[ANET_FORM_BROADCAST_SCALAR], sizeof m->unmet_detail[0],
                     "scalar output '%.60s' needs a scalar broadcast to widen to 32",
                     g->values[v].name);
        } else if (!widen) {
            m->unmet[ANET_FORM_IO_WIDTH_MULT32] = 1;
            snprintf(m->unmet_detail[ANET_FORM_IO_WIDTH_MULT32], sizeof m->unmet_detail[0], "output '%s' has width %lld", g->values[v].name,
                     (long long)io->cols);
        }
    }
    if (!reshape && !widen) return ANET_OK;
    char name[FORM_MAX_NAME], opn[FORM_MAX_NAME + 16];
    snprintf(name, sizeof name, "%s", g->values[v].name);
    anet_status st = rename_value(g, v, "fl_");
    if (st) return st;
    int p = g->values[v].producer;
    if (p >= 0 && g->ops[p].name && strcmp(g->ops[p].name, name) == 0) {
        snprintf(opn, sizeof opn, "fl_op_%s", name);
        char *dn = malloc(strlen(opn) + 1);
        if (!dn) return anet_fail(ANET_E_NOMEM, "forms: out of memory");
        strcpy(dn, opn);
        free(g->ops[p].name);
        g->ops[p].name = dn;
    }
    int r;
    if (widen) {
        int32_t b[4] = {0, 0, 0, 0}, s[4] = {1, 1, 1, 32};
        int z = anet_b_slice_by_size(g, NULL, row_src, 4, b, s);
        z = z < 0 ? -1 : anet_b_binary(g, ANET_OP_MUL, NULL, z, anet_graph_const_fp16(g, NULL, 0.0f));
        int x = v;
        if (z >= 0 && reshape) {
            int32_t one[4] = {1, 1, 1, 1};
            x = anet_b_reshape(g, NULL, v, 4, one);
        }
        r = z < 0 || x < 0 ? -1 : anet_b_binary(g, ANET_OP_ADD, name, z, x);
        io->S = 32;
        m->shaped[ANET_FORM_IO_WIDTH_MULT32] = 1;
    } else {
        int32_t s[4] = {1, (int32_t)io->rows, 1, (int32_t)io->cols};
        r = anet_b_reshape(g, name, v, 4, s);
    }
    if (r < 0) return anet_fail_ctx(ANET_E_INTERNAL, "forms: lowering output '%s'", name);
    g->outputs[j] = r;
    m->shaped[ANET_FORM_IO_SHAPE_1C1S] = 1;
    return ANET_OK;
}

/* The new ops (from nops0 on) move before every other op; producers follow. */
static anet_status ops_to_front(anet_graph *g, int nops0) {
    int nnew = g->nops - nops0;
    if (nnew <= 0) return ANET_OK;
    anet_op *tmp = malloc((size_t)g->nops * sizeof *tmp);
    if (!tmp) return anet_fail(ANET_E_NOMEM, "forms: out of memory");
    memcpy(tmp, g->ops + nops0, (size_t)nnew * sizeof *tmp);
    memcpy(tmp + nnew, g->ops, (size_t)nops0 * sizeof *tmp);
    memcpy(g->ops, tmp, (size_t)g->nops * sizeof *tmp);
    free(tmp);
    for (int o = 0; o < g->nops; o++)
        for (int k = 0; k < g->ops[o].noutputs; k++) g->values[g->ops[o].outputs[k]].producer = o;
    return ANET_OK;
}

/* Rows of width w that a packed input of e elements takes (the last one partly zero). */
static int64_t pack_rows(int64_t e, int64_t w) { return (e + w - 1) / w; }

/* The row width of packed inputs: 32, doubled while a group would hold more rows than an
 * elementwise op may span (elementwise-max-16384 reads the prologue's channel axis). */
static int64_t pack_width(const anet_graph *g, const anet_forms *f, const int *old, int n, int per) {
    int64_t w = 32;
    if (!f->on[ANET_FORM_ELEMENTWISE_MAX_16384]) return w;
    for (;;) {
        int64_t most = 0, rows = 0;
        for (int i = 0; i < n; i++) {
            rows += pack_rows(anet_type_elements(&g->values[old[i]].type), w);
            if ((i + 1) % per == 0 || i == n - 1) {
                if (rows > most) most = rows;
                rows = 0;
            }
        }
        if (most <= f->elementwise_max || 2 * w > f->elementwise_max) return w;
        w *= 2;
    }
}

/* One member of a packed input: its r rows of W from row `off` of src, reshaped to its type t.
 * A member that ends inside its last row (e not a multiple of W) is cut from the rows read
 * as rows of 32 (its e elements are the first ones), without a longer axis. */
static int unpack_member(anet_graph *g, int src, const anet_type *t, int64_t off, int64_t W, const char *vname) {
    char opn[FORM_MAX_NAME + 16];
    int64_t e = anet_type_elements(t), r = pack_rows(e, W);
    int32_t b[4] = {0, (int32_t)off, 0, 0}, sz[4] = {1, (int32_t)r, 1, (int32_t)W};
    int32_t shp[4] = {1, (int32_t)t->dims[1], (int32_t)t->dims[2], (int32_t)t->dims[3]};
    snprintf(opn, sizeof opn, "fl_pk_%s", vname);
    int v = anet_b_slice_by_size(g, opn, src, 4, b, sz);
    if (v >= 0 && e % W != 0) {
        int32_t s32[4] = {1, (int32_t)(r * W / 32), 1, 32}, b0[4] = {0, 0, 0, 0}, c32[4] = {1, (int32_t)(e / 32), 1, 32};
        snprintf(opn, sizeof opn, "fl_p32_%s", vname);
        v = anet_b_reshape(g, opn, v, 4, s32);
        snprintf(opn, sizeof opn, "fl_pc_%s", vname);
        v = v < 0 ? -1 : anet_b_slice_by_size(g, opn, v, 4, b0, c32);
    }
    snprintf(opn, sizeof opn, "fl_pr_%s", vname);
    return v < 0 ? -1 : anet_b_reshape(g, opn, v, 4, shp);
}

/* max-inputs: the (lowered) inputs go as rows of W (pack_width) into at most max_inputs
 * device inputs. */
static anet_status pack_inputs(anet_graph *g, const anet_forms *f, anet_form_map *m) {
    int n = g->ninputs, groups = f->max_inputs < n ? f->max_inputs : n;
    int per = (n + groups - 1) / groups, nops0 = g->nops;
    groups = (n + per - 1) / per; /* 6 inputs in at most 4: 3 groups of 2, none left empty */
    int *old = malloc((size_t)n * sizeof *old), *gin = malloc((size_t)groups * sizeof *gin);
    anet_status st = ANET_OK;
    if (!old || !gin) {
        st = anet_fail(ANET_E_NOMEM, "forms: out of memory");
        goto done;
    }
    memcpy(old, g->inputs, (size_t)n * sizeof *old);
    int64_t W = 32;
    for (int i = 0; i < n; i++) {
        int64_t e = anet_type_elements(&g->values[old[i]].type);
        if (e % 32 != 0 || g->values[old[i]].type.dtype != ANET_DT_FP16) {
            m->unmet[ANET_FORM_MAX_INPUTS] = 1;
            snprintf(m->unmet_detail[ANET_FORM_MAX_INPUTS], sizeof m->unmet_detail[0], "input '%s' cannot be packed in rows of 32",
                     g->values[old[i]].name);
            goto done;
        }
    }
    W = pack_width(g, f, old, n, per);
    for (int k = 0; k < groups && st == ANET_OK; k++) {
        int lo = k * per, hi = (k + 1) * per < n ? (k + 1) * per : n;
        int64_t rows = 0;
        for (int i = lo; i < hi; i++) rows += pack_rows(anet_type_elements(&g->values[old[i]].type), W);
        if (rows > 65536) {
            m->unmet[ANET_FORM_MAX_INPUTS] = 1;
            snprintf(m->unmet_detail[ANET_FORM_MAX_INPUTS], sizeof m->unmet_detail[0], "%lld rows of %lld in one input exceed 65536",
                     (long long)rows, (long long)W);
            goto done;
        }
        char name[32], opn[FORM_MAX_NAME + 16];
        snprintf(name, sizeof name, "anet_pk%d", k);
        int64_t dd[4] = {1, rows, 1, W};
        gin[k] = anet_graph_input(g, name, anet_type_make(ANET_DT_FP16, 4, dd));
        if (gin[k] < 0) {
            st = anet_fail_ctx(ANET_E_INVALID, "forms: packed input '%s'", name);
            goto done;
        }
        int src = gin[k];
        if (f->on[ANET_FORM_RUNTIME_INPUT_LAYOUT]) {
            snprintf(opn, sizeof opn, "fl_pro_%s", name);
            src = anet_b_binary(g, ANET_OP_MUL, opn, gin[k], anet_graph_const_fp16(g, NULL, 1.0f));
        }
        int64_t off = 0;
        for (int i = lo; i < hi && src >= 0; i++) {
            const anet_type *t = &g->values[old[i]].type;
            int64_t r = pack_rows(anet_type_elements(t), W);
            int v = unpack_member(g, src, t, off, W, g->values[old[i]].name);
            if (v < 0 || (st = adopt_output(g, v, old[i]))) {
                if (!st) st = anet_fail_ctx(ANET_E_INTERNAL, "forms: packing input %d", i);
                goto done;
            }
            for (int u = 0; u < m->nin; u++)
                if (m->in[u].dev == i) {
                    m->in[u].dev = k;
                    m->in[u].offset = off * W;
                }
            off += r;
        }
        if (src < 0) {
            st = anet_fail_ctx(ANET_E_INTERNAL, "forms: prologue of '%s'", name);
            goto done;
        }
    }
    if ((st = ops_to_front(g, nops0))) goto done;
    memcpy(g->inputs, gin, (size_t)groups * sizeof *gin);
    g->ninputs = groups;
    m->shaped[ANET_FORM_MAX_INPUTS] = 1;
done:
    free(old);
    free(gin);
    return st;
}

anet_status anet_forms_lower(anet_graph *g, const anet_forms *f, anet_form_map *m) {
    memset(m, 0, sizeof *m);
    if (!g || !f) return anet_fail(ANET_E_INVALID, "forms: no program or quirk set");
    int n = g->ninputs, nops0 = g->nops;
    m->nin = n;
    m->nout = g->noutputs;
    m->in = calloc((size_t)n + 1, sizeof *m->in);
    m->out = calloc((size_t)g->noutputs + 1, sizeof *m->out);
    int *newv = calloc((size_t)n + 1, sizeof *newv);
    anet_status st = ANET_OK;
    if (!m->in || !m->out || !newv) {
        st = anet_fail(ANET_E_NOMEM, "forms: out of memory");
        goto done;
    }
    int row_src = -1;
    for (int i = 0; i < n && st == ANET_OK; i++) {
        int pro = -1;
        st = lower_input(g, f, i, m, &newv[i], &pro);
        const anet_type *pt = pro >= 0 ? &g->values[pro].type : NULL;
        if (row_src < 0 && pt && pt->rank == 4 && pt->dims[3] >= 32) row_src = pro;
    }
    if (st) goto done;
    /* The new ops move before every other op; the new inputs take the old positions. */
    if ((st = ops_to_front(g, nops0))) goto done;
    memcpy(g->inputs, newv, (size_t)n * sizeof *newv);
    g->ninputs = n;
    for (int j = 0; j < g->noutputs && st == ANET_OK; j++) st = lower_output(g, f, j, row_src, m);
    if (st) goto done;
    /* Rules the form satisfies by construction (the builder's padding, the backend's sizes). */
    static const int by_plan[] = {ANET_FORM_DIALECT_IOS16, ANET_FORM_MATMUL_CONTRACTION_32, ANET_FORM_BROADCAST_CHANNEL,
                                  ANET_FORM_LOG_EPSILON, ANET_FORM_SURFACE_SIZE_STRIDED, ANET_FORM_ROW_LAYOUT,
                                  ANET_FORM_IO_SIZE_ORDER};
    int has[ANET_OP_COUNT_] = {0};
    for (int o = 0; o < g->nops; o++)
        if ((int)g->ops[o].kind >= 0 && g->ops[o].kind < ANET_OP_COUNT_) has[g->ops[o].kind] = 1;
    for (size_t k = 0; k < sizeof by_plan / sizeof by_plan[0]; k++) {
        int r = by_plan[k];
        int applies = r == ANET_FORM_MATMUL_CONTRACTION_32 || r == ANET_FORM_BROADCAST_CHANNEL ? has[ANET_OP_MATMUL]
                      : r == ANET_FORM_LOG_EPSILON ? has[ANET_OP_LOG] : 1;
        if (f->on[r] && applies) m->shaped[r] = 1;
    }
    for (int i = 0; i < n; i++) m->in[i].dev = i;
    if (f->on[ANET_FORM_MAX_INPUTS] && g->ninputs > f->max_inputs && (st = pack_inputs(g, f, m))) goto done;
    m->ndev_in = g->ninputs;
    if (!(m->dev_elems = calloc((size_t)g->ninputs + 1, sizeof *m->dev_elems))) {
        st = anet_fail(ANET_E_NOMEM, "forms: out of memory");
        goto done;
    }
    for (int k = 0; k < g->ninputs; k++) m->dev_elems[k] = anet_type_elements(&g->values[g->inputs[k]].type);
    st = anet_graph_verify(g);
    if (st) {
        anet_fail_ctx(st, "forms: the lowered program does not verify");
        goto done;
    }
    /* The lowered program against the rules (what the simulator would find). */
    anet_form_hit hit;
    if (anet_forms_check(g, f, &hit) && !m->unmet[hit.rule]) {
        m->unmet[hit.rule] = 1;
        snprintf(m->unmet_detail[hit.rule], sizeof m->unmet_detail[0], "%.150s", hit.detail);
    }
done:
    free(newv);
    return st;
}

void anet_form_map_free(anet_form_map *m) {
    if (!m) return;
    free(m->in);
    free(m->out);
    free(m->dev_elems);
    memset(m, 0, sizeof *m);
}

void anet_form_map_rules(const anet_form_map *m, char *buf, size_t len) {
    anet_forms f;
    memset(&f, 0, sizeof f);
    memcpy(f.on, m->shaped, sizeof f.on);
    anet_forms_describe(&f, buf, len);
}

void anet_form_pack(const anet_form_io *io, const uint16_t *user, uint16_t *device) {
    /* Row by row (this runs over every input every step): the user's row, zeros after it;
     * rows below the user's hold `fill` in their first column. */
    const uint16_t fill = anet_f32_to_f16(io->fill);
    const int64_t S = io->S, n = io->user_cols < S ? io->user_cols : S;
    for (int64_t r = 0; r < io->C; r++) {
        uint16_t *d = device + r * S;
        if (io->mode == ANET_FORM_IO_SPREAD) {
            const uint16_t v = r < io->user_cols ? user[r] : 0;
            for (int64_t c = 0; c < S; c++) d[c] = v;
        } else if (r < io->user_rows) {
            memcpy(d, user + r * io->user_cols, (size_t)n * sizeof *d);
            memset(d + n, 0, (size_t)(S - n) * sizeof *d);
        } else {
            memset(d, 0, (size_t)S * sizeof *d);
            d[0] = fill;
        }
    }
}

void anet_form_unpack(const anet_form_io *io, const uint16_t *device, uint16_t *user) {
    if (io->mode == ANET_FORM_IO_SUM || io->mode == ANET_FORM_IO_MIN) {
        double s = io->mode == ANET_FORM_IO_SUM ? 0 : anet_f16_to_f32(device[0]);
        for (int64_t k = 0; k < io->C * io->S; k++) {
            double v = anet_f16_to_f32(device[k]);
            s = io->mode == ANET_FORM_IO_SUM ? s + v : (v < s || v != v ? v : s);
        }
        user[0] = anet_f32_to_f16((float)s);
        return;
    }
    for (int64_t r = 0; r < io->user_rows; r++)
        memcpy(user + r * io->user_cols, device + r * io->S, (size_t)io->user_cols * sizeof *user);
}
