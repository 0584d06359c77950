/* Test helper: run an IR graph through the vane backend. The requested values are cast to
 * fp32 at the end of the program (in fp32 numerics a cast is a plain copy), so fp32 mode
 * results are not rounded by fp16 output surfaces; inputs go in as fp16 like on the device.
 * One compiled program is cached per context (same graph and outputs: no recompile);
 * vane_forget() drops it before its graph is freed. */
#ifndef ANET_TESTS_VANE_RUN_H
#define ANET_TESTS_VANE_RUN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fp16.h"
#include "graph/build.h"
#include "graph/ir.h"
#include "mil/mil.h"
#include "runtime/backend.h"
#include "runtime/vane/vane.h"

#define VANE_RUN_MAX_IO 160
/* 1: compile the IR directly (vane's post-parse entry point), skipping the MIL text; a debugging aid. */
#define VANE_RUN_DIRECT 0

typedef struct vane_ctx {
    int ok;
    char why[256];
    anet_backend be;
    const anet_graph *g; /* the cached program's graph, NULL when none */
    int nops, nout;
    int outv[VANE_RUN_MAX_IO], castv[VANE_RUN_MAX_IO];
    anet_program *p;
} vane_ctx;

static void vane_open(vane_ctx *c, anet_numerics num) {
    memset(c, 0, sizeof *c);
    anet_backend_config cfg = {ANET_CHIP_M4, num, 0};
    c->ok = anet_backend_open("vane", &cfg, &c->be) == ANET_OK;
    if (!c->ok) snprintf(c->why, sizeof c->why, "%s", anet_last_error());
}

static void vane_forget(vane_ctx *c, const anet_graph *g) {
    if (c->ok && c->p && (!g || c->g == g)) {
        c->be.ops->release(c->be.state, c->p);
        c->p = NULL;
        c->g = NULL;
    }
}

static void vane_close(vane_ctx *c) {
    if (!c->ok) return;
    vane_forget(c, NULL);
    anet_backend_close(&c->be);
    c->ok = 0;
}

/* Compiles g (through its MIL text) with fp32 casts of outs[] as the outputs. */
static int vane_prepare(vane_ctx *c, anet_graph *g, const int *outs, int nout) {
    if (c->p && c->g == g && c->nops == g->nops && c->nout == nout &&
        memcmp(c->outv, outs, sizeof(int) * (size_t)nout) == 0)
        return 1;
    vane_forget(c, NULL);
    if (nout > VANE_RUN_MAX_IO) return 0;
    for (int i = 0; i < nout; i++) {
        c->outv[i] = outs[i];
        c->castv[i] = anet_b_cast(g, NULL, outs[i], ANET_DT_FP32);
        if (c->castv[i] < 0) return 0;
    }
    if (anet_graph_set_outputs(g, nout, c->castv) != ANET_OK) return 0;
#if VANE_RUN_DIRECT
    anet_status st = anet_vane_compile_graph(c->be.state, g, &c->p);
#else
    char *mil = NULL;
    size_t len = 0;
    anet_status st = anet_mil_emit(g, &mil, &len);
    if (st == ANET_OK) st = c->be.ops->compile(c->be.state, mil, len, NULL, 0, &c->p);
    free(mil);
#endif
    if (st != ANET_OK) {
        c->p = NULL;
        return 0;
    }
    c->g = g;
    c->nops = g->nops;
    c->nout = nout;
    return 1;
}

/* inputs[i]: data of g->inputs[i] (rounded to its fp16 surface); res[i] (malloc'd by this
 * function) receives the value outs[i]. Returns 0 on failure (anet_last_error() says why). */
static int vane_eval(vane_ctx *c, anet_graph *g, double **inputs, int nin, const int *outs, int nout, double **res) {
    if (!c->ok || nin != g->ninputs || nin > VANE_RUN_MAX_IO || !vane_prepare(c, g, outs, nout)) return 0;
    anet_io in[VANE_RUN_MAX_IO], out[VANE_RUN_MAX_IO];
    int ok = 1;
    for (int i = 0; i < nin; i++) {
        const anet_type *t = &g->values[g->inputs[i]].type;
        int64_t n = anet_type_elements(t);
        anet_f16 *b = malloc(sizeof(anet_f16) * (size_t)n);
        for (int64_t k = 0; k < n; k++) b[k] = anet_f32_to_f16((float)inputs[i][k]);
        in[i].data = b;
        in[i].nbytes = sizeof(anet_f16) * (size_t)n;
    }
    for (int i = 0; i < nout; i++) {
        int64_t n = anet_type_elements(&g->values[outs[i]].type);
        out[i].data = malloc(sizeof(float) * (size_t)n);
        out[i].nbytes = sizeof(float) * (size_t)n;
    }
    if (c->be.ops->eval(c->be.state, c->p, in, nin, out, nout) != ANET_OK) ok = 0;
    for (int i = 0; i < nout; i++) {
        int64_t n = anet_type_elements(&g->values[outs[i]].type);
        res[i] = ok ? malloc(sizeof(double) * (size_t)n) : NULL;
        for (int64_t k = 0; ok && k < n; k++) res[i][k] = ((float *)out[i].data)[k];
        free(out[i].data);
    }
    for (int i = 0; i < nin; i++) free(in[i].data);
    return ok;
}

#endif
