/* Transcendental unary ops of fused chains (exp, log, tanh, sigmoid: the ones the chip
 * profiles accept) on fp16 values as table lookups. Their input is one of the 65536 fp16
 * values, so the op's rounded result for each of them, computed once per program by the same
 * kernel (and libm) that op-by-op execution calls, gives the same bits as computing it per
 * element, for a conversion and a load instead of a libm call. */
#include <stdlib.h>
#include <string.h>

#include "core/fp16.h"
#include "runtime/vane/plan.h"

/* Elements per eval below which a table (65536 evaluations at compile) is not worth it. */
#define VANE_LUT_MIN 2048

static int table_op(int op) {
    return op == ANET_VK_EXP || op == ANET_VK_LOG || op == ANET_VK_TANH || op == ANET_VK_SIGMOID;
}

anet_status anet_vane_tables(anet_program *p, const anet_graph *g) {
    if (!p->fp16) return ANET_OK; /* fp32 numerics: inputs are not fp16 values */
    float *xs = NULL;
    for (int u = 0; u < p->nunits; u++) {
        const unit *un = &p->units[u];
        if (!un->fused || un->h16 || un->n < VANE_LUT_MIN) continue;
        for (int i = un->first; i < un->first + un->count; i++) {
            step *s = &p->steps[i];
            if (s->kind != S_UNARY || !s->round || !table_op(s->op) ||
                g->values[s->in[0]].type.dtype != ANET_DT_FP16)
                continue;
            for (int k = 0; k < p->nluts && !s->lut; k++) /* the same op and parameter: shared */
                if (p->lut_op[k] == s->op && memcmp(&p->lut_p[k], &s->p, sizeof s->p) == 0) s->lut = p->luts[k];
            if (s->lut) continue;
            if (!xs) {
                xs = malloc(65536 * sizeof *xs);
                anet_f16 *h = malloc(65536 * sizeof *h);
                if (!xs || !h) { free(xs); free(h); return anet_fail(ANET_E_NOMEM, "vane: out of memory"); }
                for (uint32_t v = 0; v < 65536; v++) h[v] = (anet_f16)v;
                anet_f16_to_f32_n(h, xs, 65536);
                free(h);
            }
            float *t = malloc(65536 * sizeof *t);
            float **nl = realloc(p->luts, (size_t)(p->nluts + 1) * sizeof *nl);
            if (nl) p->luts = nl;
            int *no = realloc(p->lut_op, (size_t)(p->nluts + 1) * sizeof *no);
            if (no) p->lut_op = no;
            float *np = realloc(p->lut_p, (size_t)(p->nluts + 1) * sizeof *np);
            if (np) p->lut_p = np;
            if (!t || !nl || !no || !np) { free(t); free(xs); return anet_fail(ANET_E_NOMEM, "vane: out of memory"); }
            p->k->unary((anet_vk_unop)s->op, 65536, xs, t, s->p);
            p->k->round(65536, t);
            p->luts[p->nluts] = t;
            p->lut_op[p->nluts] = s->op;
            p->lut_p[p->nluts++] = s->p;
            s->lut = t;
        }
    }
    free(xs);
    return ANET_OK;
}

void anet_vane_lut_row(const float *lut, const float *x, float *y, int64_t n) {
    anet_f16 h[VANE_TILE]; /* n <= VANE_TILE: one tile */
    anet_f32_to_f16_n(x, h, (size_t)n);
    for (int64_t i = 0; i < n; i++) y[i] = lut[h[i]];
}
