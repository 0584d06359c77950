/* Test helper: run a graph through the vane backend (MIL text -> compile -> eval).
 * Placeholder until the vane backend is merged: reports "not available". */
#ifndef ANET_TESTS_VANE_RUN_H
#define ANET_TESTS_VANE_RUN_H

#include <stdio.h>

#include "graph/ir.h"
#include "runtime/backend.h"

typedef struct vane_ctx {
    int ok;
    char why[256];
} vane_ctx;

static void vane_open(vane_ctx *c, anet_numerics num) {
    (void)num;
    c->ok = 0;
    snprintf(c->why, sizeof c->why, "not merged yet");
}
static void vane_close(vane_ctx *c) { (void)c; }
static int vane_eval(vane_ctx *c, anet_graph *g, double **inputs, int nin, const int *outs, int nout, double **res) {
    (void)c; (void)g; (void)inputs; (void)nin; (void)outs; (void)nout; (void)res;
    return 0;
}

#endif
