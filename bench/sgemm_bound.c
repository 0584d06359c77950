/* The sgemm bound of a training epoch: plain cblas_sgemm on fp32 buffers for exactly the GEMMs
 * of the MLP step programs (per layer out x in: forward W[out,in] x X[in,B]; weight gradient
 * dY[out,B] x X[in,B]^T; input gradient W^T x dY for every layer but the first), as many steps
 * as an epoch has. Nothing else: no bias, activation, loss, optimizer or conversion. Prints the
 * best of --reps epochs in seconds (the least disturbed on a shared machine).
 * --adam adds, after each step's GEMMs, torch's fp32 Adam over every parameter (weights and
 * biases) on fp32 gradients with this library's fastest bit-exact update (train/optim_cpu.h, one
 * loop, no fp16 conversion): about the least an exact fp32 optimizer adds (it must read and write
 * the weights and both moments each step), with the GEMMs' cache traffic around it.
 * Usage: sgemm_bound --model 784-128-10 [--batch 128] [--steps 468] [--reps 3] [--adam] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/optim_cpu.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *buf(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) { fprintf(stderr, "sgemm_bound: out of memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000u) / 1000.0f - 0.5f;
    return p;
}

int main(int argc, char **argv) {
    const char *model = "784-128-10";
    int B = 128, steps = 468, reps = 3, with_adam = 0;
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--adam")) { with_adam = 1; i--; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "sgemm_bound: %s needs a value\n", argv[i]); return 2; }
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--batch")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else { fprintf(stderr, "usage: sgemm_bound --model A-B-..-Z [--batch B] [--steps N] [--reps R] [--adam]\n"); return 2; }
    }
    int d[32], nd = 0;
    for (const char *s = model; *s && nd < 32;) {
        d[nd++] = atoi(s);
        s = strchr(s, '-');
        if (!s) break;
        s++;
    }
    if (nd < 2 || B < 1 || steps < 1 || reps < 1) { fprintf(stderr, "sgemm_bound: bad arguments\n"); return 2; }
    /* dW[l]: the weight gradient [out, in], then room for the out bias gradients (the optimizer's). */
    float *W[31], *dW[31], *A[32], *G[32];
    size_t np[31];
    for (int l = 0; l < nd; l++) {
        A[l] = buf((size_t)d[l] * B); /* activations [d, B] */
        G[l] = buf((size_t)d[l] * B); /* their gradients */
        if (l + 1 < nd) {
            np[l] = (size_t)d[l + 1] * d[l] + (size_t)d[l + 1];
            W[l] = buf((size_t)d[l + 1] * d[l]);
            dW[l] = buf(np[l]);
        }
    }
    /* The optimizer keeps its own fp32 weights and moments, as the trainer's does. */
    anet_optim_cpu opt;
    anet_opt_config oc;
    anet_opt_config_default(ANET_OPT_ADAM, &oc);
    if (with_adam && anet_optim_cpu_init(&opt, &oc, nd - 1, np) != ANET_OK) {
        fprintf(stderr, "sgemm_bound: out of memory\n");
        return 1;
    }
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (int s = 0; s < steps; s++) {
            for (int l = 0; l + 1 < nd; l++) /* forward: A[l+1] = W[l] A[l] */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d[l + 1], B, d[l], 1.0f, W[l], d[l], A[l], B,
                            0.0f, A[l + 1], B);
            for (int l = nd - 2; l >= 0; l--) {
                /* dW[l] = G[l+1] A[l]^T; G[l] = W[l]^T G[l+1] (not for the input) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d[l + 1], d[l], B, 1.0f, G[l + 1], B, A[l], B,
                            0.0f, dW[l], d[l]);
                if (l > 0)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d[l], B, d[l + 1], 1.0f, W[l], d[l], G[l + 1],
                                B, 0.0f, G[l], B);
            }
            if (with_adam) anet_optim_cpu_step(&opt, 1e-3f, (const float *const *)dW);
        }
        double t = now() - t0;
        if (t < best) best = t;
    }
    printf("%.6f\n", best);
    if (with_adam) anet_optim_cpu_free(&opt);
    for (int l = 0; l < nd; l++) {
        free(A[l]);
        free(G[l]);
        if (l + 1 < nd) { free(W[l]); free(dW[l]); }
    }
    return 0;
}
