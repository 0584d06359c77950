/* Core ML reader and `check` analysis. The models are built here by a small protobuf
 * ENCODER written independently of the reader (field numbers straight from
 * apple/coremltools mlmodel/format/ .proto files), so a reader bug cannot hide behind
 * its own output. Fixture expectations come from shared/fixtures/coreml/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "core/error.h"
#include "coreml/compute_plan.h"
#include "coreml/coreml.h"
#include "coreml/deps.h"
#include "mil/mil.h"
#include "train/checkpoint.h"

#include "coreml_gen.h"

/* With ANET_COREML_DUMP_DIR set, every generated model is also written there (the fuzz
 * corpus in fuzz/corpus/coreml/ was made this way). */
static void dump(const buf *b) {
    static int n;
    const char *dir = getenv("ANET_COREML_DUMP_DIR");
    if (!dir) return;
    char p[512];
    snprintf(p, sizeof p, "%s/gen_%03d.mlmodel", dir, n++);
    FILE *f = fopen(p, "wb");
    if (!f) return;
    fwrite(b->p, 1, b->n, f);
    fclose(f);
}

static anet_cm_model *parse(const buf *b, anet_chip chip) {
    dump(b);
    anet_cm_model *m = NULL;
    anet_status st = anet_coreml_parse_mlmodel(b->p, b->n, NULL, 0, "test.mlmodel", &m);
    CHECK_MSG(st == ANET_OK, "parse: %s", anet_last_error());
    if (st != ANET_OK) return NULL;
    st = anet_coreml_analyze(m, chip);
    CHECK_MSG(st == ANET_OK, "analyze: %s", anet_last_error());
    return m;
}

static const anet_cm_layer *find_layer(const anet_cm_model *m, const char *name) {
    for (int i = 0; m && i < m->nlayers; i++)
        if (strcmp(m->layers[i].name, name) == 0) return &m->layers[i];
    return NULL;
}

#define EXPECT_LAYER(m, lname, verdict_, rule_)                                                              \
    do {                                                                                                     \
        const anet_cm_layer *l_ = find_layer((m), (lname));                                                  \
        CHECK_MSG(l_ != NULL, "layer %s missing", (lname));                                                  \
        if (l_) {                                                                                            \
            CHECK_MSG(l_->verdict == (verdict_), "%s: verdict %s", (lname), anet_cm_placement_name(l_->verdict)); \
            CHECK_MSG(l_->rule && strcmp(l_->rule->id, (rule_)) == 0, "%s: rule %s, want %s", (lname),      \
                      l_->rule ? l_->rule->id : "(none)", (rule_));                                          \
        }                                                                                                    \
    } while (0)

/* One NeuralNetwork model holding a single layer (plus its params), analysed. */
static anet_cm_model *one_layer(unsigned field, buf *params) {
    buf nn = {0}, m = {0};
    layer(&nn, "L", "x", NULL, "y", field, params);
    model(&m, 500, &nn, "x", "y");
    anet_cm_model *r = parse(&m, ANET_CHIP_STRICT);
    free(m.p);
    return r;
}

static void test_rules(void) {
    /* uniDirectionalLSTM 420, biDirectionalLSTM 430, gru 410 */
    unsigned rnns[] = {420, 430, 410, 400};
    for (int i = 0; i < 4; i++) {
        anet_cm_model *m = one_layer(rnns[i], NULL);
        EXPECT_LAYER(m, "L", ANET_CM_CPU, "nn-rnn");
        if (m) CHECK_EQ_INT(anet_coreml_compat(m), 2);
        anet_coreml_free(m);
    }
    anet_cm_model *m = one_layer(930, NULL); /* gather */
    EXPECT_LAYER(m, "L", ANET_CM_CPU, "nn-gather");
    anet_coreml_free(m);

    /* Convolution: kernelSize 20, stride 30, dilationFactor 40 */
    buf conv = {0};
    uint64_t k3[] = {3, 3}, d2[] = {2, 2}, d1[] = {1, 1};
    packed(&conv, 20, k3, 2);
    packed(&conv, 40, d2, 2);
    m = one_layer(100, &conv);
    EXPECT_LAYER(m, "L", ANET_CM_CPU, "nn-dilated-conv");
    if (m) {
        CHECK_EQ_INT(m->layers[0].nkernel, 2);
        CHECK_EQ_INT(m->layers[0].kernel[0], 3);
        CHECK_EQ_INT(m->layers[0].dilation[1], 2);
    }
    anet_coreml_free(m);
    packed(&conv, 20, k3, 2);
    packed(&conv, 40, d1, 2);
    m = one_layer(100, &conv);
    EXPECT_LAYER(m, "L", ANET_CM_ANE, "nn-layer-ok");
    if (m) CHECK_EQ_INT(anet_coreml_compat(m), 0);
    anet_coreml_free(m);
    /* Unpacked repeated fields are legal protobuf too: dilation (1, 4) one by one. */
    u64f(&conv, 40, 1);
    u64f(&conv, 40, 4);
    m = one_layer(100, &conv);
    EXPECT_LAYER(m, "L", ANET_CM_CPU, "nn-dilated-conv");
    anet_coreml_free(m);

    /* Pooling: kernelSize 10, stride 20, globalPooling 60 */
    buf pool = {0};
    uint64_t k15[] = {15, 15}, s1[] = {1, 1}, k2[] = {2, 2}, s3[] = {3, 3};
    packed(&pool, 10, k15, 2);
    packed(&pool, 20, s1, 2);
    m = one_layer(120, &pool);
    EXPECT_LAYER(m, "L", ANET_CM_CPU, "nn-pool-kernel-max-13");
    anet_coreml_free(m);
    packed(&pool, 10, k2, 2);
    packed(&pool, 20, s3, 2);
    m = one_layer(120, &pool);
    EXPECT_LAYER(m, "L", ANET_CM_CPU, "nn-pool-stride-max-2");
    anet_coreml_free(m);
    packed(&pool, 10, k2, 2);
    packed(&pool, 20, k2, 2);
    m = one_layer(120, &pool);
    EXPECT_LAYER(m, "L", ANET_CM_ANE, "nn-layer-ok");
    anet_coreml_free(m);
    packed(&pool, 10, k15, 2); /* global pooling ignores the kernel size */
    u64f(&pool, 60, 1);
    m = one_layer(120, &pool);
    EXPECT_LAYER(m, "L", ANET_CM_ANE, "nn-layer-ok");
    anet_coreml_free(m);

    /* Upsample: scalingFactor 1, fractionalScalingFactor 7 */
    buf up = {0};
    uint64_t x4[] = {4, 4}, x2[] = {2, 2};
    packed(&up, 1, x4, 2);
    m = one_layer(210, &up);
    EXPECT_LAYER(m, "L", ANET_CM_CPU, "nn-upsample-max-2");
    anet_coreml_free(m);
    packed(&up, 1, x2, 2);
    m = one_layer(210, &up);
    EXPECT_LAYER(m, "L", ANET_CM_ANE, "nn-layer-ok");
    anet_coreml_free(m);
    floatf32(&up, 7, 2.5f);
    floatf32(&up, 7, 2.5f);
    m = one_layer(210, &up);
    EXPECT_LAYER(m, "L", ANET_CM_CPU, "nn-upsample-max-2");
    anet_coreml_free(m);

    unsigned bcast[] = {880, 900, 905, 980, 950, 1070};
    for (int i = 0; i < 6; i++) {
        m = one_layer(bcast[i], NULL);
        EXPECT_LAYER(m, "L", ANET_CM_CPU, "nn-broadcastable-nd");
        anet_coreml_free(m);
    }
    buf cust = {0};
    strf(&cust, 10, "MyLayer"); /* CustomLayerParams.className 10 */
    m = one_layer(500, &cust);
    EXPECT_LAYER(m, "L", ANET_CM_CPU, "nn-custom-layer");
    if (m) CHECK_STR_CONTAINS(m->layers[0].detail, "MyLayer");
    anet_coreml_free(m);
    m = one_layer(150, NULL);
    EXPECT_LAYER(m, "L", ANET_CM_CPU, "nn-embedding");
    anet_coreml_free(m);
    m = one_layer(1025, NULL);
    EXPECT_LAYER(m, "L", ANET_CM_CPU, "nn-fp32-only");
    anet_coreml_free(m);
    m = one_layer(985, NULL); /* transpose: no report either way */
    EXPECT_LAYER(m, "L", ANET_CM_UNKNOWN, "nn-layer-unreported");
    if (m) CHECK_EQ_INT(anet_coreml_compat(m), 2); /* nothing likely on the ANE: not "partly" */
    anet_coreml_free(m);
}

/* Tensor{rank 1, dimValue 2} as the layer's outputTensor 5. */
static void test_shapes(void) {
    buf nn = {0}, l = {0}, t = {0}, mb = {0};
    uint64_t six[] = {1, 1, 2, 3, 4, 5};
    u64f(&t, 1, 6);
    packed(&t, 2, six, 6);
    strf(&l, 1, "R");
    strf(&l, 2, "x");
    strf(&l, 3, "y");
    msgf(&l, 5, &t);
    bytesf(&l, 300, "", 0); /* reshape */
    msgf(&nn, 1, &l);
    model(&mb, 500, &nn, "x", "y");
    anet_cm_model *m = parse(&mb, ANET_CHIP_STRICT);
    EXPECT_LAYER(m, "R", ANET_CM_CPU, "nn-rank-max-5");
    anet_coreml_free(m);
    free(mb.p);
    memset(&mb, 0, sizeof mb);

    /* Input feature [1, 16, 8, 20000]: W > 16384 */
    buf desc = {0}, nn2 = {0};
    uint64_t wide[] = {1, 16, 8, 20000};
    feature(&desc, 1, "x", wide, 4);
    layer(&nn2, "A", "x", NULL, "y", 130, NULL);
    u64f(&mb, 1, 1);
    msgf(&mb, 2, &desc);
    msgf(&mb, 500, &nn2);
    m = parse(&mb, ANET_CHIP_STRICT);
    EXPECT_LAYER(m, "A", ANET_CM_CPU, "nn-axis-range");
    if (m) CHECK_STR_CONTAINS(m->layers[0].detail, "20000");
    anet_coreml_free(m);
    free(mb.p);
}

/* conv -> LSTM -> activation: two segments, two switches, crossing tensors with shapes. */
static void test_segments(void) {
    buf nn = {0}, mb = {0};
    layer(&nn, "c1", "x", NULL, "h1", 100, NULL);
    layer(&nn, "a1", "h1", NULL, "h2", 130, NULL);
    layer(&nn, "rnn", "h2", NULL, "h3", 420, NULL);
    layer(&nn, "a2", "h3", "h1", "y", 230, NULL); /* add: also reads h1 from segment 1 */
    model(&mb, 500, &nn, "x", "y");
    anet_cm_model *m = parse(&mb, ANET_CHIP_STRICT);
    free(mb.p);
    if (!m) return;
    CHECK_EQ_INT(m->n_ane, 3);
    CHECK_EQ_INT(m->n_cpu, 1);
    CHECK_EQ_INT(m->switches, 2);
    CHECK_EQ_INT(m->nsegments, 2);
    CHECK_EQ_INT(anet_coreml_compat(m), 1);
    if (m->nsegments == 2) {
        const anet_cm_segment *s = &m->segments[0];
        CHECK_EQ_INT(s->first, 0);
        CHECK_EQ_INT(s->last, 1);
        CHECK_EQ_INT(s->ninputs, 1);
        if (s->ninputs == 1) {
            CHECK(strcmp(s->inputs[0].name, "x") == 0);
            CHECK_EQ_INT(s->inputs[0].shape.rank, 4);
            CHECK_EQ_INT(s->inputs[0].shape.dims[1], 16);
        }
        /* h1 (read by a2, outside) and h2 (read by rnn) leave segment 1. */
        CHECK_EQ_INT(s->noutputs, 2);
        s = &m->segments[1];
        CHECK_EQ_INT(s->first, 3);
        CHECK_EQ_INT(s->ninputs, 2);
        CHECK_EQ_INT(s->noutputs, 1);
        if (s->noutputs == 1) {
            CHECK(strcmp(s->outputs[0].name, "y") == 0);
            CHECK_EQ_INT(s->outputs[0].shape.dims[3], 8);
        }
    }
    anet_coreml_free(m);
}

/* Pipeline{models 1} holding an NN, a PipelineRegressor{pipeline 1: Pipeline} with an LSTM
 * model, and a tree ensemble (Model field 302). */
static void test_pipeline(void) {
    buf nn1 = {0}, m1 = {0}, nn2 = {0}, m2 = {0}, inner = {0}, preg = {0}, m3 = {0}, tree = {0}, m4 = {0};
    buf pipe = {0}, top = {0};
    layer(&nn1, "conv", "x", NULL, "h", 100, NULL);
    model(&m1, 500, &nn1, "x", "h");
    layer(&nn2, "lstm", "h", NULL, "z", 420, NULL);
    model(&m2, 403, &nn2, "h", "z"); /* NeuralNetworkClassifier */
    msgf(&inner, 1, &m2);
    msgf(&preg, 1, &inner);
    model(&m3, 201, &preg, "h", "z");
    model(&m4, 302, &tree, "z", "y");
    msgf(&pipe, 1, &m1);
    msgf(&pipe, 1, &m3);
    msgf(&pipe, 1, &m4);
    model(&top, 202, &pipe, "x", "y");
    anet_cm_model *m = parse(&top, ANET_CHIP_M1);
    free(top.p);
    if (!m) return;
    CHECK(strcmp(m->kind, "pipeline") == 0);
    CHECK_EQ_INT(m->nlayers, 3);
    EXPECT_LAYER(m, "conv", ANET_CM_ANE, "nn-layer-ok");
    EXPECT_LAYER(m, "lstm", ANET_CM_CPU, "nn-rnn");
    const anet_cm_layer *l = find_layer(m, "lstm");
    if (l) CHECK_STR_CONTAINS(l->model_path, "models[1]/models[0]");
    CHECK_EQ_INT(m->layers[2].verdict, ANET_CM_CPU);
    if (m->layers[2].rule) CHECK(strcmp(m->layers[2].rule->id, "nn-model-not-neural") == 0);
    CHECK_EQ_INT(m->nnotes, 1); /* the classifier's labels */
    anet_coreml_free(m);
}

/* ML Program (Model field 502): Program{functions 2: {key "main", value Function{inputs 1,
 * opset 2, block_specializations 3: {key, Block{outputs 2, operations 3}}}}}. */
static void nvt(buf *b, unsigned num, const char *name, uint64_t dtype, const uint64_t *dims, int rank) {
    buf tt = {0}, vt = {0}, nv = {0};
    u64f(&tt, 1, dtype);
    u64f(&tt, 2, (uint64_t)rank);
    for (int i = 0; i < rank; i++) {
        buf dim = {0}, cd = {0};
        u64f(&cd, 1, dims[i]);
        msgf(&dim, 1, &cd);
        msgf(&tt, 3, &dim);
    }
    msgf(&vt, 1, &tt);
    strf(&nv, 1, name);
    msgf(&nv, 2, &vt);
    msgf(b, num, &nv);
}
static void op_n(buf *block, const char *type, const char *name, const char *x, const char *y, const char *out,
                 uint64_t width) {
    buf o = {0};
    const char *keys[2] = {"x", "y"}, *vals[2] = {x, y};
    strf(&o, 1, type);
    for (int i = 0; i < 2; i++) {
        if (!vals[i]) continue;
        buf entry = {0}, arg = {0}, bind = {0};
        strf(&bind, 1, vals[i]);
        msgf(&arg, 1, &bind);
        strf(&entry, 1, keys[i]);
        msgf(&entry, 2, &arg);
        msgf(&o, 2, &entry);
    }
    uint64_t d[] = {1, width};
    nvt(&o, 3, out, 10, d, 2);
    /* attributes 5: {"name": Value{immediateValue 3: {tensor 1: {strings 4: {values 1}}}}} */
    buf entry = {0}, val = {0}, imm = {0}, tv = {0}, rs = {0};
    strf(&rs, 1, name);
    msgf(&tv, 4, &rs);
    msgf(&imm, 1, &tv);
    msgf(&val, 3, &imm);
    strf(&entry, 1, "name");
    msgf(&entry, 2, &val);
    msgf(&o, 5, &entry);
    msgf(block, 3, &o);
}
static void op(buf *block, const char *type, const char *name, const char *x, const char *y, const char *out) {
    op_n(block, type, name, x, y, out, 10);
}
/* ValueType{tensorType 1: TensorType{dataType 1, rank 2, dimensions 3}} */
static void value_type(buf *b, unsigned num, uint64_t dtype, const uint64_t *dims, int rank) {
    buf tt = {0}, vt = {0};
    u64f(&tt, 1, dtype);
    u64f(&tt, 2, (uint64_t)rank);
    for (int i = 0; i < rank; i++) {
        buf dim = {0}, cd = {0};
        u64f(&cd, 1, dims[i]);
        msgf(&dim, 1, &cd);
        msgf(&tt, 3, &dim);
    }
    msgf(&vt, 1, &tt);
    msgf(b, num, &vt);
}
/* const op "w" = BLOBFILE fp16 [1, 10]: attributes {"val": Value{type 2, blobFileValue 5}} */
static void blob_const_n(buf *block, uint64_t width) {
    buf o = {0}, entry = {0}, val = {0}, bf = {0};
    uint64_t d[] = {1, width};
    strf(&o, 1, "const");
    nvt(&o, 3, "w", 10, d, 2);
    value_type(&val, 2, 10, d, 2);
    strf(&bf, 1, "@model_path/weights/weight.bin");
    u64f(&bf, 2, 64);
    msgf(&val, 5, &bf);
    strf(&entry, 1, "val");
    msgf(&entry, 2, &val);
    msgf(&o, 5, &entry);
    msgf(block, 3, &o);
}
static void blob_const(buf *block) { blob_const_n(block, 10); }
/* add(x = a2, y = fp16 1.0 given inline: Binding.value 2 = Value{type, immediateValue{tensor{bytes 7}}}) */
static void add_immediate(buf *block) {
    buf o = {0}, e1 = {0}, a1 = {0}, b1 = {0}, e2 = {0}, a2 = {0}, b2 = {0}, val = {0}, imm = {0}, tv = {0}, rb = {0};
    uint64_t d[] = {1, 10};
    strf(&o, 1, "add");
    strf(&b1, 1, "a2");
    msgf(&a1, 1, &b1);
    strf(&e1, 1, "x");
    msgf(&e1, 2, &a1);
    msgf(&o, 2, &e1);
    value_type(&val, 2, 10, NULL, 0);
    uint8_t one[2] = {0x00, 0x3c}; /* fp16 1.0, little-endian */
    bytesf(&rb, 1, one, 2);
    msgf(&tv, 7, &rb);
    msgf(&imm, 1, &tv);
    msgf(&val, 3, &imm);
    msgf(&b2, 2, &val);
    msgf(&a2, 1, &b2);
    strf(&e2, 1, "y");
    msgf(&e2, 2, &a2);
    msgf(&o, 2, &e2);
    nvt(&o, 3, "a3", 10, d, 2);
    msgf(block, 3, &o);
}
static void test_mlprogram(void) {
    buf block = {0}, spec = {0}, fn = {0}, fentry = {0}, prog = {0}, top = {0};
    uint64_t d[] = {1, 10};
    op(&block, "mul", "m0", "x", "x", "a");
    blob_const(&block);
    op(&block, "mul", "k0", "a", "w", "a2");
    add_immediate(&block);
    op(&block, "gelu", "g0", "a3", NULL, "b");
    op(&block, "frobnicate", "f0", "b", NULL, "c");
    /* relu declared with an fp64 output: a dtype the IR does not hold -> unknown */
    {
        buf o = {0}, e = {0}, a = {0}, bb = {0};
        strf(&o, 1, "relu");
        strf(&bb, 1, "c");
        msgf(&a, 1, &bb);
        strf(&e, 1, "x");
        msgf(&e, 2, &a);
        msgf(&o, 2, &e);
        nvt(&o, 3, "r", 12, d, 2);
        msgf(&block, 3, &o);
    }
    /* relu declared with a rank-6 output: the rank rule holds on any path -> cpu */
    {
        buf o = {0}, e = {0}, a = {0}, bb = {0};
        uint64_t d6[] = {1, 1, 1, 1, 2, 5};
        strf(&o, 1, "relu");
        strf(&bb, 1, "c");
        msgf(&a, 1, &bb);
        strf(&e, 1, "x");
        msgf(&e, 2, &a);
        msgf(&o, 2, &e);
        nvt(&o, 3, "q", 10, d6, 6);
        msgf(&block, 3, &o);
    }
    strf(&block, 2, "q");
    nvt(&fn, 1, "x", 10, d, 2);
    strf(&fn, 2, "CoreML5");
    strf(&spec, 1, "CoreML5");
    msgf(&spec, 2, &block);
    msgf(&fn, 3, &spec);
    strf(&fentry, 1, "main");
    msgf(&fentry, 2, &fn);
    u64f(&prog, 1, 1);
    msgf(&prog, 2, &fentry);
    model(&top, 502, &prog, "x", "c");
    anet_cm_model *m = NULL;
    dump(&top);
    anet_status st = anet_coreml_parse_mlmodel(top.p, top.n, NULL, 0, "prog.mlmodel", &m);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    if (m) {
        CHECK(strcmp(m->kind, "mlProgram") == 0);
        CHECK_EQ_INT(m->nlayers, 7); /* the const is a parameter, not a layer */
        const anet_cm_layer *l = find_layer(m, "m0");
        CHECK(l && strcmp(l->type, "mul") == 0 && l->ninputs == 2 && l->out_shapes[0].rank == 2 &&
              l->out_shapes[0].dims[1] == 10);
        /* Core ML placement rules (the default for a Core ML file). */
        st = anet_coreml_analyze(m, ANET_CHIP_STRICT);
        CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
        CHECK_EQ_INT(m->rules, ANET_CM_RULES_COREML);
        EXPECT_LAYER(m, "m0", ANET_CM_ANE, "nn-layer-ok");
        EXPECT_LAYER(m, "k0", ANET_CM_ANE, "nn-layer-ok");
        EXPECT_LAYER(m, "g0", ANET_CM_UNKNOWN, "nn-layer-unreported"); /* gelu: no report either way */
        EXPECT_LAYER(m, "f0", ANET_CM_UNKNOWN, "coreml-op-not-public");
        EXPECT_LAYER(m, "r", ANET_CM_CPU, "coreml-fp32-compute");       /* fp64 output */
        EXPECT_LAYER(m, "q", ANET_CM_CPU, "nn-rank-max-5");
        /* The private API's in-memory compile rules, asked for explicitly: their failures are cpu. */
        m->rules = ANET_CM_RULES_PRIVATE;
        st = anet_coreml_analyze(m, ANET_CHIP_STRICT);
#if ANET_CM_HAVE_PLAN_CHECK && ANET_CM_HAVE_IR
        CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
        EXPECT_LAYER(m, "m0", ANET_CM_ANE, "mil-op-ok");
        EXPECT_LAYER(m, "k0", ANET_CM_ANE, "mil-op-ok"); /* BLOBFILE weight modeled as a const */
        EXPECT_LAYER(m, "a3", ANET_CM_ANE, "mil-op-ok"); /* inline fp16 scalar */
        EXPECT_LAYER(m, "g0", ANET_CM_CPU, "op-rejected-gelu");
        EXPECT_LAYER(m, "f0", ANET_CM_CPU, "op-unknown");
        EXPECT_LAYER(m, "r", ANET_CM_UNKNOWN, "mil-op-unmodeled");
        EXPECT_LAYER(m, "q", ANET_CM_CPU, "rank-max-5");
        CHECK_EQ_INT(m->n_cpu, 3);
        CHECK_EQ_INT(anet_coreml_compat(m), 1);
        CHECK_EQ_INT(m->n_ane, 3);
        CHECK_EQ_INT(m->nsegments, 1);
        if (m->nsegments == 1) {
            CHECK_EQ_INT(m->segments[0].last, 2);
            CHECK_EQ_INT(m->segments[0].ninputs, 1); /* x; w is a parameter */
        }
#else
        /* Without the constraint table the ops are not judged: a clear refusal, no guess. */
        CHECK_EQ_INT(st, ANET_E_UNSUPPORTED);
        CHECK_STR_CONTAINS(anet_last_error(), "constraint table");
#endif
    }
    anet_coreml_free(m);
    free(top.p);
}

/* An ML Program x[1, n] * w[1, n] (w in a BLOBFILE) as a Model message. */
static void wide_program(buf *top, uint64_t n) {
    buf block = {0}, spec = {0}, fn = {0}, fentry = {0}, prog = {0};
    uint64_t d[] = {1, n};
    blob_const_n(&block, n);
    op_n(&block, "mul", "k0", "x", "w", "a", n);
    strf(&block, 2, "a");
    nvt(&fn, 1, "x", 10, d, 2);
    strf(&fn, 2, "CoreML6");
    strf(&spec, 1, "CoreML6");
    msgf(&spec, 2, &block);
    msgf(&fn, 3, &spec);
    strf(&fentry, 1, "main");
    msgf(&fentry, 2, &fn);
    msgf(&prog, 2, &fentry);
    u64f(top, 1, 7);
    msgf(top, 502, &prog);
}

static anet_status parse_only(const uint8_t *p, size_t n) {
    anet_cm_model *m = NULL;
    anet_status st = anet_coreml_parse_mlmodel(p, n, NULL, 0, "bad.mlmodel", &m);
    if (st == ANET_OK) {
        anet_coreml_analyze(m, ANET_CHIP_STRICT);
        anet_coreml_free(m);
    }
    return st;
}

static void test_malformed(void) {
    buf nn = {0}, mb = {0};
    uint64_t k[] = {3, 3};
    buf conv = {0};
    packed(&conv, 20, k, 2);
    layer(&nn, "c", "x", NULL, "y", 100, &conv);
    model(&mb, 500, &nn, "x", "y");
    /* Every truncation: an error or (where the cut falls between fields) a smaller model. */
    int errors = 0;
    for (size_t n = 0; n < mb.n; n++) errors += parse_only(mb.p, n) != ANET_OK;
    CHECK(errors > (int)mb.n / 2);
    CHECK_EQ_INT(parse_only(mb.p, 0), ANET_E_FORMAT);
    CHECK_EQ_INT(parse_only(mb.p, mb.n - 1), ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "bad.mlmodel");
    /* Wrong wire type: neuralNetwork 500 as a varint. */
    buf w = {0};
    u64f(&w, 1, 4);
    u64f(&w, 500, 7);
    CHECK_EQ_INT(parse_only(w.p, w.n), ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "wire type");
    /* Length past the end. */
    buf L = {0};
    key(&L, 500, 2);
    varint(&L, 1000);
    put(&L, "abc", 3);
    CHECK_EQ_INT(parse_only(L.p, L.n), ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "past the end");
    /* Length field of 2^63: no overflow in the bounds check. */
    buf H = {0};
    key(&H, 2, 2);
    varint(&H, (uint64_t)1 << 63);
    CHECK_EQ_INT(parse_only(H.p, H.n), ANET_E_FORMAT);
    /* Overlong varint. */
    uint8_t ov[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    CHECK_EQ_INT(parse_only(ov, sizeof ov), ANET_E_FORMAT);
    /* Deep nesting: Pipeline{models: Model{pipeline: ...}} 5000 levels, built inside out. */
    buf deep = {0};
    layer(&deep, "c", "x", NULL, "y", 100, NULL);
    buf cur = {0};
    msgf(&cur, 500, &deep);
    for (int i = 0; i < 5000; i++) {
        buf pipe = {0}, mm = {0};
        msgf(&pipe, 1, &cur);
        msgf(&mm, 202, &pipe);
        cur = mm;
    }
    CHECK_EQ_INT(parse_only(cur.p, cur.n), ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "nested deeper");
    free(cur.p);
    /* Deep nesting inside an ML Program: Operation.blocks 4 -> Block.operations 3 -> ... */
    {
        buf opm = {0};
        strf(&opm, 1, "relu");
        for (int i = 0; i < 200; i++) {
            buf blk = {0}, outer = {0};
            msgf(&blk, 3, &opm);
            strf(&outer, 1, "cond");
            msgf(&outer, 4, &blk);
            opm = outer;
        }
        buf block = {0}, spec = {0}, fn = {0}, fentry = {0}, prog = {0}, top = {0};
        msgf(&block, 3, &opm);
        strf(&spec, 1, "CoreML5");
        msgf(&spec, 2, &block);
        msgf(&fn, 3, &spec);
        strf(&fentry, 1, "main");
        msgf(&fentry, 2, &fn);
        msgf(&prog, 2, &fentry);
        msgf(&top, 502, &prog);
        CHECK_EQ_INT(parse_only(top.p, top.n), ANET_E_FORMAT);
        CHECK_STR_CONTAINS(anet_last_error(), "nested deeper");
        free(top.p);
    }
    /* Random bytes: never a crash (ASan/UBSan builds check memory). */
    uint64_t s = 0x9e3779b97f4a7c15ull;
    uint8_t rnd[512];
    for (int it = 0; it < 2000; it++) {
        size_t n = (size_t)(it % 512);
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            rnd[i] = (uint8_t)s;
        }
        if (n > 2 && it % 3 == 0) rnd[0] = 0x08, rnd[1] = 0x04; /* plausible start */
        parse_only(rnd, n);
    }
    /* Mutations of a valid model: flip each byte. */
    for (size_t i = 0; i < mb.n; i++) {
        uint8_t *c = malloc(mb.n);
        memcpy(c, mb.p, mb.n);
        c[i] ^= 0xA5;
        parse_only(c, mb.n);
        free(c);
    }
    free(w.p);
    free(L.p);
    free(H.p);
    free(mb.p);
}

static void write_file(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot write %s", path);
    if (!f) return;
    fwrite(d, 1, n, f);
    fclose(f);
}

static void test_files(void) {
    char dir[] = "/tmp/anet_coreml_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    char p[256], q[512];
    anet_cm_model *m = NULL;
    /* A directory that is no bundle. */
    CHECK_EQ_INT(anet_coreml_load(dir, &m), ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "not a Core ML bundle");
    /* Missing file. */
    snprintf(p, sizeof p, "%s/missing.mlmodel", dir);
    CHECK_EQ_INT(anet_coreml_load(p, &m), ANET_E_IO);
    /* 0-byte file. */
    snprintf(p, sizeof p, "%s/empty.mlmodel", dir);
    write_file(p, "", 0);
    CHECK_EQ_INT(anet_coreml_load(p, &m), ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "empty");
    /* A .mlpackage: Manifest.json + Data/com.apple.CoreML/model.mlmodel */
    buf nn = {0}, mb = {0};
    layer(&nn, "lstm", "x", NULL, "y", 420, NULL);
    model(&mb, 500, &nn, "x", "y");
    snprintf(p, sizeof p, "%s/m.mlpackage", dir);
    mkdir(p, 0755);
    snprintf(q, sizeof q, "%s/Data", p), mkdir(q, 0755);
    snprintf(q, sizeof q, "%s/Data/com.apple.CoreML", p), mkdir(q, 0755);
    snprintf(q, sizeof q, "%s/Data/com.apple.CoreML/model.mlmodel", p);
    write_file(q, mb.p, mb.n);
    snprintf(q, sizeof q, "%s/Manifest.json", p);
    const char *manifest =
        "{\"fileFormatVersion\": \"1.0.0\", \"itemInfoEntries\": {\"ABC\": {\"author\": \"com.apple.CoreML\","
        " \"description\": \"CoreML Model Specification\", \"name\": \"model.mlmodel\","
        " \"path\": \"com.apple.CoreML/model.mlmodel\"}}, \"rootModelIdentifier\": \"ABC\"}";
    write_file(q, manifest, strlen(manifest));
    anet_status st = anet_coreml_load(p, &m);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    if (m) {
        CHECK(strcmp(m->format, "mlpackage") == 0);
        CHECK(anet_coreml_analyze(m, ANET_CHIP_M2) == ANET_OK);
        EXPECT_LAYER(m, "lstm", ANET_CM_CPU, "nn-rnn");
        anet_coreml_free(m);
        m = NULL;
    }
    /* An ML Program package whose 20 KB BLOBFILE weight is modeled only because the package's
     * weight file is that large: the stand-in weights are bounded by the input. */
    buf wp = {0};
    wide_program(&wp, 10000);
    snprintf(q, sizeof q, "%s/Data/com.apple.CoreML/model.mlmodel", p);
    write_file(q, wp.p, wp.n);
    m = NULL;
    CHECK(anet_coreml_parse_mlmodel(wp.p, wp.n, NULL, 0, "wide", &m) == ANET_OK);
    if (m) {
        m->rules = ANET_CM_RULES_PRIVATE;
        CHECK(anet_coreml_analyze(m, ANET_CHIP_M4) == ANET_OK);
        EXPECT_LAYER(m, "k0", ANET_CM_UNKNOWN, "mil-op-unmodeled"); /* no weight file: not modeled */
        m->rules = ANET_CM_RULES_COREML; /* the Core ML rules decide from shapes, without weights */
        CHECK(anet_coreml_analyze(m, ANET_CHIP_M4) == ANET_OK);
        EXPECT_LAYER(m, "k0", ANET_CM_ANE, "nn-layer-ok");
        anet_coreml_free(m);
        m = NULL;
    }
    snprintf(q, sizeof q, "%s/Data/com.apple.CoreML/weights", p), mkdir(q, 0755);
    snprintf(q, sizeof q, "%s/Data/com.apple.CoreML/weights/weight.bin", p);
    {
        uint8_t *zeros = calloc(1, 20160);
        write_file(q, zeros, 20160);
        free(zeros);
    }
    snprintf(q, sizeof q, "%s/Manifest.json", p);
    st = anet_coreml_load(p, &m);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    if (m) {
        m->rules = ANET_CM_RULES_PRIVATE;
        CHECK(anet_coreml_analyze(m, ANET_CHIP_M4) == ANET_OK);
        EXPECT_LAYER(m, "k0", ANET_CM_ANE, "mil-op-ok");
        CHECK(anet_coreml_analyze(m, ANET_CHIP_M1) == ANET_OK); /* ios16 dialect, mul: fine on M1 */
        EXPECT_LAYER(m, "k0", ANET_CM_ANE, "mil-op-ok");
        anet_coreml_free(m);
        m = NULL;
    }
    /* A 2 GiB *sparse* weight file holds almost nothing: it must not buy a 2 GB budget for the
     * stand-in weights (issue 16 #2), so the 20 KB weight is not modeled again. */
    snprintf(q, sizeof q, "%s/Data/com.apple.CoreML/weights/weight.bin", p);
    {
        FILE *wf = fopen(q, "wb");
        CHECK(wf && ftruncate(fileno(wf), (off_t)1 << 31) == 0);
        if (wf) fclose(wf);
    }
    st = anet_coreml_load(p, &m);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    if (m) {
        m->rules = ANET_CM_RULES_PRIVATE;
        CHECK(anet_coreml_analyze(m, ANET_CHIP_M4) == ANET_OK);
        EXPECT_LAYER(m, "k0", ANET_CM_UNKNOWN, "mil-op-unmodeled");
        anet_coreml_free(m);
        m = NULL;
    }
    snprintf(q, sizeof q, "%s/Manifest.json", p);
    free(wp.p);
    /* A manifest pointing outside the package is refused. */
    const char *evil = "{\"itemInfoEntries\": {\"A\": {\"path\": \"../../etc/passwd\"}}, \"rootModelIdentifier\": \"A\"}";
    write_file(q, evil, strlen(evil));
    CHECK_EQ_INT(anet_coreml_load(p, &m), ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "leaves the package");
    write_file(q, "{not json", 9);
    CHECK_EQ_INT(anet_coreml_load(p, &m), ANET_E_FORMAT);
    /* A compiled NeuralNetwork bundle without model.mil: unsupported, said clearly. */
    snprintf(p, sizeof p, "%s/nn.mlmodelc", dir);
    mkdir(p, 0755);
    snprintf(q, sizeof q, "%s/coremldata.bin", p);
    write_file(q, "x", 1);
    CHECK_EQ_INT(anet_coreml_load(p, &m), ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "model.espresso.net");
    /* MIL text (.mil), as `ane_trainer compile` writes it: gelu is rejected, relu passes. */
    snprintf(p, sizeof p, "%s/prog.mil", dir);
    const char *mil =
        "program(1.3)\n"
        "[buildInfo = dict<string, string>({{\"coremlc-version\", \"3505.4.1\"}})]\n"
        "{\n"
        "    func main<ios18>(tensor<fp16, [1, 64, 1, 32]> x) {\n"
        "            tensor<fp16, [1, 64, 1, 32]> y = relu(x = x)[name = string(\"y\")];\n"
        "            tensor<fp16, [1, 64, 1, 32]> z = gelu(x = y)[name = string(\"z\")];\n"
        "        } -> (z);\n"
        "}\n";
    write_file(p, mil, strlen(mil));
    st = anet_coreml_load(p, &m);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    if (m) {
        CHECK(strcmp(m->format, "mil") == 0);
        CHECK(anet_coreml_analyze(m, ANET_CHIP_M4) == ANET_OK);
        CHECK_EQ_INT(m->nlayers, 2);
        EXPECT_LAYER(m, "y", ANET_CM_ANE, "mil-op-ok");
        EXPECT_LAYER(m, "z", ANET_CM_CPU, "op-rejected-gelu");
        CHECK_EQ_INT(m->nsegments, 1);
        if (m->nsegments == 1 && m->segments[0].noutputs == 1) {
            CHECK(strcmp(m->segments[0].outputs[0].name, "y") == 0);
            CHECK_EQ_INT(m->segments[0].outputs[0].shape.dims[1], 64);
        }
        anet_coreml_free(m);
        m = NULL;
    }
    /* Broken MIL text: a format error naming the file. */
    write_file(p, mil, 60);
    CHECK_EQ_INT(anet_coreml_load(p, &m), ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "prog.mil");
    free(mb.p);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static anet_cm_model *load_fixture(const char *name, anet_chip chip) {
    char p[1024];
    snprintf(p, sizeof p, "%s/fixtures/coreml/%s", ANET_SHARED_DIR, name);
    anet_cm_model *m = NULL;
    anet_status st = anet_coreml_load(p, &m);
    CHECK_MSG(st == ANET_OK, "%s: %s", name, anet_last_error());
    if (st != ANET_OK) return NULL;
    st = anet_coreml_analyze(m, chip);
    CHECK_MSG(st == ANET_OK, "%s: %s", name, anet_last_error());
    return m;
}

static void test_fixtures(void) {
    /* Image2Image: one linear activation, image in, image out: fully compatible. */
    anet_cm_model *m = load_fixture("Image2Image.mlmodel", ANET_CHIP_STRICT);
    if (m) {
        CHECK_EQ_INT(m->nlayers, 1);
        CHECK(strcmp(m->layers[0].type, "activation") == 0);
        CHECK(m->layers[0].subtype && strcmp(m->layers[0].subtype, "linear") == 0);
        CHECK_EQ_INT(anet_coreml_compat(m), 0);
        CHECK_EQ_INT(m->ninputs, 1);
        if (m->ninputs) CHECK_EQ_INT(m->inputs[0].shape.dims[3], 256);
    }
    anet_coreml_free(m);
    /* mnistCNN: 3 x (conv, relu, max pool), flatten, 2 innerProduct, softmax (README). */
    m = load_fixture("mnistCNN.mlmodel", ANET_CHIP_STRICT);
    if (m) {
        int conv = 0, pool = 0, ip = 0, act = 0, flat = 0, soft = 0;
        for (int i = 0; i < m->nlayers; i++) {
            const char *t = m->layers[i].type;
            conv += strcmp(t, "convolution") == 0;
            pool += strcmp(t, "pooling") == 0 && m->layers[i].subtype && strcmp(m->layers[i].subtype, "max") == 0;
            ip += strcmp(t, "innerProduct") == 0;
            act += strcmp(t, "activation") == 0;
            flat += strcmp(t, "flatten") == 0;
            soft += strcmp(t, "softmax") == 0;
        }
        CHECK_EQ_INT(conv, 3);
        CHECK_EQ_INT(pool, 3);
        CHECK_EQ_INT(ip, 2);
        CHECK(act >= 3);
        CHECK_EQ_INT(flat, 1);
        CHECK_EQ_INT(soft, 1);
        CHECK(strcmp(m->kind, "neuralNetworkClassifier") == 0);
        CHECK_EQ_INT(anet_coreml_compat(m), 0);
        CHECK_EQ_INT(m->nsegments, 1);
        CHECK_EQ_INT(m->switches, 0);
    }
    anet_coreml_free(m);
    /* lstsq-custom: transpose, then a custom layer: not fully compatible, custom flagged. */
    m = load_fixture("lstsq-custom.mlmodel", ANET_CHIP_STRICT);
    if (m) {
        CHECK(anet_coreml_compat(m) != 0);
        CHECK_EQ_INT(m->spec_version, 4);
        int found = 0;
        for (int i = 0; i < m->nlayers; i++)
            if (strcmp(m->layers[i].type, "custom") == 0) {
                found = 1;
                CHECK_EQ_INT(m->layers[i].verdict, ANET_CM_CPU);
                CHECK(m->layers[i].rule && strcmp(m->layers[i].rule->id, "nn-custom-layer") == 0);
            }
        CHECK(found);
    }
    anet_coreml_free(m);
    /* add_model.mlmodelc: a compiled ML Program with one fp16 mul: fully compatible. */
#if ANET_CM_HAVE_MIL_PARSER && ANET_CM_HAVE_IR && ANET_CM_HAVE_PLAN_CHECK
    m = load_fixture("add_model.mlmodelc", ANET_CHIP_STRICT);
    if (m) {
        CHECK_EQ_INT(m->nlayers, 1);
        CHECK(strcmp(m->layers[0].type, "mul") == 0);
        CHECK_EQ_INT(anet_coreml_compat(m), 0);
    }
    anet_coreml_free(m);
#else
    {
        char p[1024];
        snprintf(p, sizeof p, "%s/fixtures/coreml/add_model.mlmodelc", ANET_SHARED_DIR);
        m = NULL;
        CHECK_EQ_INT(anet_coreml_load(p, &m), ANET_E_UNSUPPORTED);
        CHECK_STR_CONTAINS(anet_last_error(), "MIL parser");
    }
#endif
}

/* ---- check --on-device: the merge of the OS's plan with our verdicts (a fake seam) ---- */

typedef struct fake_os {
    const char *const *rows; /* model_path, name, type, preferred device, supported mask: 5 per entry */
    int n;
    anet_status fail;  /* returned instead of a plan when not ANET_OK */
    int calls;
    char path[512];
} fake_os;

static anet_status fake_query(void *ctx, const char *path, anet_cp_plan *out) {
    fake_os *f = ctx;
    f->calls++;
    snprintf(f->path, sizeof f->path, "%s", path);
    if (f->fail != ANET_OK) return anet_fail(f->fail, "%s: fake OS refuses", path);
    for (int i = 0; i < f->n; i++) {
        const char *const *r = &f->rows[5 * i];
        anet_status st = anet_cp_plan_add(out, r[0], r[1], r[2], atoi(r[3]), (unsigned)atoi(r[4]));
        if (st != ANET_OK) return st;
    }
    return ANET_OK;
}

static const anet_cm_layer *layer_at(const anet_cm_model *m, const char *name) { return find_layer(m, name); }

static void test_on_device(void) {
    /* NeuralNetwork: conv (ours ane), lstm (ours cpu), transpose (ours unknown), relu (ours ane). */
    buf nn = {0}, mb = {0};
    layer(&nn, "conv", "x", NULL, "c", 100, NULL);
    layer(&nn, "lstm", "c", NULL, "l", 420, NULL);
    layer(&nn, "tr", "l", NULL, "t", 1045, NULL);
    layer(&nn, "relu", "t", NULL, "y", 130, NULL);
    model(&mb, 500, &nn, "x", "y");
    anet_cm_model *m = parse(&mb, ANET_CHIP_STRICT);
    if (m) {
        EXPECT_LAYER(m, "conv", ANET_CM_ANE, "nn-layer-ok");
        EXPECT_LAYER(m, "lstm", ANET_CM_CPU, "nn-rnn");
        CHECK_EQ_INT(anet_coreml_compat(m), 1);
        /* The OS: conv on the GPU (a disagreement), lstm on the CPU (agrees), tr on the ANE
         * (ours unknown: resolved, no disagreement), relu not listed, one layer we lack. */
        char ane[8], cpu[8], gpu[8], sup_all[8], sup_cg[8];
        snprintf(ane, sizeof ane, "%d", ANET_CP_ANE);
        snprintf(cpu, sizeof cpu, "%d", ANET_CP_CPU);
        snprintf(gpu, sizeof gpu, "%d", ANET_CP_GPU);
        snprintf(sup_all, sizeof sup_all, "%u", (1u << ANET_CP_ANE) | (1u << ANET_CP_CPU) | (1u << ANET_CP_GPU));
        snprintf(sup_cg, sizeof sup_cg, "%u", (1u << ANET_CP_CPU) | (1u << ANET_CP_GPU));
        const char *rows[] = {"", "lstm", "uniDirectionalLSTM", cpu, sup_cg,   "", "conv", "convolution", gpu, sup_all,
                              "", "tr", "transpose", ane, sup_all,           "", "ghost", "activation", cpu, sup_cg};
        fake_os f = {rows, 4, ANET_OK, 0, ""};
        anet_cp_seam seam = {"fake", fake_query, &f};
        CHECK(anet_cm_on_device(m, &seam) == ANET_OK);
        CHECK_EQ_INT(f.calls, 1);
        CHECK(strcmp(f.path, "test.mlmodel") == 0);
        CHECK(m->on_device);
        const anet_cm_layer *l = layer_at(m, "conv");
        if (l) {
            CHECK_EQ_INT(l->os_device, ANET_CP_GPU);
            CHECK_EQ_INT(l->os_mismatch, 1);
            CHECK_EQ_INT((int)l->os_supported, atoi(sup_all));
        }
        if ((l = layer_at(m, "lstm"))) CHECK(l->os_device == ANET_CP_CPU && !l->os_mismatch);
        if ((l = layer_at(m, "tr"))) CHECK(l->os_device == ANET_CP_ANE && !l->os_mismatch);
        if ((l = layer_at(m, "relu"))) CHECK(l->os_device == ANET_CP_NONE && !l->os_mismatch);
        CHECK_EQ_INT(m->os_ane, 1);
        CHECK_EQ_INT(m->os_cpu, 1);
        CHECK_EQ_INT(m->os_gpu, 1);
        CHECK_EQ_INT(m->os_unreported, 1);
        CHECK_EQ_INT(m->os_mismatches, 1);
        CHECK_EQ_INT(m->os_extra, 1);
        /* The OS decides: tr and relu (ours, unreported) on the ANE, conv and lstm off it. */
        CHECK_EQ_INT(anet_coreml_compat(m), 1);
        /* If the OS puts every layer on the CPU/GPU, the model is "not at all". */
        const char *rows2[] = {"", "conv", "c", cpu, "0", "", "lstm", "l", cpu, "0", "", "tr", "t", gpu, "0",
                               "", "relu", "r", cpu, "0"};
        fake_os f2 = {rows2, 4, ANET_OK, 0, ""};
        seam.ctx = &f2;
        CHECK(anet_cm_on_device(m, &seam) == ANET_OK);
        CHECK_EQ_INT(m->os_mismatches, 2); /* conv and relu: ours ane */
        CHECK_EQ_INT(anet_coreml_compat(m), 2);
        /* JSON carries both placements. */
        cJSON *j = anet_coreml_report_json(m);
        char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
        CHECK(txt && strstr(txt, "\"on_device\":{\"preferred\":\"gpu\"") && strstr(txt, "\"mismatches\":2"));
        free(txt);
        cJSON_Delete(j);
        /* A failing OS query is passed on, with its message. */
        fake_os f3 = {NULL, 0, ANET_E_FORMAT, 0, ""};
        seam.ctx = &f3;
        CHECK_EQ_INT(anet_cm_on_device(m, &seam), ANET_E_FORMAT);
        CHECK_STR_CONTAINS(anet_last_error(), "fake OS refuses");
        anet_coreml_free(m);
    }
    free(mb.p);
#if !defined(__APPLE__)
    anet_cp_seam os;
    CHECK_EQ_INT(anet_cp_seam_os(&os), ANET_E_UNSUPPORTED);
    CHECK_STR_CONTAINS(anet_last_error(), "macOS 14.4");
#endif
    /* ML Program ops are matched by their first output (the OS's structure has no op names). */
    char dir[] = "/tmp/anet_ondev_XXXXXX";
    if (!mkdtemp(dir)) return;
    char p[256], q[300];
    snprintf(p, sizeof p, "%s/m.mlmodelc", dir);
    mkdir(p, 0755);
    snprintf(q, sizeof q, "%s/model.mil", p);
    const char *mil = "program(1.3)\n{\n    func main<ios18>(tensor<fp16, [1, 8, 1, 4]> x) {\n"
                      "            tensor<fp16, [1, 8, 1, 4]> y = relu(x = x)[name = string(\"relu_0\")];\n"
                      "            tensor<fp16, [1, 8, 1, 4]> z = exp(x = y)[name = string(\"exp_0\")];\n"
                      "        } -> (z);\n}\n";
    write_file(q, mil, strlen(mil));
    m = NULL;
    anet_status st = anet_coreml_load(p, &m);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    if (m) {
        CHECK(anet_coreml_analyze(m, ANET_CHIP_M4) == ANET_OK);
        char ane[8], cpu[8];
        snprintf(ane, sizeof ane, "%d", ANET_CP_ANE);
        snprintf(cpu, sizeof cpu, "%d", ANET_CP_CPU);
        const char *rows[] = {"", "y", "relu", ane, "0", "", "z", "exp", cpu, "0"};
        fake_os f = {rows, 2, ANET_OK, 0, ""};
        anet_cp_seam seam = {"fake", fake_query, &f};
        CHECK(anet_cm_on_device(m, &seam) == ANET_OK);
        const anet_cm_layer *l = layer_at(m, "relu_0");
        CHECK(l && l->os_device == ANET_CP_ANE && !l->os_mismatch);
        l = layer_at(m, "exp_0");
        CHECK(l && l->os_device == ANET_CP_CPU && l->os_mismatch);
        CHECK_EQ_INT(m->os_extra, 0);
        anet_coreml_free(m);
    }
    /* Our own MIL text cannot be planned by Core ML: refused as a usage problem, no query. */
    snprintf(q, sizeof q, "%s/prog.mil", dir);
    write_file(q, mil, strlen(mil));
    m = NULL;
    if (anet_coreml_load(q, &m) == ANET_OK && anet_coreml_analyze(m, ANET_CHIP_M4) == ANET_OK) {
        fake_os f = {NULL, 0, ANET_OK, 0, ""};
        anet_cp_seam seam = {"fake", fake_query, &f};
        CHECK_EQ_INT(anet_cm_on_device(m, &seam), ANET_E_INVALID);
        CHECK_EQ_INT(f.calls, 0);
    } else {
        CHECK_MSG(0, "prog.mil: %s", anet_last_error());
    }
    anet_coreml_free(m);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* ---- checkpoints and model specs: the trainer's step programs ---- */

static int count_type(const anet_cm_model *m, const char *path, const char *type, anet_cm_placement v, const char *rule,
                      int *total) {
    int n = 0, all = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const anet_cm_layer *l = &m->layers[i];
        if (strcmp(l->model_path, path) != 0 || strcmp(l->type, type) != 0) continue;
        all++;
        n += l->verdict == v && l->rule && strcmp(l->rule->id, rule) == 0;
    }
    *total = all;
    return n;
}

static void write_ckpt(const char *p, const char *spec, const char *chip, int rows0, int cols0, int rows1) {
    static float zeros[256];
    anet_ckpt_tensor t[4];
    memset(t, 0, sizeof t);
    const char *names[4] = {"w0", "b0", "w1", "b1"};
    int r[4] = {rows0, rows0, rows1, rows1}, c[4] = {cols0, 0, rows0, 0};
    for (int i = 0; i < 4; i++) {
        snprintf(t[i].name, sizeof t[i].name, "%s", names[i]);
        t[i].dtype = ANET_DT_FP32;
        t[i].rank = c[i] ? 2 : 1;
        t[i].dims[0] = r[i];
        t[i].dims[1] = c[i];
        t[i].data = zeros;
        t[i].nbytes = (size_t)r[i] * (size_t)(c[i] ? c[i] : 1) * sizeof(float);
    }
    anet_ckpt_meta meta[] = {{"model", (char *)spec}, {"chip", (char *)chip}, {"batch_size", "16"},
                             {"update", "cpu"},       {"optimizer", "sgd"}};
    CHECK_MSG(anet_ckpt_write(p, t, 4, meta, chip ? 5 : 1) == ANET_OK, "%s", anet_last_error());
}

static void test_training(void) {
    char dir[] = "/tmp/anet_cmtrain_XXXXXX";
    if (!mkdtemp(dir)) return;
    char p[256];
    snprintf(p, sizeof p, "%s/run.safetensors", dir);
    /* mlp:6-5-4 (L = 2 Linear layers), trained for m1. */
    write_ckpt(p, "mlp:6-5-4", "m1", 5, 6, 4);
    anet_cm_model *m = NULL;
    anet_status st = anet_coreml_load(p, &m);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    if (m) {
        CHECK(strcmp(m->format, "checkpoint") == 0);
        CHECK(m->private_path && m->has_chip_hint && m->chip_hint == ANET_CHIP_M1);
        CHECK_EQ_INT(m->ngraphs, 2);
        CHECK(anet_coreml_analyze(m, m->chip_hint) == ANET_OK);
        /* Weights are inputs, so every matmul has two non-constant operands. The programs take
         * the chip's form (contractions padded to multiples of 32, biases as a matmul with a
         * ones block: 2 matmuls per Linear layer forward), which is imperatormk's M1 form: on m1
         * every matmul is eligible; the strict profile keeps the M4-only reading (cpu). */
        int total = 0;
        CHECK_EQ_INT(count_type(m, "eval", "matmul", ANET_CM_ANE, "mil-op-ok", &total), 4);
        CHECK_EQ_INT(total, 4);
        CHECK_EQ_INT(count_type(m, "train", "matmul", ANET_CM_ANE, "mil-op-ok", &total), total);
        CHECK(total >= 9);
        int train_mm = total;
        CHECK(anet_coreml_analyze(m, ANET_CHIP_STRICT) == ANET_OK);
        CHECK_EQ_INT(count_type(m, "eval", "matmul", ANET_CM_CPU, "matmul-dynamic", &total), 4);
        CHECK_EQ_INT(count_type(m, "train", "matmul", ANET_CM_CPU, "matmul-dynamic", &total), train_mm);
        /* Segments stay inside one program. */
        for (int i = 0; i < m->nsegments; i++)
            CHECK(strcmp(m->layers[m->segments[i].first].model_path, m->layers[m->segments[i].last].model_path) == 0);
        CHECK(anet_coreml_analyze(m, ANET_CHIP_M4) == ANET_OK);
        CHECK_EQ_INT(count_type(m, "train", "matmul", ANET_CM_ANE, "mil-op-ok", &total), train_mm);
        /* On M4 the whole mlp step is ANE-eligible: two programs, two segments, no switch. */
        CHECK_EQ_INT(m->n_ane, m->nlayers);
        CHECK_EQ_INT(m->nsegments, 2);
        CHECK_EQ_INT(m->switches, 0);
        CHECK_EQ_INT(anet_coreml_compat(m), 0);
        anet_coreml_free(m);
        m = NULL;
    }
    /* Without a chip in the metadata the default is m4. */
    write_ckpt(p, "mlp:6-5-4", NULL, 5, 6, 4);
    if (anet_coreml_load(p, &m) == ANET_OK) CHECK(m->has_chip_hint && m->chip_hint == ANET_CHIP_M4);
    else CHECK_MSG(0, "%s", anet_last_error());
    anet_coreml_free(m);
    m = NULL;
    /* A checkpoint whose tensors do not match its model, an unknown chip, a bad spec. */
    write_ckpt(p, "mlp:6-5-4", "m1", 5, 7, 4);
    CHECK_EQ_INT(anet_coreml_load(p, &m), ANET_E_FORMAT);
    write_ckpt(p, "mlp:6-5-4", "m9", 5, 6, 4);
    CHECK_EQ_INT(anet_coreml_load(p, &m), ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "m9");
    write_file(p, "garbage", 7);
    CHECK_EQ_INT(anet_coreml_load(p, &m), ANET_E_FORMAT);
    CHECK_EQ_INT(anet_coreml_load("mlp:6", &m), ANET_E_FORMAT);
    /* A model spec: the same programs, batch 128. */
    st = anet_coreml_load("mlp:6-5-4", &m);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    if (m) {
        CHECK(strcmp(m->format, "model-spec") == 0 && m->chip_hint == ANET_CHIP_M4);
        CHECK(anet_coreml_analyze(m, ANET_CHIP_STRICT) == ANET_OK);
        int total = 0;
        CHECK_EQ_INT(count_type(m, "eval", "matmul", ANET_CM_CPU, "matmul-dynamic", &total), 4);
        const anet_cm_shape *x = anet_cm_find_shape(m, "b_x"); /* 6 features padded to 32 */
        CHECK(x && x->rank == 4 && x->dims[1] == 32 && x->dims[3] == 128);
        anet_coreml_free(m);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* ---- program-level rules (program inputs, BLOBFILE count) ---- */

static void test_program_rules(void) {
    char dir[] = "/tmp/anet_cmprog_XXXXXX";
    if (!mkdtemp(dir)) return;
    char p[256], q[300];
    /* A program input 20000 wide (W > 16384): a program-level axis-range-dhw violation (cpu
     * for our MIL), though no op touches it. */
    snprintf(p, sizeof p, "%s/wide.mil", dir);
    const char *mil = "program(1.3)\n{\n    func main<ios18>(tensor<fp16, [1, 1, 1, 20000]> x,"
                      " tensor<fp16, [1, 2, 1, 4]> y) {\n"
                      "            tensor<fp16, [1, 2, 1, 4]> z = relu(x = y)[name = string(\"z\")];\n"
                      "        } -> (z);\n}\n";
    write_file(p, mil, strlen(mil));
    anet_cm_model *m = NULL;
    anet_status st = anet_coreml_load(p, &m);
    CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
    if (m) {
        CHECK(anet_coreml_analyze(m, ANET_CHIP_M4) == ANET_OK);
        EXPECT_LAYER(m, "z", ANET_CM_ANE, "mil-op-ok");
        CHECK_EQ_INT(m->nissues, 1);
        if (m->nissues) {
            CHECK(m->issues[0].rule && strcmp(m->issues[0].rule->id, "axis-range-dhw") == 0);
            CHECK_EQ_INT(m->issues[0].verdict, ANET_CM_CPU);
            CHECK(strcmp(m->issues[0].program, "main") == 0);
            CHECK_STR_CONTAINS(m->issues[0].detail, "'x'");
        }
        /* Every op passes, but the program does not: not "fully compatible". */
        CHECK_EQ_INT(anet_coreml_compat(m), 1);
        cJSON *j = anet_coreml_report_json(m);
        char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
        CHECK(txt && strstr(txt, "\"program_rules\":[{\"program\":\"main\",\"verdict\":\"cpu\",\"rule\":\"axis-range-dhw\""));
        free(txt);
        cJSON_Delete(j);
        anet_coreml_free(m);
        m = NULL;
    }
    /* 17 BLOBFILE weights in a compiled bundle: blobfile-max-16, unknown for a Core ML file
     * (a private-path rule), none with 16. The bundle is made by the project's emitter. */
    for (int nconst = 16; nconst <= 17; nconst++) {
        char text[8192];
        size_t n;
        n = (size_t)snprintf(text, sizeof text, "program(1.3)\n{\n    func main<ios18>(tensor<fp16, [1, 8, 1, 1]> x) {\n");
        for (int i = 0; i < nconst; i++) {
            char prev[16];
            if (i) snprintf(prev, sizeof prev, "a%d", i - 1);
            else snprintf(prev, sizeof prev, "x");
            n += (size_t)snprintf(text + n, sizeof text - n,
                                  "            tensor<fp16, [1, 8, 1, 1]> w%d = const()[name = string(\"w%d\"), val = "
                                  "tensor<fp16, [1, 8, 1, 1]>([1, 2, 3, 4, 5, 6, 7, %d])];\n"
                                  "            tensor<fp16, [1, 8, 1, 1]> a%d = add(x = %s, y = w%d)[name = string(\"a%d\")];\n",
                                  i, i, i, i, prev, i, i);
        }
        n += (size_t)snprintf(text + n, sizeof text - n, "        } -> (a%d);\n}\n", nconst - 1);
        anet_graph *g = NULL;
        st = anet_mil_parse(text, n, NULL, 0, &g);
        CHECK_MSG(st == ANET_OK, "inline program: %s", anet_last_error());
        if (st != ANET_OK) break;
        uint8_t *w = NULL;
        size_t wlen = 0;
        char *emitted = NULL;
        size_t elen = 0;
        CHECK(anet_weights_build(g, 8, &w, &wlen) == ANET_OK);
        CHECK(anet_mil_emit(g, &emitted, &elen) == ANET_OK);
        anet_graph_free(g);
        snprintf(p, sizeof p, "%s/b%d.mlmodelc", dir, nconst);
        mkdir(p, 0755);
        snprintf(q, sizeof q, "%s/model.mil", p);
        if (emitted) write_file(q, emitted, elen);
        snprintf(q, sizeof q, "%s/weights", p);
        mkdir(q, 0755);
        snprintf(q, sizeof q, "%s/weights/weight.bin", p);
        if (w) write_file(q, w, wlen);
        free(w);
        free(emitted);
        m = NULL;
        st = anet_coreml_load_with(p, ANET_CM_RULES_PRIVATE, &m);
        CHECK_MSG(st == ANET_OK, "%s", anet_last_error());
        if (!m) continue;
        m->rules = ANET_CM_RULES_PRIVATE; /* a program-level rule of the private path */
        CHECK(anet_coreml_analyze(m, ANET_CHIP_M4) == ANET_OK);
        CHECK_EQ_INT(m->nlayers, nconst);
        CHECK_EQ_INT(m->nissues, nconst > 16);
        if (m->nissues) {
            CHECK(m->issues[0].rule && strcmp(m->issues[0].rule->id, "blobfile-max-16") == 0);
            CHECK_EQ_INT(m->issues[0].verdict, ANET_CM_CPU);
            CHECK_STR_CONTAINS(m->issues[0].detail, "17");
        }
        CHECK_EQ_INT(anet_coreml_compat(m), nconst > 16 ? 1 : 0);
        anet_coreml_free(m);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

int main(void) {
    test_rules();
    test_shapes();
    test_segments();
    test_pipeline();
    test_mlprogram();
    test_malformed();
    test_files();
    test_fixtures();
    test_on_device();
    test_training();
    test_program_rules();
    TEST_MAIN_END();
}
