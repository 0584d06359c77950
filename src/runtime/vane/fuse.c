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

static int root_of(const int *alias, int v) { return v >= 0 && alias[v] >= 0 ? alias[v] : v; }

/* Calls f(ctx, value) for every value step s reads. */
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

anet_status anet_vane_schedule(anet_program *p, const anet_graph *g, const int *alias, unsigned flags,
                               char *need_buf) {
    int ns = p->nsteps, nv = g->nvalues;
    step *order = malloc((size_t)(ns > 0 ? ns : 1) * sizeof *order);
    step *held = malloc((size_t)(ns > 0 ? ns : 1) * sizeof *held);
    int *in_open = calloc((size_t)(nv > 0 ? nv : 1), sizeof *in_open); /* produced by the open chain */
    int *unit_of = malloc((size_t)(ns > 0 ? ns : 1) * sizeof *unit_of);
    int *use_unit = malloc((size_t)(nv > 0 ? nv : 1) * sizeof *use_unit); /* -1 none, -2 several */
    int *last_in_unit = malloc((size_t)(nv > 0 ? nv : 1) * sizeof *last_in_unit);
    p->units = calloc((size_t)(ns > 0 ? ns : 1), sizeof *p->units);
    if (!order || !held || !in_open || !unit_of || !use_unit || !last_in_unit || !p->units) {
        free(order); free(held); free(in_open); free(unit_of); free(use_unit); free(last_in_unit);
        return anet_fail(ANET_E_NOMEM, "vane: out of memory");
    }
    /* 1. Order: chains are collected in `chain` (a prefix of order is final); independent
     * steps met while a chain is open wait in `held` and go before it. */
    int no = 0, nh = 0, chain0 = -1; /* chain = order[chain0 .. no) while open */
    int64_t chain_n = 0;
    p->nunits = 0;
#define CLOSE_CHAIN()                                                                    \
    do {                                                                                 \
        if (chain0 >= 0) {                                                               \
            int len_ = no - chain0;                                                      \
            memmove(order + chain0 + nh, order + chain0, (size_t)len_ * sizeof *order);  \
            for (int h_ = 0; h_ < nh; h_++) {                                            \
                order[chain0 + h_] = held[h_];                                           \
                p->units[p->nunits++] = (unit){chain0 + h_, 1, fusable(&held[h_]), held[h_].ny, 0}; \
            }                                                                            \
            p->units[p->nunits++] = (unit){chain0 + nh, len_, 1, chain_n, 0};            \
            for (int i_ = chain0 + nh; i_ < chain0 + nh + len_; i_++) in_open[order[i_].out] = 0; \
            no += nh;                                                                    \
            nh = 0;                                                                      \
            chain0 = -1;                                                                 \
        }                                                                                \
    } while (0)
    const int fuse = !(flags & ANET_VANE_NO_FUSE);
    for (int i = 0; i < ns; i++) {
        step *s = &p->steps[i];
        if (fuse && fusable(s) && chain0 >= 0 && s->ny == chain_n) {
            order[no++] = *s;
            in_open[s->out] = 1;
            continue;
        }
        if (chain0 >= 0) {
            int dep = 0;
            FOR_INPUTS(s, v, if (in_open[root_of(alias, v)]) dep = 1);
            if (!dep) { held[nh++] = *s; continue; }
            CLOSE_CHAIN();
        }
        if (fuse && fusable(s)) {
            chain0 = no;
            chain_n = s->ny;
            order[no++] = *s;
            in_open[s->out] = 1;
        } else {
            order[no] = *s;
            p->units[p->nunits++] = (unit){no, 1, 0, s->ny, 0};
            no++;
        }
    }
    CLOSE_CHAIN();
#undef CLOSE_CHAIN
    memcpy(p->steps, order, (size_t)ns * sizeof *order);
    free(order);
    free(held);
    free(in_open);

    /* 2. Which outputs need a full buffer: read outside their unit, or a program output. */
    for (int u = 0; u < p->nunits; u++)
        for (int i = p->units[u].first; i < p->units[u].first + p->units[u].count; i++) unit_of[i] = u;
    for (int v = 0; v < nv; v++) { use_unit[v] = -1; last_in_unit[v] = -1; need_buf[v] = 1; }
    for (int i = 0; i < ns; i++) {
        const step *s = &p->steps[i];
        FOR_INPUTS(s, v, {
            int r = root_of(alias, v);
            if (use_unit[r] == -1) use_unit[r] = unit_of[i];
            else if (use_unit[r] != unit_of[i]) use_unit[r] = -2;
            last_in_unit[r] = i;
        });
    }
    for (int i = 0; i < g->noutputs; i++) use_unit[root_of(alias, g->outputs[i])] = -2;
    int max_slots = 0;
    int *slot_busy = NULL, cap = 0;
    for (int u = 0; u < p->nunits; u++) {
        unit *un = &p->units[u];
        if (!un->fused) continue;
        int used = 0;
        for (int i = un->first; i < un->first + un->count; i++) {
            step *s = &p->steps[i];
            /* Output: a slot when every reader is in this unit (or there is none at all). */
            int internal = use_unit[s->out] == u || use_unit[s->out] == -1;
            need_buf[s->out] = !internal;
            /* Slots are freed after the last reader; at most 3 gathers + 1 output per step, and
             * one slot per value alive in the chain: bounded by 4 * count. */
            if (cap < 4 * un->count + 4) {
                int nc = 4 * un->count + 4;
                int *nb = realloc(slot_busy, (size_t)nc * sizeof *nb);
                if (!nb) { free(slot_busy); free(unit_of); free(use_unit); free(last_in_unit);
                           return anet_fail(ANET_E_NOMEM, "vane: out of memory"); }
                slot_busy = nb;
                cap = nc;
            }
            if (i == un->first) for (int k = 0; k < cap; k++) slot_busy[k] = -1; /* value held, or -1 */
            int gath[3] = {-1, -1, -1};
            for (int k = 0; k < 3; k++) {
                s->src_slot[k] = -1;
                if (s->in[k] < 0) continue;
                int r = root_of(alias, s->in[k]);
                int held_slot = -1;
                for (int q = 0; q < cap; q++) if (slot_busy[q] == r) held_slot = q;
                if (held_slot >= 0) { s->src[k] = SRC_SLOT; s->src_slot[k] = held_slot; continue; }
                s->src[k] = (s->kind == S_UNARY || s->kind == S_COPY) ? SRC_FULL : operand_mode(g, s, k);
                if (s->src[k] == SRC_GATHER) {
                    int q = 0;
                    while (slot_busy[q] != -1) q++;
                    slot_busy[q] = -3; /* a gather slot, this step only */
                    gath[k] = q;
                    s->src_slot[k] = q;
                }
            }
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
                int r = root_of(alias, s->in[k]);
                if (last_in_unit[r] == i) slot_busy[s->src_slot[k]] = -1;
            }
            if (internal && last_in_unit[s->out] < i) slot_busy[s->slot] = -1; /* never read */
        }
        un->nslots = used;
        if (used > max_slots) max_slots = used;
    }
    free(slot_busy);
    free(unit_of);
    free(use_unit);
    free(last_in_unit);
    if (max_slots > 0) {
        p->tile = aligned_alloc(64, (size_t)max_slots * VANE_TILE * sizeof(float));
        if (!p->tile) return anet_fail(ANET_E_NOMEM, "vane: out of memory");
    }
    return ANET_OK;
}

void anet_vane_run_fused(const anet_program *p, const unit *u) {
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
                case SRC_FULL: x[j] = b[s->in[j]] + t; break;
                case SRC_SLOT: x[j] = p->tile + (size_t)s->src_slot[j] * VANE_TILE; break;
                case SRC_SCALAR: x[j] = b[s->in[j]]; st[j] = 0; break;
                case SRC_GATHER: {
                    float *dst = p->tile + (size_t)s->src_slot[j] * VANE_TILE;
                    k->gather(&s->bc, j, b[s->in[j]], t, cnt, dst);
                    x[j] = dst;
                    break;
                }
                }
            }
            float *y = s->slot >= 0 ? p->tile + (size_t)s->slot * VANE_TILE : b[s->out] + t;
            switch (s->kind) {
            case S_BINARY: k->binary_row((anet_vk_binop)s->op, cnt, x[0], st[0], x[1], st[1], y); break;
            case S_SELECT: k->select_row(cnt, x[0], st[0], x[1], st[1], x[2], st[2], y); break;
            case S_UNARY: k->unary((anet_vk_unop)s->op, (size_t)cnt, x[0], y, s->p); break;
            default: memcpy(y, x[0], (size_t)cnt * sizeof *y); break; /* S_COPY */
            }
            if (s->round) anet_f32_round_f16_n(y, (size_t)cnt);
        }
    }
}
