/* Buffer reuse by liveness: the arena holds what is live at once. Time is the unit index;
 * a value lives from the unit that writes it to the last unit that reads it (inputs from
 * before the first unit, outputs and consts to after the last), a step's scratch during its
 * unit. Both ends are inclusive, so a unit never writes over anything it reads. Offsets are
 * assigned first fit in one of two orders, the one with the smaller arena kept: largest
 * first, or in order of birth (where small buffers can take the slot of a dead weight copy
 * that a later weight gradient of its size then cannot use: mlp:784-128-10's step needs 1.2 MB
 * that way, 0.8 largest first; neither order is always the smaller). Largest first
 * compares every pair of buffers, so programs with more than VANE_LAYOUT_PAIRS buffers (a
 * hostile MIL file) take the order of birth alone, which compares the ones alive together. */
#include <stdlib.h>
#include <string.h>

#include "runtime/vane/plan.h"

/* Sum of all buffers of one program: far above the MLPs and small CNNs vane is for, far
 * below what a hostile MIL file could otherwise ask for. */
#define VANE_ARENA_MAX ((int64_t)1 << 30) /* floats (4 GiB) */
#define VANE_LAYOUT_PAIRS 8192

typedef struct span {
    int64_t size, off;
    int from, to; /* units, inclusive; -1 = before the first, INT_MAX-ish = after the last */
    int value;    /* value id, or -1 - step index for scratch */
} span;

static int by_birth(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->from != y->from) return x->from < y->from ? -1 : 1;
    return x->value < y->value ? -1 : x->value > y->value;
}

static int by_size(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    if (x->from != y->from) return x->from < y->from ? -1 : 1;
    return x->value < y->value ? -1 : x->value > y->value;
}

static int by_off(const void *a, const void *b) {
    const span *const *x = a, *const *y = b;
    return (*x)->off < (*y)->off ? -1 : (*x)->off > (*y)->off;
}

/* Assigns offsets in sp's order after sorting it (largest first, or in order of birth), each
 * span at the lowest offset free of the placed spans whose lives meet its own; returns the
 * arena's size in floats. live: room for nsp pointers. */
static int64_t place(span *sp, int nsp, int largest_first, span **live) {
    qsort(sp, (size_t)nsp, sizeof *sp, largest_first ? by_size : by_birth);
    int64_t total = 0;
    int nlive = 0;
    for (int i = 0; i < nsp; i++) {
        if (largest_first) { /* every pair compared */
            nlive = 0;
            for (int j = 0; j < i; j++)
                if (sp[j].from <= sp[i].to && sp[i].from <= sp[j].to) live[nlive++] = &sp[j];
        } else { /* in order of birth: drop the spans dead before this one */
            int w = 0;
            for (int j = 0; j < nlive; j++) if (live[j]->to >= sp[i].from) live[w++] = live[j];
            nlive = w;
        }
        qsort(live, (size_t)nlive, sizeof *live, by_off);
        int64_t off = 0;
        for (int j = 0; j < nlive; j++) {
            if (live[j]->off - off >= sp[i].size) break;
            if (live[j]->off + live[j]->size > off) off = live[j]->off + live[j]->size;
        }
        sp[i].off = off;
        if (off + sp[i].size > total) total = off + sp[i].size;
        if (total > VANE_ARENA_MAX) return total; /* the caller refuses it */
        if (!largest_first) live[nlive++] = &sp[i];
    }
    return total;
}

anet_status anet_vane_layout(anet_program *p, const anet_graph *g, const int *alias, const char *need_buf,
                             unsigned flags) {
    int nv = g->nvalues, ns = p->nsteps;
    const int END = p->nunits + 1;
    int *from = malloc((size_t)(nv > 0 ? nv : 1) * sizeof *from);
    int *to = malloc((size_t)(nv > 0 ? nv : 1) * sizeof *to);
    span *sp = malloc((size_t)(nv + ns + 1) * sizeof *sp);
    span **live = malloc((size_t)(nv + ns + 1) * sizeof *live);
    anet_status st = ANET_OK;
    if (!from || !to || !sp || !live) { st = anet_fail(ANET_E_NOMEM, "vane: out of memory"); goto done; }
    for (int v = 0; v < nv; v++) { from[v] = END; to[v] = -2; }
    for (int i = 0; i < g->ninputs; i++) from[g->inputs[i]] = -1;
    for (int o = 0; o < g->nops; o++)
        if (g->ops[o].kind == ANET_OP_CONST && g->ops[o].noutputs > 0) { from[g->ops[o].outputs[0]] = -1; to[g->ops[o].outputs[0]] = END; }
    for (int i = 0; i < g->noutputs; i++) {
        int r = anet_vane_root(alias, g->outputs[i]);
        to[r] = END;
    }
    for (int u = 0; u < p->nunits; u++)
        for (int i = p->units[u].first; i < p->units[u].first + p->units[u].count; i++) {
            const step *s = &p->steps[i];
            if (u < from[s->out]) from[s->out] = u;
            int rd[3 + 1], n = 0;
            for (int k = 0; k < 3; k++) if (s->in[k] >= 0) rd[n++] = s->in[k];
            if (s->has_bias) rd[n++] = s->bias;
            for (int k = 0; k < n + s->nparts; k++) {
                int v = k < n ? rd[k] : s->parts[k - n];
                int r = anet_vane_root(alias, v);
                if (u > to[r]) to[r] = u;
            }
        }
    int nsp = 0;
    for (int v = 0; v < nv; v++) {
        if (alias[v] >= 0 || !need_buf[v] || !anet_vane_data_dtype(g->values[v].type.dtype)) continue;
        int64_t n = anet_type_elements(&g->values[v].type);
        if (n < 0) { st = anet_fail(ANET_E_INVALID, "vane: value '%s' has an invalid shape", g->values[v].name); goto done; }
        if (from[v] == END) from[v] = -1; /* never written by a step (unused input-like value) */
        if (to[v] < from[v]) to[v] = from[v];
        sp[nsp++] = (span){(n + 15) & ~(int64_t)15, 0, from[v], to[v], v};
    }
    for (int u = 0; u < p->nunits; u++)
        for (int i = p->units[u].first; i < p->units[u].first + p->units[u].count; i++)
            if (p->steps[i].scratch_n > 0)
                sp[nsp++] = (span){(p->steps[i].scratch_n + 15) & ~(int64_t)15, 0, u, u, -1 - i};
    if (flags & ANET_VANE_NO_REUSE)
        for (int i = 0; i < nsp; i++) { sp[i].from = -1; sp[i].to = END; }
    /* Both orders where the pairs are few; the smaller arena wins (neither is always smaller). */
    int64_t total = place(sp, nsp, 0, live);
    if (nsp <= VANE_LAYOUT_PAIRS && !(flags & ANET_VANE_LAYOUT_BIRTH)) {
        span *by_sz = malloc((size_t)(nsp > 0 ? nsp : 1) * sizeof *by_sz);
        if (!by_sz) { st = anet_fail(ANET_E_NOMEM, "vane: out of memory"); goto done; }
        memcpy(by_sz, sp, (size_t)nsp * sizeof *sp);
        int64_t t2 = place(by_sz, nsp, 1, live);
        if (t2 < total) {
            memcpy(sp, by_sz, (size_t)nsp * sizeof *sp);
            total = t2;
        }
        free(by_sz);
    }
    if (total > VANE_ARENA_MAX) {
        st = anet_fail(ANET_E_NOMEM, "vane: the program needs more than %lld floats of buffers", (long long)VANE_ARENA_MAX);
        goto done;
    }
    p->arena_floats = total;
    p->arena = calloc((size_t)(total > 0 ? total : 1), sizeof(float));
    if (!p->arena) { st = anet_fail(ANET_E_NOMEM, "vane: cannot allocate %lld floats", (long long)total); goto done; }
    for (int i = 0; i < nsp; i++) {
        if (sp[i].value >= 0) p->buf[sp[i].value] = p->arena + sp[i].off;
        else p->steps[-1 - sp[i].value].scratch = p->arena + sp[i].off;
    }
    for (int v = 0; v < nv; v++)
        if (alias[v] >= 0) p->buf[v] = p->buf[alias[v]];
done:
    free(from);
    free(to);
    free(sp);
    free(live);
    return st;
}
