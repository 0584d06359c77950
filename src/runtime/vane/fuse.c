/* Fusion of elementwise chains. Consecutive elementwise steps (binary, select, unary, cast)
 * with the same number of output elements form one unit that runs tile by tile: every step of
 * the chain on elements [t, t + VANE_TILE), then the next tile. Each step still computes its
 * fp32 result and rounds it to fp16 exactly as op-by-op execution does (same kernels, same
 * order per element), so results are bit-identical; what changes is that intermediate values
 * stay in small tile slots instead of full buffers that go through memory.
 *
 * Steps that do not depend on the open chain (a slice of the hyper-parameter vector between
 * two optimizer ops, say) are moved before it, so such steps do not cut chains. */
#include <stdlib.h>
#include <string.h>

#include "core/fp16.h"
#include "runtime/vane/plan.h"

static int fusable(const step *s) {
    return s->kind == S_BINARY || s->kind == S_SELECT || s->kind == S_UNARY || s->kind == S_COPY;
}

/* A sum (or mean) of every element of a chain's value, taken tile by tile at the end of the
 * chain: the tiles come in order, so it adds in input order as the reduce kernel does; its one
 * output is complete only after the last tile, so nothing in the chain may read it. */
static int is_sink(const step *s, int64_t cn) {
    if (s->kind != S_REDUCE || s->ny != 1 || (s->op != ANET_VK_RSUM && s->op != ANET_VK_RMEAN)) return 0;
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->dims[i];
    return n == cn;
}

/* Runs BODY with v = each value step s reads. */
#define FOR_INPUTS(s, v, BODY)                                            \
    do {                                                                  \
        for (int k_ = 0; k_ < 3; k_++)                                    \
            if ((s)->in[k_] >= 0) { int v = (s)->in[k_]; BODY; }          \
        if ((s)->has_bias) { int v = (s)->bias; BODY; }                   \
        for (int k_ = 0; k_ < (s)->nparts; k_++) { int v = (s)->parts[k_]; BODY; } \
    } while (0)

/* Elements of operand k of a fused step that are not one-per-output need a broadcast. */
static src_mode operand_mode(const anet_graph *g, const step *s, int k) {
    int64_t n = anet_type_elements(&g->values[s->in[k]].type);
    if (n == s->ny) return SRC_FULL;
    if (n == 1) return SRC_SCALAR;
    return SRC_GATHER;
}

/* Ordering state: steps are copied from orig[] to p->steps in execution order. */
typedef struct sched {
    anet_program *p;
    const step *orig;
    const int *alias;
    int fuse;
    int no;     /* steps placed */
    int *owner; /* value -> id of the chain that writes it (0: none) */
    int *sink;  /* value -> id of the chain whose full sum it is (0: none) */
    int *after; /* value -> id of the chain it must be placed after (0: none) */
    int next_id;
} sched;

static void place(sched *c, const int *idx, int n, int fused, int64_t ny) {
    c->p->units[c->p->nunits++] = (unit){c->no, n, fused, ny, 0, 0};
    for (int i = 0; i < n; i++) c->p->steps[c->no++] = c->orig[idx[i]];
}

/* Places steps idx[0..n) (a dependency order). A chain of fusable steps of one size stays open
 * to the end of the list: the steps that follow join it, or wait in `held` when they do not
 * read it (placed before the chain), or in `later` when they read it or a later step, or are
 * elementwise of another size (placed after it, next to the steps that read them). Both lists are placed recursively, so they form chains of their own. Keeping the
 * chain open lets a step far down join it, such as an optimizer update's finite check that
 * comes after the sums of the updates before it. */
static anet_status order_steps(sched *c, const int *idx, int n) {
    int *chain = malloc((size_t)(n > 0 ? n : 1) * sizeof *chain);
    int *held = malloc((size_t)(n > 0 ? n : 1) * sizeof *held);
    int *later = malloc((size_t)(n > 0 ? n : 1) * sizeof *later);
    if (!chain || !held || !later) {
        free(chain); free(held); free(later);
        return anet_fail(ANET_E_NOMEM, "vane: out of memory");
    }
    int nc = 0, nh = 0, nl = 0, id = 0;
    int64_t cn = 0;
    anet_status st = ANET_OK;
    for (int i = 0; i < n; i++) {
        const step *s = &c->orig[idx[i]];
        if (nc > 0) {
            int dep = 0, after = 0;
            FOR_INPUTS(s, v, {
                int r = anet_vane_root(c->alias, v);
                if (c->owner[r] == id) dep = 1;
                if (c->sink[r] == id || c->after[r] == id) after = 1;
            });
            if (c->fuse && !after && ((fusable(s) && s->ny == cn) || is_sink(s, cn))) {
                chain[nc++] = idx[i];
                c->owner[s->out] = id;
                if (is_sink(s, cn)) c->sink[s->out] = id;
            } else if (dep || after || (c->fuse && fusable(s))) { /* the last: to meet its readers */
                later[nl++] = idx[i];
                c->after[s->out] = id;
            } else {
                held[nh++] = idx[i];
            }
            continue;
        }
        if (c->fuse && fusable(s)) {
            id = ++c->next_id;
            cn = s->ny;
            chain[nc++] = idx[i];
            c->owner[s->out] = id;
        } else {
            place(c, &idx[i], 1, 0, s->ny);
        }
    }
    if (nc > 0 && (st = order_steps(c, held, nh)) == ANET_OK) {
        place(c, chain, nc, 1, cn);
        st = order_steps(c, later, nl);
    }
    free(chain);
    free(held);
    free(later);
    return st;
}

/* A fused unit runs in native fp16 when every step can and every value it reads is fp16 (so
 * its fp32 buffer holds fp16 values exactly); broadcasts that need a gather stay in fp32. */
static int h16_unit(const anet_program *p, const anet_graph *g, const unit *un) {
    int arith = 0;
    if (un->nslots > VANE_H16_MAX_SLOTS) return 0;
    for (int i = un->first; i < un->first + un->count; i++) {
        const step *s = &p->steps[i];
        if (!anet_vane_h16_step_ok(s)) return 0;
        arith += s->kind != S_REDUCE;
        for (int k = 0; k < 3; k++)
            if (s->in[k] >= 0 && (s->src[k] == SRC_GATHER || g->values[s->in[k]].type.dtype != ANET_DT_FP16)) return 0;
    }
    return arith > 0;
}

/* Native fp16 units read an operand held in a full fp32 buffer by converting it, which rounds
 * to nearest even. So (1) an fp16 program input with such a buffer is read from the caller's
 * fp16 data instead (half the bytes, no conversion), and (2) a step run whole whose output
 * only such reads see needs no rounding pass of its own (the GEMM of a weight gradient that
 * feeds its update: one pass fewer over the largest tensor). The same bits either way. */
static void h16_sources(anet_program *p, const anet_graph *g, const int *alias, const int *unit_of) {
    int nv = g->nvalues;
    char *only = malloc((size_t)(nv > 0 ? nv : 1));
    int *io = malloc((size_t)(nv > 0 ? nv : 1) * sizeof *io);
    if (!only || !io) { free(only); free(io); return; } /* both are only savings */
    for (int v = 0; v < nv; v++) { only[v] = 1; io[v] = -1; }
    for (int i = 0; i < g->ninputs; i++)
        if (g->values[g->inputs[i]].type.dtype == ANET_DT_FP16) io[g->inputs[i]] = i;
    for (int j = 0; j < g->noutputs; j++) only[anet_vane_root(alias, g->outputs[j])] = 0;
    for (int i = 0; i < p->nsteps; i++) {
        step *s = &p->steps[i];
        int h = p->units[unit_of[i]].h16;
        for (int k = 0; k < 3; k++) {
            if (s->in[k] < 0) continue;
            int r = anet_vane_root(alias, s->in[k]);
            if (!h || s->src[k] != SRC_FULL) only[r] = 0;
            else if (io[r] >= 0) { s->src[k] = SRC_FULL16; s->src_io[k] = io[r]; }
        }
        if (s->has_bias) only[anet_vane_root(alias, s->bias)] = 0;
        for (int k = 0; k < s->nparts; k++) only[anet_vane_root(alias, s->parts[k])] = 0;
    }
    for (int u = 0; u < p->nunits; u++)
        if (!p->units[u].fused && only[p->steps[p->units[u].first].out]) p->steps[p->units[u].first].round = 0;
    /* The I/O whose overlap changes what native units read (anet_vane_h16_check_io). */
    int n = 0;
    p->h16_io = malloc((size_t)(g->ninputs + g->noutputs + 1) * sizeof *p->h16_io);
    p->span = malloc((size_t)(g->ninputs + g->noutputs + 1) * sizeof(struct anet_io_span));
    if (!p->h16_io || !p->span) {
        for (int i = 0; i < p->nsteps; i++) /* no check possible: no in-place reads or writes */
            for (int k = 0; k < 3; k++) if (p->steps[i].src[k] == SRC_FULL16) p->steps[i].src[k] = SRC_FULL;
        p->nh16_io = -1;
    } else {
        memset(io, 0, (size_t)(nv > 0 ? nv : 1) * sizeof *io); /* reused: 1 = listed */
        for (int i = 0; i < p->nsteps; i++) {
            const step *s = &p->steps[i];
            if (!p->units[unit_of[i]].h16) continue;
            if (s->out_io >= 0) p->h16_io[n++] = s->out_io;
            for (int k = 0; k < 3; k++) {
                int r = s->src[k] == SRC_FULL16 ? anet_vane_root(alias, s->in[k]) : -1;
                if (r < 0 || io[r]) continue;
                io[r] = 1;
                p->h16_io[n++] = -1 - s->src_io[k];
            }
        }
        p->nh16_io = n;
    }
    free(only);
    free(io);
}

anet_status anet_vane_schedule(anet_program *p, const anet_graph *g, const int *alias, unsigned flags,
                               char *need_buf) {
    int ns = p->nsteps, nv = g->nvalues;
    step *orig = malloc((size_t)(ns > 0 ? ns : 1) * sizeof *orig);
    int *idx = malloc((size_t)(ns > 0 ? ns : 1) * sizeof *idx);
    int *owner = calloc((size_t)(nv > 0 ? nv : 1), sizeof *owner);
    int *sink = calloc((size_t)(nv > 0 ? nv : 1), sizeof *sink);
    int *after = calloc((size_t)(nv > 0 ? nv : 1), sizeof *after);
    int *unit_of = malloc((size_t)(ns > 0 ? ns : 1) * sizeof *unit_of);
    int *use_unit = malloc((size_t)(nv > 0 ? nv : 1) * sizeof *use_unit); /* -1 none, -2 several */
    int *last_in_unit = malloc((size_t)(nv > 0 ? nv : 1) * sizeof *last_in_unit);
    int *in_io = malloc((size_t)(nv > 0 ? nv : 1) * sizeof *in_io);
    int *out_io = malloc((size_t)(nv > 0 ? nv : 1) * sizeof *out_io);
    p->units = calloc((size_t)(ns > 0 ? ns : 1), sizeof *p->units);
    anet_status st = ANET_OK;
    if (!orig || !idx || !owner || !sink || !after || !unit_of || !use_unit || !last_in_unit || !in_io || !out_io || !p->units)
        st = anet_fail(ANET_E_NOMEM, "vane: out of memory");
    /* 1. Order and units. */
    if (st == ANET_OK) {
        memcpy(orig, p->steps, (size_t)ns * sizeof *orig);
        for (int i = 0; i < ns; i++) idx[i] = i;
        sched c = {p, orig, alias, !(flags & ANET_VANE_NO_FUSE), 0, owner, sink, after, 0};
        p->nunits = 0;
        st = order_steps(&c, idx, ns);
    }
    free(orig);
    free(idx);
    free(owner);
    free(sink);
    free(after);
    if (st != ANET_OK) { free(unit_of); free(use_unit); free(last_in_unit); free(in_io); free(out_io); return st; }

    /* 2. Which outputs need a full buffer: read outside their unit, or a program output. */
    for (int u = 0; u < p->nunits; u++)
        for (int i = p->units[u].first; i < p->units[u].first + p->units[u].count; i++) unit_of[i] = u;
    for (int v = 0; v < nv; v++) { use_unit[v] = -1; last_in_unit[v] = -1; need_buf[v] = 1; }
    for (int i = 0; i < ns; i++) {
        const step *s = &p->steps[i];
        FOR_INPUTS(s, v, {
            int r = anet_vane_root(alias, v);
            if (use_unit[r] == -1) use_unit[r] = unit_of[i];
            else if (use_unit[r] != unit_of[i]) use_unit[r] = -2;
            last_in_unit[r] = i;
        });
    }
    /* fp16 program inputs read only by fused steps, one element per output element, go from
     * the caller's buffer into tile slots; fp16 outputs written by fused steps go to the
     * caller's buffer from the tile. Neither needs an arena buffer for that. */
    /* A reshape shares its input's packed data (the same flat index), so I/O also goes direct
     * through one (the chip's program form reshapes every input and output). in_io / out_io
     * are kept per root value. */
    for (int v = 0; v < nv; v++) in_io[v] = out_io[v] = -1;
    for (int i = 0; i < g->ninputs; i++)
        if (g->values[g->inputs[i]].type.dtype == ANET_DT_FP16) in_io[g->inputs[i]] = i;
    for (int j = 0; j < g->noutputs; j++) {
        int v = g->outputs[j], r = anet_vane_root(alias, v);
        in_io[r] = -1;
        if (out_io[r] == -1 && g->values[v].type.dtype == ANET_DT_FP16) out_io[r] = j;
        else out_io[r] = -2; /* twice an output, or fp32: through the arena */
    }
    for (int i = 0; i < ns; i++) {
        const step *s = &p->steps[i];
        int fused = p->units[unit_of[i]].fused;
        FOR_INPUTS(s, v, if (!fused || s->has_bias || s->nparts) in_io[anet_vane_root(alias, v)] = -1);
        for (int k = 0; fused && k < 3; k++)
            if (s->in[k] >= 0 && s->kind != S_UNARY && s->kind != S_COPY && s->kind != S_REDUCE &&
                operand_mode(g, s, k) != SRC_FULL)
                in_io[anet_vane_root(alias, s->in[k])] = -1;
    }
    for (int i = 0; i < ns; i++) /* an output a fused step does not write tile by tile keeps its buffer */
        if ((!p->units[unit_of[i]].fused || p->steps[i].kind == S_REDUCE) && out_io[p->steps[i].out] >= 0)
            out_io[p->steps[i].out] = -2;
    for (int i = 0; i < g->ninputs; i++) if (in_io[g->inputs[i]] == i) p->in_direct[i] = 1;
    for (int j = 0; j < g->noutputs; j++) {
        int r = anet_vane_root(alias, g->outputs[j]);
        if (out_io[r] == j) {
            int made = 0;
            for (int i = 0; i < ns; i++) if (p->steps[i].out == r) made = 1;
            if (made) p->out_direct[j] = 1;
            else out_io[r] = -2;
        }
        if (!p->out_direct[j]) use_unit[r] = -2;
    }
    int max_slots = 0, h16 = !(flags & ANET_VANE_NO_H16) && anet_vane_h16_cpu();
    int *slot_busy = NULL, cap = 0;
    for (int u = 0; u < p->nunits; u++) {
        unit *un = &p->units[u];
        if (!un->fused) continue;
        int used = 0;
        for (int i = un->first; i < un->first + un->count; i++) {
            step *s = &p->steps[i];
            /* Output: a slot when every reader is in this unit (or there is none at all). */
            int internal = s->kind != S_REDUCE && (use_unit[s->out] == u || use_unit[s->out] == -1);
            need_buf[s->out] = !internal;
            /* Slots are freed after the last reader; at most 3 gathers + 1 output per step, and
             * one slot per value alive in the chain: bounded by 4 * count. */
            if (cap < 4 * un->count + 4) {
                int nc = 4 * un->count + 4;
                int *nb = realloc(slot_busy, (size_t)nc * sizeof *nb);
                if (!nb) { free(slot_busy); free(unit_of); free(use_unit); free(last_in_unit); free(in_io); free(out_io);
                           return anet_fail(ANET_E_NOMEM, "vane: out of memory"); }
                slot_busy = nb;
                cap = nc;
            }
            if (i == un->first) for (int k = 0; k < cap; k++) slot_busy[k] = -1; /* value held, or -1 */
            int gath[3] = {-1, -1, -1};
            s->once16 = 0;
            for (int k = 0; k < 3; k++) {
                s->src_slot[k] = -1;
                if (s->in[k] < 0) continue;
                int r = anet_vane_root(alias, s->in[k]);
                int held_slot = -1;
                for (int q = 0; q < cap; q++) if (slot_busy[q] == r) held_slot = q;
                if (held_slot >= 0) { s->src[k] = SRC_SLOT; s->src_slot[k] = held_slot; continue; }
                s->src[k] = (s->kind == S_UNARY || s->kind == S_COPY || s->kind == S_REDUCE) ? SRC_FULL
                                                                                            : operand_mode(g, s, k);
                if (s->src[k] == SRC_FULL && in_io[r] >= 0) {
                    s->src[k] = SRC_IN16;
                    s->src_io[k] = in_io[r];
                }
                if (s->src[k] == SRC_GATHER || s->src[k] == SRC_IN16) {
                    int q = 0;
                    while (slot_busy[q] != -1) q++;
                    /* An fp16 input read again later in this unit stays in its slot (converted
                     * once per tile); otherwise a gather or conversion slot, this step only. */
                    int keep = 0;
                    for (int j = i + 1; s->src[k] == SRC_IN16 && !keep && j < un->first + un->count; j++)
                        for (int kk = 0; kk < 3; kk++)
                            if (p->steps[j].in[kk] >= 0 && anet_vane_root(alias, p->steps[j].in[kk]) == r) keep = 1;
                    if (s->src[k] == SRC_IN16 && !keep) s->once16 |= 1u << k;
                    slot_busy[q] = keep ? r : -3;
                    gath[k] = keep ? -1 : q;
                    s->src_slot[k] = q;
                }
            }
            s->out_io = out_io[s->out] >= 0 ? out_io[s->out] : -1;
            s->slot = -1;
            if (internal) {
                int q = 0;
                while (slot_busy[q] != -1) q++;
                slot_busy[q] = s->out;
                s->slot = q;
            }
            for (int q = 0; q < cap; q++) if (slot_busy[q] != -1) { if (q + 1 > used) used = q + 1; }
            for (int k = 0; k < 3; k++) if (gath[k] >= 0) slot_busy[gath[k]] = -1;
            /* Free the slots of values whose last reader this is. */
            for (int k = 0; k < 3; k++) {
                if (s->src[k] != SRC_SLOT || s->in[k] < 0) continue;
                int r = anet_vane_root(alias, s->in[k]);
                if (last_in_unit[r] == i) slot_busy[s->src_slot[k]] = -1;
            }
            if (internal && last_in_unit[s->out] < i) slot_busy[s->slot] = -1; /* never read */
        }
        un->nslots = used;
        un->h16 = h16 && h16_unit(p, g, un);
        if (used + (un->h16 ? VANE_H16_SCRATCH_SLOTS : 0) > max_slots)
            max_slots = used + (un->h16 ? VANE_H16_SCRATCH_SLOTS : 0);
    }
    free(slot_busy);
    if (h16) h16_sources(p, g, alias, unit_of);
    anet_status tst = anet_vane_tables(p, g);
    if (tst != ANET_OK) { free(unit_of); free(use_unit); free(last_in_unit); free(in_io); free(out_io); return tst; }
    free(unit_of);
    free(use_unit);
    free(last_in_unit);
    for (int v = 0; v < nv; v++) if (in_io[v] >= 0) need_buf[v] = 0;
    free(in_io);
    free(out_io);
    if (max_slots > 0) {
        p->tile = aligned_alloc(64, (size_t)max_slots * VANE_TILE * sizeof(float));
        if (!p->tile) return anet_fail(ANET_E_NOMEM, "vane: out of memory");
    }
    return ANET_OK;
}

void anet_vane_run_fused(const anet_program *p, const unit *u) {
    if (u->h16) {
        anet_vane_run_fused_h16(p, u);
        return;
    }
    const anet_vk_ops *k = p->k;
    float *const *b = p->buf;
    for (int64_t t = 0; t < u->n; t += VANE_TILE) {
        int64_t cnt = u->n - t < VANE_TILE ? u->n - t : VANE_TILE;
        for (int i = u->first; i < u->first + u->count; i++) {
            const step *s = &p->steps[i];
            const float *x[3] = {NULL, NULL, NULL};
            int64_t st[3] = {1, 1, 1};
            for (int j = 0; j < 3; j++) {
                if (s->in[j] < 0) continue;
                switch (s->src[j]) {
                case SRC_FULL:
                case SRC_FULL16: x[j] = b[s->in[j]] + t; break; /* (FULL16: native units only) */
                case SRC_SLOT: x[j] = p->tile + (size_t)s->src_slot[j] * VANE_TILE; break;
                case SRC_SCALAR: x[j] = b[s->in[j]]; st[j] = 0; break;
                case SRC_IN16: {
                    float *dst = p->tile + (size_t)s->src_slot[j] * VANE_TILE;
                    anet_f16_to_f32_n((const anet_f16 *)p->cur_in[s->src_io[j]] + t, dst, (size_t)cnt);
                    x[j] = dst;
                    break;
                }
                case SRC_GATHER: {
                    float *dst = p->tile + (size_t)s->src_slot[j] * VANE_TILE;
                    k->gather(&s->bc, j, b[s->in[j]], t, cnt, dst);
                    x[j] = dst;
                    break;
                }
                }
            }
            if (s->kind == S_REDUCE) { /* the chain's sink: one output, summed over the tiles in order */
                float *y = b[s->out];
                float a = k->sum_row(x[0], cnt, t == 0 ? 0.0f : y[0]);
                if (t + cnt == u->n) {
                    if (s->op == ANET_VK_RMEAN) a *= 1.0f / (float)u->n; /* as the reduce kernel */
                    if (s->round) k->round(1, &a);
                }
                y[0] = a;
                continue;
            }
            float *y = s->slot >= 0 ? p->tile + (size_t)s->slot * VANE_TILE : b[s->out] + t;
            /* Binary ops and selects round in their own loop; the rest after it, in the tile. */
            switch (s->kind) {
            case S_BINARY:
                if (s->out_io >= 0 && (s->round || s->exact) && k->binary_row16 && /* (exact: rounds to itself) */
                    k->binary_row16((anet_vk_binop)s->op, cnt, x[0], st[0], x[1], st[1], y,
                                    (anet_f16 *)p->cur_out[s->out_io] + t))
                    continue; /* the fp16 output is written */
                k->binary_row((anet_vk_binop)s->op, cnt, x[0], st[0], x[1], st[1], y, s->round);
                break;
            case S_SELECT: k->select_row(cnt, x[0], st[0], x[1], st[1], x[2], st[2], y, s->round); break;
            case S_UNARY:
                if (s->lut) { /* rounded already */
                    anet_vane_lut_row(s->lut, x[0], y, cnt);
                    break;
                }
                k->unary((anet_vk_unop)s->op, (size_t)cnt, x[0], y, s->p);
                if (s->round) k->round((size_t)cnt, y);
                break;
            default: /* S_COPY */
                memcpy(y, x[0], (size_t)cnt * sizeof *y);
                if (s->round) k->round((size_t)cnt, y);
                break;
            }
            if (s->out_io >= 0) anet_f32_to_f16_n(y, (anet_f16 *)p->cur_out[s->out_io] + t, (size_t)cnt);
        }
    }
}
