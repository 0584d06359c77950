/* Packing several inputs into one surface along the spatial axis, and the matching
 * slice_by_size ops in the program (maderix training_dynamic/mil_dynamic.h packs the same
 * way; it sidesteps multi-input failures, status 0x1d, reported by maderix). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "graph/build.h"
#include "mil/mil.h"
#include "runtime/ane_backend.h"

static int packable(const anet_type *t) {
    return t->dtype == ANET_DT_FP16 && t->rank == 4 && t->dims[0] == 1 && t->dims[2] == 1;
}

anet_status anet_ane_pack_plan(const anet_ane_sig *sig, anet_ane_pack_layout *out) {
    memset(out, 0, sizeof *out);
    int n = sig->nin;
    out->nin = n;
    out->entry = calloc((size_t)n + 1, sizeof *out->entry);
    out->group = calloc((size_t)n + 1, sizeof *out->group);
    if (!out->entry || !out->group) {
        anet_ane_pack_layout_free(out);
        return anet_fail(ANET_E_NOMEM, "ane packing: out of memory");
    }
    for (int i = 0; i < n; i++) out->entry[i].group = -1;
    /* Candidate groups in declaration order: each input joins the first open group of its C
     * that still has room, so the layout is deterministic. */
    int ncand = 0;
    int *gid = calloc((size_t)n + 1, sizeof *gid); /* candidate group of each input, -1 none */
    if (!gid) {
        anet_ane_pack_layout_free(out);
        return anet_fail(ANET_E_NOMEM, "ane packing: out of memory");
    }
    for (int i = 0; i < n; i++) {
        gid[i] = -1;
        const anet_type *t = &sig->in[i].type;
        if (!packable(t) || t->dims[3] > ANET_ANE_PACK_MAX_WIDTH) continue;
        int g = -1;
        for (int k = 0; k < ncand && g < 0; k++)
            if (out->group[k].channels == t->dims[1] &&
                out->group[k].width + t->dims[3] <= ANET_ANE_PACK_MAX_WIDTH)
                g = k;
        if (g < 0) {
            g = ncand++;
            out->group[g].channels = t->dims[1];
        }
        out->entry[i].offset = out->group[g].width;
        out->entry[i].width = t->dims[3];
        out->group[g].width += t->dims[3];
        out->group[g].members++;
        gid[i] = g;
    }
    /* Keep only groups of two or more; renumber them densely. */
    int *remap = calloc((size_t)ncand + 1, sizeof *remap);
    if (!remap) {
        free(gid);
        anet_ane_pack_layout_free(out);
        return anet_fail(ANET_E_NOMEM, "ane packing: out of memory");
    }
    int ng = 0;
    for (int k = 0; k < ncand; k++) {
        if (out->group[k].members >= 2) {
            remap[k] = ng;
            out->group[ng] = out->group[k];
            snprintf(out->group[ng].name, sizeof out->group[ng].name, "anet_pack_c%lld_%d",
                     (long long)out->group[ng].channels, ng);
            ng++;
        } else {
            remap[k] = -1;
        }
    }
    for (int i = 0; i < n; i++) {
        out->entry[i].group = gid[i] >= 0 ? remap[gid[i]] : -1;
        if (out->entry[i].group < 0) out->entry[i].offset = 0;
    }
    out->ngroups = ng;
    free(gid);
    free(remap);
    return ANET_OK;
}

void anet_ane_pack_layout_free(anet_ane_pack_layout *l) {
    if (!l) return;
    free(l->entry);
    free(l->group);
    memset(l, 0, sizeof *l);
}

void anet_ane_pack_scatter(const anet_ane_pack_layout *l, int i, const void *src, void *group_base) {
    const anet_ane_pack_entry *e = &l->entry[i];
    const anet_ane_pack_group *g = &l->group[e->group];
    const unsigned char *s = src;
    unsigned char *d = group_base;
    for (int64_t c = 0; c < g->channels; c++)
        memcpy(d + (size_t)(c * g->width + e->offset) * 2, s + (size_t)(c * e->width) * 2,
               (size_t)e->width * 2);
}

void anet_ane_pack_gather(const anet_ane_pack_layout *l, int i, const void *group_base, void *dst) {
    const anet_ane_pack_entry *e = &l->entry[i];
    const anet_ane_pack_group *g = &l->group[e->group];
    const unsigned char *s = group_base;
    unsigned char *d = dst;
    for (int64_t c = 0; c < g->channels; c++)
        memcpy(d + (size_t)(c * e->width) * 2, s + (size_t)(c * g->width + e->offset) * 2,
               (size_t)e->width * 2);
}

anet_status anet_ane_pack_rewrite(anet_graph *g, const anet_ane_pack_layout *l) {
    if (!g || !l || l->nin != g->ninputs)
        return anet_fail(ANET_E_MISMATCH, "ane packing: the layout has %d inputs, the program %d",
                         l ? l->nin : -1, g ? g->ninputs : -1);
    if (l->ngroups == 0) return ANET_OK;
    int nops0 = g->nops;
    int n = g->ninputs;
    int *old = malloc((size_t)n * sizeof *old);
    int *repl = malloc((size_t)n * sizeof *repl);
    int *gval = malloc((size_t)l->ngroups * sizeof *gval);
    anet_status st = ANET_OK;
    if (!old || !repl || !gval) {
        st = anet_fail(ANET_E_NOMEM, "ane packing: out of memory");
        goto done;
    }
    memcpy(old, g->inputs, (size_t)n * sizeof *old);
    for (int k = 0; k < l->ngroups; k++) {
        int64_t dims[4] = {1, l->group[k].channels, 1, l->group[k].width};
        gval[k] = anet_graph_input(g, l->group[k].name, anet_type_make(ANET_DT_FP16, 4, dims));
        if (gval[k] < 0) {
            st = anet_fail_ctx(ANET_E_INVALID, "ane packing: adding input '%s'", l->group[k].name);
            goto done;
        }
    }
    for (int i = 0; i < n; i++) {
        repl[i] = -1;
        const anet_ane_pack_entry *e = &l->entry[i];
        if (e->group < 0) continue;
        const anet_value *v = &g->values[old[i]];
        if (v->type.dtype != ANET_DT_FP16 || v->type.rank != 4 ||
            v->type.dims[1] != l->group[e->group].channels || v->type.dims[3] != e->width) {
            st = anet_fail(ANET_E_MISMATCH, "ane packing: input '%s' does not match the layout", v->name);
            goto done;
        }
        /* The old value becomes the slice's output, so every use (and the member's name)
         * stays as it was; the slice op gets a name of its own. */
        char opname[320];
        snprintf(opname, sizeof opname, "anet_slice_%s", v->name);
        int32_t begin[4] = {0, 0, 0, (int32_t)e->offset};
        int32_t size[4] = {1, (int32_t)l->group[e->group].channels, 1, (int32_t)e->width};
        int r = anet_b_slice_by_size(g, opname, gval[e->group], 4, begin, size);
        if (r < 0) {
            st = anet_fail_ctx(ANET_E_INVALID, "ane packing: slicing '%s'", g->values[old[i]].name);
            goto done;
        }
        anet_op *op = &g->ops[g->nops - 1];
        if (r != g->nvalues - 1 || op->noutputs != 1 || op->outputs[0] != r) {
            st = anet_fail(ANET_E_INTERNAL, "ane packing: unexpected graph layout after slicing");
            goto done;
        }
        op->outputs[0] = old[i];
        g->values[old[i]].producer = g->nops - 1;
        free(g->values[r].name);
        g->values[r].name = NULL;
        g->nvalues--;
        repl[i] = old[i];
    }
    /* The new ops (consts + slices) move before every other op. */
    int nnew = g->nops - nops0;
    anet_op *tmp = malloc((size_t)(g->nops > 0 ? g->nops : 1) * sizeof *tmp);
    if (!tmp) {
        st = anet_fail(ANET_E_NOMEM, "ane packing: out of memory");
        goto done;
    }
    memcpy(tmp, g->ops + nops0, (size_t)nnew * sizeof *tmp);
    memcpy(tmp + nnew, g->ops, (size_t)nops0 * sizeof *tmp);
    memcpy(g->ops, tmp, (size_t)g->nops * sizeof *tmp);
    free(tmp);
    for (int o = 0; o < g->nops; o++)
        for (int k = 0; k < g->ops[o].noutputs; k++) g->values[g->ops[o].outputs[k]].producer = o;
    /* Members leave the input list. */
    int w = 0;
    for (int k = 0; k < g->ninputs; k++) {
        int drop = 0;
        for (int i = 0; i < n; i++)
            if (repl[i] >= 0 && g->inputs[k] == old[i]) drop = 1;
        if (!drop) g->inputs[w++] = g->inputs[k];
    }
    g->ninputs = w;
    st = anet_graph_verify(g);
    if (st) anet_fail_ctx(st, "ane packing: the rewritten program does not verify");
done:
    free(old);
    free(repl);
    free(gval);
    return st;
}

anet_status anet_ane_pack_mil(const char *mil, size_t len, const uint8_t *w, size_t wlen,
                              const anet_ane_pack_layout *l, char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    anet_graph *g = NULL;
    anet_status st = anet_mil_parse(mil, len, w, wlen, &g);
    if (st) return anet_fail_ctx(st, "ane packing: parsing the program");
    st = anet_ane_pack_rewrite(g, l);
    if (!st) st = anet_mil_emit(g, out, out_len);
    anet_graph_free(g);
    return st;
}
