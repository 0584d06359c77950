/* The model spec grammar (layers.c): presets, canonical text, shapes, parameter shapes and
 * counts worked out by hand here, the refusals (one line each), the loss/output fit; the
 * dropout masks' values and statistics; and the step programs of every layer kind building
 * with one train and one eval program. Numerics against PyTorch: python/tests/test_layers.py. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/fp16.h"
#include "train/dropout.h"
#include "train/model.h"
#include "train/step.h"

static void test_lenet5(void) {
    anet_model_spec m;
    CHECK(anet_model_parse("lenet5", &m) == ANET_OK);
    CHECK(strcmp(m.text, "in:1x28x28,conv:6x5x5:pad2,relu,maxpool:2,conv:16x5x5,relu,maxpool:2,flatten,"
                         "linear:120,relu,linear:84,relu,linear:10") == 0);
    CHECK_EQ_INT(m.nl, 12);
    CHECK_EQ_INT(anet_model_in_features(&m), 784);
    CHECK_EQ_INT(anet_model_outputs(&m), 10);
    /* conv1 keeps 28x28 (pad 2), pool -> 14, conv2 (5x5 valid) -> 10, pool -> 5: 16*5*5 = 400 */
    CHECK_EQ_INT(m.layers[3].in.d[1], 14);
    CHECK_EQ_INT(m.layers[4].in.d[1], 10);
    CHECK_EQ_INT(m.layers[7].in.d[0], 400);
    CHECK_EQ_INT(anet_model_nparams(&m), 10);
    anet_param_info p;
    anet_model_param(&m, 2, &p); /* conv2 weight: [16, 6*5*5] */
    CHECK(strcmp(p.name, "w1") == 0);
    CHECK_EQ_INT(p.rows, 16);
    CHECK_EQ_INT(p.cols, 150);
    /* 6*25+6 + 16*150+16 + 120*401 + 84*121 + 10*85 = 61706 (LeNet-5's classic count) */
    CHECK_EQ_INT(anet_model_param_count(&m), 61706);
    /* the canonical text parses to itself */
    anet_model_spec m2;
    CHECK(anet_model_parse(m.text, &m2) == ANET_OK);
    CHECK(strcmp(m2.text, m.text) == 0);
}

static void test_forms(void) {
    anet_model_spec m;
    CHECK(anet_model_parse("in:12,linear:8,relu,linear:3", &m) == ANET_OK);
    CHECK(strcmp(m.text, "mlp:12-8-3") == 0); /* one canonical text for both spellings */
    CHECK(anet_model_parse("mlp:20-16-1,loss:mse", &m) == ANET_OK);
    CHECK(strcmp(m.text, "mlp:20-16-1,loss:mse") == 0);
    CHECK(m.loss == ANET_LOSS_MSE);
    CHECK(anet_model_parse("in:3x8x8,conv:6x3:s2:pad1:g3,leakyrelu,avgpool:2,flatten,dropout:0.25,linear:4,loss:bce", &m) ==
          ANET_OK);
    CHECK(strcmp(m.text, "in:3x8x8,conv:6x3x3:s2:pad1:g3,leakyrelu:0.01,avgpool:2,flatten,dropout:0.25,linear:4,"
                         "loss:bce") == 0);
    CHECK_EQ_INT(m.layers[0].outs.d[1], 4); /* (8 + 2 - 3) / 2 + 1 */
    anet_param_info p;
    anet_model_param(&m, 0, &p);
    CHECK_EQ_INT(p.cols, 1 * 3 * 3); /* in/groups * kh * kw */
    CHECK(anet_model_parse("in:4x6x6,conv:4x3x3:pad1:dw,relu,conv:4x3x3:pad1,add:3,layernorm,flatten,linear:2", &m) ==
          ANET_OK);
    CHECK_EQ_INT(m.layers[0].groups, 4);
    anet_model_param(&m, 5, &p); /* layernorm bias: one per element of [4,6,6] */
    CHECK(strcmp(p.name, "b2") == 0);
    CHECK_EQ_INT(p.rows, 144);
    CHECK(anet_model_parse("conv:4x3x3,flatten,linear:10", &m) == ANET_OK); /* default input 1x28x28 */
    CHECK_EQ_INT(anet_model_in_features(&m), 784);
    CHECK(anet_model_spec_like("lenet5") && anet_model_spec_like("mlp:4-2") && anet_model_spec_like("conv:4x3,flatten"));
    CHECK(!anet_model_spec_like("model.safetensors") && !anet_model_spec_like("/tmp/x.mil"));
}

static void refused(const char *spec, const char *needle) {
    anet_model_spec m;
    anet_status st = anet_model_parse(spec, &m);
    CHECK_MSG(st == ANET_E_INVALID, "'%s' was accepted", spec);
    CHECK_STR_CONTAINS(anet_last_error(), needle);
    CHECK_MSG(!strchr(anet_last_error(), '\n'), "'%s': message is not one line", spec);
}

static void test_refusals(void) {
    refused("mlp:20-16-1", "cross-entropy needs at least 2 classes");
    refused("conv:8x3x3:d2,flatten,linear:10", "dilated convolutions");
    refused("maxpool:14,flatten,linear:10", "up to 13");
    refused("avgpool:2:s3,flatten,linear:10", "strides up to 2");
    refused("maxpool:3:s2,flatten,linear:10", "non-overlapping");
    refused("linear:10", "needs flat input");
    refused("conv:8x3x3", "end with flatten");
    refused("in:3x8x8,conv:4x3x3:g2,flatten,linear:2", "divisible by 2 groups");
    refused("in:4,linear:4,add:5,linear:2", "reaches before the input");
    refused("in:4,linear:3,add:1,linear:2", "shapes differ");
    refused("conv:8x30x30,flatten,linear:2", "larger than");
    refused("in:4,linear:3,softmax", "unknown layer 'softmax'");
    refused("in:4,linear:2,loss:hinge", "unknown loss");
    refused("in:4,dropout:1,linear:2", "0 <= P < 1");
    refused("in:4,relu", "no parameters");
    refused("in:4,linear:2,in:3", "first in the list");
    refused("", "unknown model");
    refused("in:2x4x4,conv:3x3x3:zz,flatten,linear:2", "unknown option");
    refused("in:4,linear:2\nx", "character 0x0a");
}

static void test_dropout_mask(void) {
    enum { N = 20000 };
    anet_f16 *a = malloc(sizeof(anet_f16) * N), *b = malloc(sizeof(anet_f16) * N), *c = malloc(sizeof(anet_f16) * N);
    anet_dropout_mask(7, 3, 2, 0.25f, a, N);
    anet_dropout_mask(7, 3, 2, 0.25f, b, N);
    anet_dropout_mask(7, 4, 2, 0.25f, c, N);
    CHECK(memcmp(a, b, sizeof(anet_f16) * N) == 0);
    CHECK(memcmp(a, c, sizeof(anet_f16) * N) != 0);
    int zeros = 0, bad = 0;
    float keep = anet_f16_to_f32(anet_f32_to_f16(1.0f / 0.75f));
    for (int i = 0; i < N; i++) {
        float v = anet_f16_to_f32(a[i]);
        if (v == 0.0f) zeros++;
        else if (v != keep) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    /* binomial(20000, 0.25): sd 61; 6 sd either way */
    CHECK_MSG(abs(zeros - N / 4) < 370, "%d of %d dropped", zeros, N);
    free(a);
    free(b);
    free(c);
}

/* Every layer kind builds a train program (update cpu and ane) and an eval program. */
static void test_programs_build(void) {
    static const char *const specs[] = {
        "lenet5",
        "in:3x8x8,conv:6x3x3:s2:pad1:g3,leakyrelu,avgpool:2,flatten,dropout:0.25,linear:4,loss:bce",
        "in:4x6x6,conv:4x3x3:pad1:dw,gelu,conv:4x3x3:pad1,add:2,layernorm,silu,flatten,sigmoid,tanh,linear:2,loss:mse",
        "in:2x6x6,conv:4x3x3,batchnorm,relu,flatten,linear:6,batchnorm,linear:3",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        anet_step_config cfg;
        memset(&cfg, 0, sizeof cfg);
        CHECK(anet_model_parse(specs[i], &cfg.model) == ANET_OK);
        cfg.batch = 8;
        cfg.opt.kind = ANET_OPT_ADAM;
        cfg.opt.lr = 1e-3f;
        cfg.opt.beta1 = 0.9f;
        cfg.opt.beta2 = 0.999f;
        cfg.opt.eps = 1e-8f;
        int bn = strstr(specs[i], "batchnorm") != NULL;
        for (int u = 0; u < 2; u++) {
            cfg.update = u ? ANET_UPDATE_ANE : ANET_UPDATE_CPU;
            anet_step_program p;
            anet_status st = anet_step_build_train(&cfg, &p);
            CHECK_MSG(st == ANET_OK, "%s update %d: %s", specs[i], u, anet_last_error());
            if (st != ANET_OK) continue;
            if (bn && u) {
                /* update=ane: the running statistics are state, each an input and an updated
                 * output row [1,1,1,C] (role PARAM), no batch statistics out */
                int ins = 0, outs = 0, bstats = 0;
                for (int k = 0; k < p.ninputs; k++) {
                    const anet_io_desc *d = &p.inputs[k];
                    anet_param_info pi;
                    anet_model_param(&cfg.model, d->index, &pi);
                    if (d->role == ANET_ROLE_PARAM && !pi.trainable) {
                        ins++;
                        CHECK_EQ_INT((int)anet_type_elements(&p.graph->values[d->value].type), pi.rows);
                        CHECK_EQ_INT((int)p.graph->values[d->value].type.dims[3], pi.rows);
                    }
                }
                for (int k = 0; k < p.noutputs; k++) {
                    anet_param_info pi;
                    anet_model_param(&cfg.model, p.outputs[k].index, &pi);
                    outs += p.outputs[k].role == ANET_ROLE_PARAM && !pi.trainable;
                    bstats += p.outputs[k].role == ANET_ROLE_BN_STAT;
                }
                CHECK_EQ_INT(ins, 4);
                CHECK_EQ_INT(outs, 4);
                CHECK_EQ_INT(bstats, 0);
                anet_step_program_free(&p);
                continue;
            }
            int masks = 0;
            for (int k = 0; k < p.ninputs; k++) masks += p.inputs[k].role == ANET_ROLE_MASK;
            CHECK_EQ_INT(masks, strstr(specs[i], "dropout") ? 1 : 0);
            int stats = 0, grads = 0;
            for (int k = 0; k < p.noutputs; k++) {
                stats += p.outputs[k].role == ANET_ROLE_BN_STAT;
                grads += p.outputs[k].role == ANET_ROLE_GRAD;
            }
            CHECK_EQ_INT(stats, bn ? 4 : 0);                               /* mean and variance of 2 layers */
            if (!u) CHECK_EQ_INT(grads, anet_model_nparams(&cfg.model) - stats); /* none for running stats */
            if (bn) CHECK_EQ_INT(p.outputs[p.noutputs - 1].slot, 8);          /* flat: over the batch */
            if (bn) CHECK_EQ_INT(p.outputs[p.noutputs - 3].slot, 8 * 4 * 4); /* [C,H,W]: batch x H x W */
            anet_step_program_free(&p);
        }
        anet_step_program e;
        anet_status st = anet_step_build_eval(&cfg, &e);
        CHECK_MSG(st == ANET_OK, "%s eval: %s", specs[i], anet_last_error());
        if (st == ANET_OK) anet_step_program_free(&e);
    }
}

int main(void) {
    test_lenet5();
    test_forms();
    test_refusals();
    test_dropout_mask();
    test_programs_build();
    TEST_MAIN_END();
}
