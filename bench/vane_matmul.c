/* vane matmul throughput through the backend interface (fp16 I/O conversion, fp16 rounding
 * and all) beside plain cblas_sgemm on fp32 buffers of the same shapes, in the same run.
 * Usage: vane_matmul [seconds_per_case_and_kind]   (default 0.3: ~0.6 s per shape) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/fp16.h"
#include "graph/ir.h"
#include "mil/mil.h"
#include "runtime/backend.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct shape { const char *label; int m, k, n; } shape;

/* [m,k] x [k,n] with both operands as inputs (the trainer's case: weights are inputs). */
static int compile_matmul(anet_backend *be, const shape *s, anet_program **p) {
    anet_graph *g = anet_graph_new(ANET_MIL_IOS18);
    int64_t dx[2] = {s->m, s->k}, dw[2] = {s->k, s->n};
    int x = anet_graph_input(g, "x", anet_type_make(ANET_DT_FP16, 2, dx));
    int w = anet_graph_input(g, "w", anet_type_make(ANET_DT_FP16, 2, dw));
    int f = anet_graph_const_bool(g, "f", 0);
    const char *keys[4] = {"x", "y", "transpose_x", "transpose_y"};
    int vals[4] = {x, w, f, f};
    int y = anet_graph_op(g, ANET_OP_MATMUL, "y", 4, keys, vals);
    char *mil = NULL;
    size_t len = 0;
    int rc = -1;
    if (y >= 0 && anet_graph_set_outputs(g, 1, &y) == ANET_OK && anet_mil_emit(g, &mil, &len) == ANET_OK &&
        be->ops->compile(be->state, mil, len, NULL, 0, p) == ANET_OK)
        rc = 0;
    free(mil);
    anet_graph_free(g);
    return rc;
}

int main(int argc, char **argv) {
    double budget = argc > 1 ? atof(argv[1]) : 0.3;
    if (budget <= 0) budget = 0.3;
    const shape shapes[] = {
        {"mlp fc1 fwd: [128x784]x[784x128]", 128, 784, 128},
        {"mlp fc2 fwd: [128x128]x[128x10]", 128, 128, 10},
        {"mlp fc1 dX:  [128x128]x[128x784]", 128, 128, 784},
        {"square 512:  [512x512]x[512x512]", 512, 512, 512},
    };
    anet_backend be;
    anet_backend_config cfg = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 0};
    if (anet_backend_open("vane", &cfg, &be) != ANET_OK) {
        fprintf(stderr, "vane_matmul: %s\n", anet_last_error());
        return 1;
    }
    printf("vane matmul vs cblas_sgemm (fp16 path %s), %.2f s per case\n", anet_f16_path(), budget);
    printf("%-36s %10s %10s %10s %8s\n", "shape (M x K x N)", "vane GF/s", "sgemm GF/s", "vane us", "ratio");
    int rc = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        size_t nx = (size_t)s->m * s->k, nw = (size_t)s->k * s->n, ny = (size_t)s->m * s->n;
        float *fx = malloc(nx * 4), *fw = malloc(nw * 4), *fy = malloc(ny * 4);
        anet_f16 *hx = malloc(nx * 2), *hw = malloc(nw * 2), *hy = malloc(ny * 2);
        uint64_t r = 12345;
        for (size_t j = 0; j < nx; j++) { r = r * 6364136223846793005ull + 1; fx[j] = (float)((r >> 40) & 0xffff) / 65536.0f - 0.5f; }
        for (size_t j = 0; j < nw; j++) { r = r * 6364136223846793005ull + 1; fw[j] = (float)((r >> 40) & 0xffff) / 65536.0f - 0.5f; }
        anet_f32_to_f16_n(fx, hx, nx);
        anet_f32_to_f16_n(fw, hw, nw);
        anet_program *p = NULL;
        if (compile_matmul(&be, s, &p) != 0) {
            fprintf(stderr, "vane_matmul: compile %s: %s\n", s->label, anet_last_error());
            rc = 1;
        } else {
            anet_io in[2] = {{hx, nx * 2}, {hw, nw * 2}}, out[1] = {{hy, ny * 2}};
            double flop = 2.0 * s->m * s->k * s->n;
            /* Warm up both. */
            be.ops->eval(be.state, p, in, 2, out, 1);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->m, s->n, s->k, 1.0f, fx, s->k, fw, s->n, 0.0f, fy, s->n);
            /* The machine may be shared: alternate short bursts of the two and keep each one's
             * best burst, so both see the same load and a busy moment does not count. */
            int burst = (int)(2e6 / flop) + 1; /* at least ~2 MFLOP per burst, so timer cost stays small */
            double best_v = 1e30, best_s = 1e30, t_start = now();
            long bursts = 0;
            do {
                double t0 = now();
                for (int r = 0; r < burst; r++)
                    if (be.ops->eval(be.state, p, in, 2, out, 1) != ANET_OK) rc = 1;
                double t1 = now();
                for (int r = 0; r < burst; r++)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->m, s->n, s->k, 1.0f, fx, s->k, fw,
                                s->n, 0.0f, fy, s->n);
                double t2 = now();
                if ((t1 - t0) / burst < best_v) best_v = (t1 - t0) / burst;
                if ((t2 - t1) / burst < best_s) best_s = (t2 - t1) / burst;
                bursts++;
            } while (now() - t_start < 2 * budget);
            double gv = flop / best_v / 1e9, gs = flop / best_s / 1e9;
            printf("%-36s %10.2f %10.2f %10.1f %7.2fx  (%ld bursts of %d)\n", s->label, gv, gs, 1e6 * best_v,
                   gs / gv, bursts, burst);
            be.ops->release(be.state, p);
        }
        free(fx); free(fw); free(fy); free(hx); free(hw); free(hy);
    }
    printf("best burst of each; ratio = sgemm GF/s / vane GF/s (target <= 1.5)\n");
    anet_backend_close(&be);
    return rc;
}
