/* Ping-pong on the trainer's real update=ane step program, on ane-sim: pairing every
 * parameter/optimizer-state input with its updated output and swapping between steps gives,
 * bit for bit, what copying the outputs back into the inputs on the host gives - while only
 * the batch and the hyper tensor cross the boundary each step. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/fp16.h"
#include "mil/mil.h"
#include "runtime/ane_backend.h"
#include "train/step.h"

enum { STEPS = 6 };

static uint16_t *alloc_fill(size_t n, uint64_t *s, float scale) {
    uint16_t *d = malloc(n * sizeof *d + 2);
    for (size_t j = 0; d && j < n; j++) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        float u = (float)((double)(*s >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
        d[j] = anet_f32_to_f16(scale * u);
    }
    return d;
}

int main(void) {
    /* The pairing of surfaces, on the plain step program (the chip's form has its own tests). */
    setenv("ANE_TRAINER_FORMS", "none", 1);
    anet_step_config cfg;
    memset(&cfg, 0, sizeof cfg);
    CHECK_EQ_INT(anet_model_parse("mlp:32-16-10", &cfg.model), ANET_OK);
    cfg.batch = 16;
    cfg.opt.kind = ANET_OPT_ADAM;
    cfg.opt.lr = 1e-2f;
    cfg.opt.beta1 = 0.9f;
    cfg.opt.beta2 = 0.999f;
    cfg.opt.eps = 1e-8f;
    cfg.update = ANET_UPDATE_ANE;
    cfg.dialect = ANET_MIL_IOS18;
    anet_step_program prog;
    memset(&prog, 0, sizeof prog);
    CHECK_EQ_INT(anet_step_build_train(&cfg, &prog), ANET_OK);
    char *mil = NULL;
    uint8_t *w = NULL;
    size_t ml = 0, wl = 0;
    CHECK_EQ_INT(anet_weights_build(prog.graph, 64, &w, &wl), ANET_OK);
    CHECK_EQ_INT(anet_mil_emit(prog.graph, &mil, &ml), ANET_OK);
    if (!mil) TEST_MAIN_END();

    anet_backend_config bc = {ANET_CHIP_M4, ANET_NUMERICS_FP16, 0};
    anet_backend a, b;
    CHECK_EQ_INT(anet_backend_open("ane-sim", &bc, &a), ANET_OK);
    CHECK_EQ_INT(anet_backend_open("ane-sim", &bc, &b), ANET_OK);
    anet_program *pa = NULL, *pb = NULL;
    CHECK_EQ_INT(a.ops->compile(a.state, mil, ml, w, wl, &pa), ANET_OK);
    CHECK_EQ_INT(b.ops->compile(b.state, mil, ml, w, wl, &pb), ANET_OK);
    if (!pa || !pb) TEST_MAIN_END();
    const anet_ane_sig *sig = anet_ane_program_sig(pa);
    int nin = sig->nin, nout = sig->nout;
    CHECK_EQ_INT(nin, prog.ninputs);

    /* pair[i] = the output that updates input i ("pII_x" -> "uII_x"), or -1. */
    int pair[64], npairs = 0;
    uint64_t seed = 99;
    uint16_t *in[64] = {0}, *out[64] = {0};
    for (int i = 0; i < nin; i++) {
        pair[i] = -1;
        if (sig->in[i].name[0] == 'p') {
            char want[160];
            snprintf(want, sizeof want, "u%s", sig->in[i].name + 1);
            for (int j = 0; j < nout; j++)
                if (strcmp(sig->out[j].name, want) == 0) pair[i] = j;
        }
        anet_io_role role = prog.inputs[i].role;
        size_t n = sig->in[i].nbytes / 2;
        in[i] = alloc_fill(n, &seed, role == ANET_ROLE_PARAM ? 0.3f : role == ANET_ROLE_X ? 1.0f : 0.0f);
        if (role == ANET_ROLE_Y_ONEHOT)
            for (size_t s = 0; s < (size_t)cfg.batch; s++) in[i][(s * 3 % 10) * cfg.batch + s] = anet_f32_to_f16(1);
        if (pair[i] >= 0) {
            npairs++;
            CHECK_EQ_INT(anet_ane_pair(b.state, pb, i, pair[i]), ANET_OK);
        }
    }
    for (int j = 0; j < nout; j++) out[j] = calloc(sig->out[j].nbytes / 2 + 1, 2);
    int first_param = -1;
    for (int i = 0; i < nin && first_param < 0; i++)
        if (pair[i] >= 0 && prog.inputs[i].role == ANET_ROLE_PARAM) first_param = i;
    CHECK(first_param >= 0);
    if (first_param < 0) TEST_MAIN_END();
    uint16_t *initial = malloc(sig->in[first_param].nbytes);
    memcpy(initial, in[first_param], sig->in[first_param].nbytes);
    CHECK_EQ_INT(npairs, 4 * anet_model_nparams(&cfg.model)); /* hi, lo, s0, s1 per parameter */

    /* b: state written once. */
    for (int i = 0; i < nin; i++)
        if (pair[i] >= 0) CHECK_EQ_INT(anet_ane_write(b.state, pb, i, in[i], sig->in[i].nbytes), ANET_OK);
    anet_backend_stats s0;
    b.ops->stats(b.state, &s0);
    size_t per_step_bytes = 0;
    for (int t = 1; t <= STEPS; t++) {
        float hyper[ANET_HYPER_SLOTS];
        anet_step_hyper(&cfg, t, cfg.opt.lr, 256.0f, cfg.batch, hyper);
        for (int i = 0; i < nin; i++)
            if (prog.inputs[i].role == ANET_ROLE_HYPER)
                for (int k = 0; k < ANET_HYPER_SLOTS; k++) in[i][k] = anet_f32_to_f16(hyper[k]);
        /* a: everything in, everything out, outputs copied back into the inputs. */
        anet_io ai[64], ao[64];
        for (int i = 0; i < nin; i++) ai[i] = (anet_io){in[i], sig->in[i].nbytes};
        for (int j = 0; j < nout; j++) ao[j] = (anet_io){out[j], sig->out[j].nbytes};
        CHECK_EQ_INT(a.ops->eval(a.state, pa, ai, nin, ao, nout), ANET_OK);
        /* b: only the unpaired inputs (hyper, x, y) are written. */
        per_step_bytes = 0;
        for (int i = 0; i < nin; i++)
            if (pair[i] < 0) {
                CHECK_EQ_INT(anet_ane_write(b.state, pb, i, in[i], sig->in[i].nbytes), ANET_OK);
                per_step_bytes += sig->in[i].nbytes;
            }
        CHECK_EQ_INT(anet_ane_run(b.state, pb), ANET_OK);
        for (int i = 0; i < nin; i++)
            if (pair[i] >= 0) memcpy(in[i], out[pair[i]], sig->in[i].nbytes);
        if (t < STEPS) CHECK_EQ_INT(anet_ane_swap(b.state, pb), ANET_OK);
    }
    /* After the last run, b's outputs hold the state after STEPS updates. */
    int same = 1, changed = 0;
    for (int j = 0; j < nout; j++) {
        uint16_t *got = malloc(sig->out[j].nbytes + 2);
        CHECK_EQ_INT(anet_ane_read(b.state, pb, j, got, sig->out[j].nbytes), ANET_OK);
        if (memcmp(got, out[j], sig->out[j].nbytes) != 0) {
            same = 0;
            fprintf(stderr, "output %s differs\n", sig->out[j].name);
        }
        free(got);
    }
    changed = memcmp(initial, out[pair[first_param]], sig->in[first_param].nbytes) != 0;
    free(initial);
    CHECK(same);
    CHECK_MSG(changed, "the parameters did not move in %d steps", STEPS);
    anet_backend_stats s1;
    b.ops->stats(b.state, &s1);
    CHECK_EQ_INT(s1.bytes_in - s0.bytes_in, (uint64_t)per_step_bytes * STEPS);
    CHECK_EQ_INT(s1.dispatches - s0.dispatches, STEPS);
    CHECK_EQ_INT(s1.compiles, 1);

    for (int i = 0; i < 64; i++) {
        free(in[i]);
        free(out[i]);
    }
    anet_backend_close(&a);
    anet_backend_close(&b);
    anet_step_program_free(&prog);
    free(mil);
    free(w);
    TEST_MAIN_END();
}
