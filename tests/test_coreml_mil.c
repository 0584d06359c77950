/* `check` on the Core ML files people have: model.mil written the way Apple's compiler writes
 * it (coremltools' default fp16 program, flexible shapes, attributes, inline literals, several
 * functions, loop bodies, constexpr weights, other weight file names, no weights at all),
 * ML-Program pipeline bundles, compiled NeuralNetwork (espresso) bundles, the whole public
 * MIL opset, and the NeuralNetwork and ML Program forms of one network side by side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "core/error.h"
#include "coreml/coreml.h"
#include "coreml_gen.h"

static char dir[256];

static void write_file(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot write %s", path);
    if (!f) return;
    if (n) CHECK(fwrite(d, 1, n, f) == n);
    fclose(f);
}

/* A bundle NAME.mlmodelc holding model.mil = text; returns its path (static buffer). */
static const char *bundle(const char *name, const char *text) {
    static char p[512];
    char q[600];
    snprintf(p, sizeof p, "%s/%s.mlmodelc", dir, name);
    mkdir(p, 0755);
    snprintf(q, sizeof q, "%s/model.mil", p);
    write_file(q, text, strlen(text));
    /* With ANET_COREML_DUMP_DIR set, every program is also written there (the fuzz seeds of
     * fuzz/corpus/miltext/ were made this way). */
    const char *dump = getenv("ANET_COREML_DUMP_DIR");
    if (dump) {
        snprintf(q, sizeof q, "%s/%s.mil", dump, name);
        write_file(q, text, strlen(text));
    }
    return p;
}

static anet_cm_model *load(const char *path, anet_cm_rules rules, anet_chip chip) {
    anet_cm_model *m = NULL;
    anet_status st = anet_coreml_load_with(path, rules, &m);
    CHECK_MSG(st == ANET_OK, "load %s: %s", path, anet_last_error());
    if (st != ANET_OK) return NULL;
    m->rules = rules;
    st = anet_coreml_analyze(m, chip);
    CHECK_MSG(st == ANET_OK, "analyze: %s", anet_last_error());
    return m;
}

static const anet_cm_layer *find(const anet_cm_model *m, const char *name) {
    for (int i = 0; m && i < m->nlayers; i++)
        if (strcmp(m->layers[i].name, name) == 0) return &m->layers[i];
    return NULL;
}

#define EXPECT(m, lname, verdict_, rule_)                                                                   \
    do {                                                                                                    \
        const anet_cm_layer *l_ = find((m), (lname));                                                       \
        CHECK_MSG(l_ != NULL, "layer %s missing", (lname));                                                 \
        if (l_) {                                                                                           \
            CHECK_MSG(l_->verdict == (verdict_), "%s: verdict %s (%s)", (lname), anet_cm_placement_name(l_->verdict), \
                      l_->detail);                                                                          \
            CHECK_MSG(l_->rule && strcmp(l_->rule->id, (rule_)) == 0, "%s: rule %s, want %s", (lname),     \
                      l_->rule ? l_->rule->id : "(none)", (rule_));                                         \
        }                                                                                                   \
    } while (0)

/* The program coremltools 8 writes by default for a small PyTorch CNN (conv with bias, relu,
 * 2x2 max pooling, flatten, linear, softmax; compute precision fp16, so the fp32 input is
 * cast to fp16 and the output back), as Xcode's compiler prints it into model.mil. */
static const char *const COREMLTOOLS_CNN =
    "program(1.3)\n"
    "[buildInfo = dict<string, string>({{\"coremlc-component-MIL\", \"3405.2.1\"}, {\"coremlc-version\", \"3405.2.1\"}, "
    "{\"coremltools-component-torch\", \"2.4.0\"}, {\"coremltools-source-dialect\", \"TorchScript\"}, {\"coremltools-version\", \"8.0\"}})]\n"
    "{\n"
    "    func main<ios18>(tensor<fp32, [1, 3, 32, 32]> x) {\n"
    "            string x_to_fp16_dtype_0 = const()[name = string(\"x_to_fp16_dtype_0\"), val = string(\"fp16\")];\n"
    "            string input_1_pad_type_0 = const()[name = string(\"input_1_pad_type_0\"), val = string(\"custom\")];\n"
    "            tensor<int32, [4]> input_1_pad_0 = const()[name = string(\"input_1_pad_0\"), val = tensor<int32, [4]>([1, 1, 1, 1])];\n"
    "            tensor<int32, [2]> input_1_strides_0 = const()[name = string(\"input_1_strides_0\"), val = tensor<int32, [2]>([1, 1])];\n"
    "            tensor<int32, [2]> input_1_dilations_0 = const()[name = string(\"input_1_dilations_0\"), val = tensor<int32, [2]>([1, 1])];\n"
    "            int32 input_1_groups_0 = const()[name = string(\"input_1_groups_0\"), val = int32(1)];\n"
    "            tensor<fp16, [8, 3, 3, 3]> conv1_weight_to_fp16 = const()[name = string(\"conv1_weight_to_fp16\"), "
    "val = tensor<fp16, [8, 3, 3, 3]>(BLOBFILE(path = string(\"@model_path/weights/weight.bin\"), offset = uint64(64)))];\n"
    "            tensor<fp16, [8]> conv1_bias_to_fp16 = const()[name = string(\"conv1_bias_to_fp16\"), "
    "val = tensor<fp16, [8]>(BLOBFILE(path = string(\"@model_path/weights/weight.bin\"), offset = uint64(576)))];\n"
    "            tensor<fp16, [1, 3, 32, 32]> x_to_fp16 = cast(dtype = x_to_fp16_dtype_0, x = x)[name = string(\"cast_1\")];\n"
    "            tensor<fp16, [1, 8, 32, 32]> input_1_cast_fp16 = conv(bias = conv1_bias_to_fp16, dilations = input_1_dilations_0, "
    "groups = input_1_groups_0, pad = input_1_pad_0, pad_type = input_1_pad_type_0, strides = input_1_strides_0, "
    "weight = conv1_weight_to_fp16, x = x_to_fp16)[name = string(\"input_1_cast_fp16\")];\n"
    "            tensor<fp16, [1, 8, 32, 32]> input_3_cast_fp16 = relu(x = input_1_cast_fp16)[name = string(\"input_3_cast_fp16\")];\n"
    "            tensor<int32, [2]> var_20 = const()[name = string(\"op_20\"), val = tensor<int32, [2]>([2, 2])];\n"
    "            tensor<int32, [2]> var_21 = const()[name = string(\"op_21\"), val = tensor<int32, [2]>([2, 2])];\n"
    "            string x_1_pad_type_0 = const()[name = string(\"x_1_pad_type_0\"), val = string(\"custom\")];\n"
    "            tensor<int32, [4]> x_1_pad_0 = const()[name = string(\"x_1_pad_0\"), val = tensor<int32, [4]>([0, 0, 0, 0])];\n"
    "            bool x_1_ceil_mode_0 = const()[name = string(\"x_1_ceil_mode_0\"), val = bool(false)];\n"
    "            tensor<fp16, [1, 8, 16, 16]> x_1_cast_fp16 = max_pool(ceil_mode = x_1_ceil_mode_0, kernel_sizes = var_20, "
    "pad = x_1_pad_0, pad_type = x_1_pad_type_0, strides = var_21, x = input_3_cast_fp16)[name = string(\"x_1_cast_fp16\")];\n"
    "            tensor<int32, [2]> var_30 = const()[name = string(\"op_30\"), val = tensor<int32, [2]>([1, -1])];\n"
    "            tensor<fp16, [1, 2048]> input_5_cast_fp16 = reshape(shape = var_30, x = x_1_cast_fp16)[name = string(\"input_5_cast_fp16\")];\n"
    "            tensor<fp16, [10, 2048]> fc_weight_to_fp16 = const()[name = string(\"fc_weight_to_fp16\"), "
    "val = tensor<fp16, [10, 2048]>(BLOBFILE(path = string(\"@model_path/weights/weight.bin\"), offset = uint64(704)))];\n"
    "            tensor<fp16, [10]> fc_bias_to_fp16 = const()[name = string(\"fc_bias_to_fp16\"), "
    "val = tensor<fp16, [10]>([-0x1.2p-4, 0x1.8p-5, 0x0p+0, 0x1p-3, -0x1p-3, 0x1.4p-4, 0x0p+0, 0x1p-6, -0x1p-6, 0x1p-2])];\n"
    "            tensor<fp16, [1, 10]> linear_0_cast_fp16 = linear(bias = fc_bias_to_fp16, weight = fc_weight_to_fp16, "
    "x = input_5_cast_fp16)[name = string(\"linear_0_cast_fp16\")];\n"
    "            int32 var_40 = const()[name = string(\"op_40\"), val = int32(-1)];\n"
    "            tensor<fp16, [1, 10]> var_41_cast_fp16 = softmax(axis = var_40, x = linear_0_cast_fp16)[name = string(\"op_41_cast_fp16\")];\n"
    "            string var_41_cast_fp16_to_fp32_dtype_0 = const()[name = string(\"op_41_cast_fp16_to_fp32_dtype_0\"), val = string(\"fp32\")];\n"
    "            tensor<fp32, [1, 10]> var_41 = cast(dtype = var_41_cast_fp16_to_fp32_dtype_0, x = var_41_cast_fp16)[name = string(\"cast_0\")];\n"
    "        } -> (var_41);\n"
    "}\n";

/* Done-when of issue 13: a default coremltools fp16 program of a supported network is fully
 * compatible under the default chip profile, with or without its weights present. */
static void test_coremltools_default(void) {
    const char *p = bundle("cnn", COREMLTOOLS_CNN);
    anet_chip chips[] = {ANET_CHIP_STRICT, ANET_CHIP_M1, ANET_CHIP_M2, ANET_CHIP_M3, ANET_CHIP_M4};
    for (size_t c = 0; c < sizeof chips / sizeof chips[0]; c++) {
        anet_cm_model *m = load(p, ANET_CM_RULES_DEFAULT, chips[c]);
        if (!m) continue;
        CHECK_EQ_INT(m->rules, ANET_CM_RULES_COREML);
        CHECK_EQ_INT(m->nlayers, 8); /* cast, conv, relu, max_pool, reshape, linear, softmax, cast */
        CHECK_MSG(anet_coreml_compat(m) == 0, "chip %d: compat %d", (int)chips[c], anet_coreml_compat(m));
        EXPECT(m, "cast_1", ANET_CM_ANE, "coreml-cast-boundary");
        EXPECT(m, "input_1_cast_fp16", ANET_CM_ANE, "nn-layer-ok");
        EXPECT(m, "x_1_cast_fp16", ANET_CM_ANE, "nn-layer-ok");
        EXPECT(m, "linear_0_cast_fp16", ANET_CM_ANE, "nn-layer-ok");
        CHECK_EQ_INT(m->nsegments, 1);
        CHECK_EQ_INT(m->switches, 0);
        /* Shapes from the program, weights absent: said in a note, verdicts unaffected. */
        int noted = 0;
        for (int i = 0; i < m->nnotes; i++) noted |= strstr(m->notes[i], "weights absent") != NULL;
        CHECK(noted);
        const anet_cm_layer *pool = find(m, "x_1_cast_fp16");
        CHECK(pool && pool->nkernel == 2 && pool->kernel[0] == 2 && pool->nstride == 2 && pool->stride[1] == 2);
        anet_coreml_free(m);
    }
    /* The private API's rules (asked for) reject what Core ML's compiler handles itself. */
    anet_cm_model *m = load(p, ANET_CM_RULES_PRIVATE, ANET_CHIP_M1);
    if (m) {
        CHECK_EQ_INT(m->rules, ANET_CM_RULES_PRIVATE);
        CHECK(anet_coreml_compat(m) != 0);
        anet_coreml_free(m);
    }
}

/* Every construct of issue 13 item 4 in one program. */
static const char *const APPLE_CONSTRUCTS =
    "program(1.3)\n"
    "[buildInfo = dict<string, string>({{\"coremlc-component-MIL\", \"3405.2.1\"}, {\"coremlc-version\", \"3405.2.1\"}})]\n"
    "{\n"
    "    func main<ios18>(tensor<fp32, [1, 3, ?, ?]> x, state<tensor<fp16, [1, 4]>> cache) "
    "[FlexibleShapeInformation = tuple<tuple<string, dict<string, tensor<int32, [?]>>>, tuple<string, dict<string, "
    "list<tensor<int32, [2]>, ?>>>>(((\"DefaultShapes\", {{\"x\", [1, 3, 64, 64]}}), (\"RangeDims\", {{\"x\", [[1, 1], [3, 3], "
    "[16, 512], [16, 512]]}})))] {\n"
    "            tensor<fp16, [1, 3, ?, ?]> x16 = cast(dtype = string(\"fp16\"), x = x)[name = string(\"cast_in\")];\n"
    "            tensor<fp16, [8, 3, 3, 3]> w = constexpr_affine_dequantize()[axis = int32(0), name = string(\"w\"), "
    "quantized_data = tensor<int8, [8, 3, 3, 3]>(BLOBFILE(path = string(\"@model_path/weights/0-weight.bin\"), offset = uint64(64))), "
    "scale = tensor<fp16, [8]>(BLOBFILE(path = string(\"@model_path/weights/0-weight.bin\"), offset = uint64(384))), "
    "zero_point = tensor<int8, [8]>(BLOBFILE(path = string(\"@model_path/weights/0-weight.bin\"), offset = uint64(448)))];\n"
    "            tensor<fp16, [1, 8, ?, ?]> c = conv(dilations = tensor<int32, [2]>([2, 2]), groups = int32(1), "
    "pad_type = string(\"same\"), strides = tensor<int32, [2]>([1, 1]), weight = w, x = x16)[name = string(\"dilated\")];\n"
    "            tensor<fp16, [1, 8, ?, ?]> p = max_pool(ceil_mode = bool(false), kernel_sizes = tensor<int32, [2]>([15, 15]), "
    "pad_type = string(\"same\"), strides = tensor<int32, [2]>([1, 1]), x = c)[name = string(\"pool15\")];\n"
    "            tensor<fp16, [1, 8, ?, ?]> u = upsample_nearest_neighbor(scale_factor_height = fp32(0x1p+2), "
    "scale_factor_width = fp32(0x1p+2), x = p)[name = string(\"up4\")];\n"
    "            tensor<fp16, [1, 8, ?, ?]> k = concat(axis = int32(1), interleave = bool(false), values = (u, u))[name = string(\"cat\")];\n"
    "            tensor<fp16, [1, 4]> s = read_state(input = cache)[name = string(\"rs\")];\n"
    "            int32 i0 = const()[name = string(\"i0\"), val = int32(0)];\n"
    "            int32 n, tensor<fp16, [1, 4]> acc = while_loop(loop_vars = (i0, s))[name = string(\"loop\")]\n"
    "                loop_cond(int32 i, tensor<fp16, [1, 4]> a) {\n"
    "                    bool lt = less(x = i, y = int32(3))[name = string(\"lt\")];\n"
    "                } -> (lt)\n"
    "                loop_body(int32 i, tensor<fp16, [1, 4]> a) {\n"
    "                    int32 i1 = add(x = i, y = int32(1))[name = string(\"inc\")];\n"
    "                    tensor<fp16, [1, 4]> a1 = sigmoid(x = a)[name = string(\"body_sigmoid\")];\n"
    "                } -> (i1, a1);\n"
    "            tensor<fp16, [1, 4]> sl = slice_by_index(begin = tensor<int32, [2]>([0, 0]), end = tensor<int32, [2]>([1, 4]), "
    "x = acc)[name = string(\"slice\")];\n"
    "            tensor<fp16, [1, 4]> g = silu(x = sl)[name = string(\"silu\")];\n"
    "        } -> (k, g);\n"
    "    func decode<ios18>(tensor<fp16, [1, 4]> y) {\n"
    "            tensor<fp16, [1, 4]> z = relu(x = y)[name = string(\"decode_relu\")];\n"
    "        } -> (z);\n"
    "}\n";

static void test_apple_constructs(void) {
    const char *p = bundle("apple", APPLE_CONSTRUCTS);
    char q[600];
    snprintf(q, sizeof q, "%s/weights", p);
    mkdir(q, 0755);
    snprintf(q, sizeof q, "%s/weights/0-weight.bin", p); /* another weight file name, any bytes */
    write_file(q, "x", 1);
    anet_cm_model *m = load(p, ANET_CM_RULES_DEFAULT, ANET_CHIP_STRICT);
    if (!m) return;
    CHECK_EQ_INT(m->nlayers, 14); /* every op of both functions and of the loop's blocks */
    EXPECT(m, "w", ANET_CM_ANE, "coreml-load-time");
    EXPECT(m, "dilated", ANET_CM_CPU, "nn-dilated-conv");
    EXPECT(m, "pool15", ANET_CM_CPU, "nn-pool-kernel-max-13");
    EXPECT(m, "up4", ANET_CM_CPU, "nn-upsample-max-2");
    EXPECT(m, "cast_in", ANET_CM_CPU, "coreml-cast-boundary"); /* serves only the CPU conv */
    EXPECT(m, "cat", ANET_CM_ANE, "nn-layer-ok");
    EXPECT(m, "loop", ANET_CM_UNKNOWN, "nn-layer-unreported");
    EXPECT(m, "body_sigmoid", ANET_CM_ANE, "nn-layer-ok"); /* loop bodies are walked */
    EXPECT(m, "lt", ANET_CM_UNKNOWN, "nn-layer-unreported");
    EXPECT(m, "slice", ANET_CM_ANE, "nn-layer-ok");
    EXPECT(m, "silu", ANET_CM_ANE, "nn-layer-ok");
    const anet_cm_layer *d = find(m, "decode_relu");
    CHECK(d && strcmp(d->model_path, "decode") == 0);
    const anet_cm_layer *c = find(m, "dilated");
    CHECK(c && c->out_shapes[0].rank == 4 && c->out_shapes[0].dims[2] == -1); /* flexible dims */
    CHECK(c && c->ninputs == 1); /* x16; w (constexpr) is a weight, not a tensor between layers */
    int ce = anet_coreml_compat(m);
    CHECK(ce == 1);
    anet_coreml_free(m);
    /* Under the private rules the strict parser cannot take flexible shapes: unknown, said why. */
    m = load(p, ANET_CM_RULES_PRIVATE, ANET_CHIP_M4);
    if (m) {
        EXPECT(m, "dilated", ANET_CM_UNKNOWN, "mil-op-unmodeled");
        CHECK_STR_CONTAINS(find(m, "dilated") ? find(m, "dilated")->detail : "", "private rules");
        anet_coreml_free(m);
    }
}

/* The strict MIL parser (the graph IR of the private rules) takes Apple's typed inline
 * literal arguments as consts of their own. */
static void test_strict_inline_literals(void) {
    const char *text =
        "program(1.3)\n{\n    func main<ios18>(tensor<fp16, [1, 4]> x) {\n"
        "            tensor<fp16, [1, 4]> y = mul(x = x, y = fp16(0x1p+1))[name = string(\"m\")];\n"
        "            tensor<fp16, [1, 8]> z = concat(axis = int32(1), interleave = bool(false), values = (y, x))[name = string(\"c\")];\n"
        "            tensor<fp16, [1, 4]> r = reshape(shape = tensor<int32, [2]>([1, 4]), x = y)[name = string(\"r\")];\n"
        "        } -> (z, r);\n}\n";
    anet_cm_model *m = load(bundle("inline", text), ANET_CM_RULES_PRIVATE, ANET_CHIP_M4);
    if (!m) return;
    CHECK_MSG(m->ngraphs == 1 && !m->ir_error[0], "strict parse: %s", m->ir_error);
    EXPECT(m, "m", ANET_CM_ANE, "mil-op-ok");
    EXPECT(m, "c", ANET_CM_CPU, "op-rejected-concat"); /* M4: the private path's report */
    EXPECT(m, "r", ANET_CM_ANE, "mil-op-ok");
    const anet_cm_layer *r = find(m, "r");
    CHECK(r && r->ninputs == 1); /* the inline shape is a parameter, not a tensor input */
    anet_coreml_free(m);
}

/* Malformed text is exit 4 with a line:column, never quoting the file's bytes. */
static void test_malformed_text(void) {
    const char *bad[] = {
        "root:x:0:0:root:/root:/bin/bash\n",
        "program(1.3)\n{\n func main<ios18>(tensor<fp16, [1]> x) {\n tensor<fp16, [1]> y = relu(x = x)[name = string(\"r\")]\n } -> (y);\n}\n",
        "program(1.3)\n{\n func main<ios18>(tensor<fp16, [1]> x) {\n tensor<fp16, [1]> y = relu(x = ((((((((((((((((((((((((((((((((((((x)))))))))))))))))))))))))))))))))));\n } -> (y);\n}\n",
        "program(1.3)\n{\n",
        "program(1.3)\n{\n func main<ios18>(tensor<fp16, [1]> x) {\n tensor<fp16, [1]> y = relu(x = \"unterminated)\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu", i);
        const char *p = bundle(name, bad[i]);
        anet_cm_model *m = NULL;
        anet_status st = anet_coreml_load(p, &m);
        CHECK_MSG(st == ANET_E_FORMAT, "bad %zu: status %d", i, (int)st);
        CHECK_MSG(!strstr(anet_last_error(), "root:") && !strstr(anet_last_error(), "unterminated)"), "quotes: %s",
                  anet_last_error());
        anet_coreml_free(m);
    }
    CHECK_STR_CONTAINS(anet_last_error(), "model.mil:");
}

/* An ML-Program pipeline bundle (model0/, model1/) whose second step is a compiled
 * NeuralNetwork (espresso JSON). */
/* The streamed --json report holds exactly the tree anet_check_json builds. */
static void expect_stream_equals_tree(const anet_cm_model *m) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f) return;
    CHECK(anet_coreml_report_write(m, f) == 0);
    long n = ftell(f);
    rewind(f);
    char *text = malloc((size_t)n + 1);
    CHECK(text && fread(text, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    if (!text) return;
    text[n] = '\0';
    cJSON *a = cJSON_Parse(text), *b = anet_coreml_report_json(m);
    CHECK_MSG(a && b && cJSON_Compare(a, b, 1), "streamed JSON differs from the tree:\n%s", text);
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(text);
}

static void test_pipeline_bundle(void) {
    char p[512], q[700];
    snprintf(p, sizeof p, "%s/pipe.mlmodelc", dir);
    mkdir(p, 0755);
    snprintf(q, sizeof q, "%s/coremldata.bin", p);
    write_file(q, "\x01", 1);
    snprintf(q, sizeof q, "%s/model0", p);
    mkdir(q, 0755);
    snprintf(q, sizeof q, "%s/model0/model.mil", p);
    write_file(q, COREMLTOOLS_CNN, strlen(COREMLTOOLS_CNN));
    snprintf(q, sizeof q, "%s/model1", p);
    mkdir(q, 0755);
    snprintf(q, sizeof q, "%s/model1/model.espresso.net", p);
    const char *net =
        "{\"format_version\": 200, \"storage\": \"model.espresso.weights\", \"layers\": ["
        "{\"type\": \"convolution\", \"name\": \"conv_d\", \"bottom\": \"in\", \"top\": \"c1\", \"C\": 8, \"K\": 3, \"Nx\": 3, \"Ny\": 3, \"dilation_x\": 2, \"dilation_y\": 2},"
        "{\"type\": \"pool\", \"name\": \"pool_big\", \"bottom\": \"c1\", \"top\": \"p1\", \"size_x\": 15, \"size_y\": 15, \"stride_x\": 1, \"stride_y\": 1},"
        "{\"type\": \"inner_product\", \"name\": \"fc\", \"bottom\": \"p1\", \"top\": \"f1\", \"nC\": 10, \"nB\": 8},"
        "{\"type\": \"softmax\", \"name\": \"sm\", \"bottom\": \"f1\", \"top\": \"out\"},"
        "{\"type\": \"frobnicate\", \"name\": \"odd\", \"bottom\": \"out\", \"top\": \"out2\"}]}";
    write_file(q, net, strlen(net));
    snprintf(q, sizeof q, "%s/model1/model.espresso.shape", p);
    const char *shape = "{\"layer_shapes\": {\"c1\": {\"n\": 1, \"k\": 8, \"h\": 20000, \"w\": 16}}}";
    write_file(q, shape, strlen(shape));
    anet_cm_model *m = load(p, ANET_CM_RULES_DEFAULT, ANET_CHIP_STRICT);
    if (!m) return;
    CHECK(strcmp(m->kind, "pipeline") == 0);
    CHECK_EQ_INT(m->nlayers, 13);
    const anet_cm_layer *c = find(m, "input_1_cast_fp16");
    CHECK(c && strcmp(c->model_path, "models[0]") == 0 && c->verdict == ANET_CM_ANE);
    EXPECT(m, "conv_d", ANET_CM_CPU, "nn-dilated-conv");
    EXPECT(m, "pool_big", ANET_CM_CPU, "nn-pool-kernel-max-13");
    EXPECT(m, "fc", ANET_CM_ANE, "nn-layer-ok");
    EXPECT(m, "sm", ANET_CM_ANE, "nn-layer-ok");
    EXPECT(m, "odd", ANET_CM_UNKNOWN, "nn-layer-unreported");
    const anet_cm_layer *f = find(m, "fc");
    CHECK(f && strcmp(f->model_path, "models[1]") == 0);
    expect_stream_equals_tree(m);
    anet_coreml_free(m);
    /* Shapes from model.espresso.shape reach the rules: H = 20000 > 16384 on c1. */
    snprintf(q, sizeof q, "%s/model1/model.espresso.net", p);
    const char *net2 = "{\"layers\": [{\"type\": \"activation\", \"name\": \"a\", \"bottom\": \"c1\", \"top\": \"a1\"}]}";
    write_file(q, net2, strlen(net2));
    m = load(p, ANET_CM_RULES_DEFAULT, ANET_CHIP_STRICT);
    if (m) {
        EXPECT(m, "a", ANET_CM_CPU, "nn-axis-range");
        anet_coreml_free(m);
    }
}

/* Every public MIL op gets a verdict with a rule and source; none is "not public". */
static void test_opset(void) {
    int n = 0;
    const anet_mil_op_info *ops = anet_mil_opset(&n);
    CHECK_EQ_INT(n, 167); /* the registry's iOS15..iOS18 ops (and coreml_update_state) at coremltools e0e2f42b */
    static const char *const named[] = {"silu", "slice_by_index", "slice_by_size", "layer_norm", "prelu", "split",
                                        "upsample_nearest_neighbor", "upsample_bilinear", "squeeze", "expand_dims",
                                        "gather", "lstm", "while_loop", "scaled_dot_product_attention", "read_state",
                                        "constexpr_blockwise_shift_scale", "quantize", "resize", "pixel_unshuffle"};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) CHECK_MSG(anet_mil_op_find(named[i]), "%s", named[i]);
    for (int i = 0; i < n; i++) {
        if (i) CHECK_MSG(strcmp(ops[i - 1].name, ops[i].name) < 0, "table not sorted at %s", ops[i].name);
        anet_cm_layer l;
        memset(&l, 0, sizeof l);
        char *outs[1] = {"y"};
        anet_cm_shape sh;
        memset(&sh, 0, sizeof sh);
        sh.rank = 4;
        sh.dims[0] = 1, sh.dims[1] = 8, sh.dims[2] = 4, sh.dims[3] = 4;
        snprintf(sh.dtype, sizeof sh.dtype, "fp16");
        l.type = (char *)ops[i].name;
        l.is_mil = 1;
        l.outputs = outs;
        l.noutputs = 1;
        l.out_shapes = &sh;
        anet_rules_coreml_check(&l, ANET_CHIP_STRICT);
        CHECK_MSG(l.rule && l.rule->source && l.rule->source[0], "%s: no rule", ops[i].name);
        CHECK_MSG(l.rule && strcmp(l.rule->id, "coreml-op-not-public") != 0, "%s: not public?", ops[i].name);
        CHECK_MSG(l.detail && l.detail[0], "%s: no detail", ops[i].name);
        free(l.detail);
    }
    /* An op outside the opset says so, as unknown (not cpu). */
    anet_cm_layer l;
    memset(&l, 0, sizeof l);
    l.type = "frobnicate";
    l.is_mil = 1;
    anet_rules_coreml_check(&l, ANET_CHIP_STRICT);
    CHECK(l.verdict == ANET_CM_UNKNOWN && l.rule && strcmp(l.rule->id, "coreml-op-not-public") == 0);
    free(l.detail);
}

/* docs/check.md lists every modelled op (with its NeuralNetwork kind or rule) and every rule
 * of both rule sets: the table and the doc agree. */
static void test_doc_agrees(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/docs/check.md", ANET_SOURCE_DIR);
    FILE *f = fopen(p, "rb");
    CHECK_MSG(f != NULL, "cannot read %s", p);
    if (!f) return;
    static char doc[1 << 18];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    int nops = 0;
    const anet_mil_op_info *ops = anet_mil_opset(&nops);
    for (int i = 0; i < nops; i++) {
        char row[160];
        const char *kind = ops[i].nn_field ? anet_nn_layer_name(ops[i].nn_field) : ops[i].rule;
        snprintf(row, sizeof row, "| `%s` | %s | %s |", ops[i].name, ops[i].opset, kind);
        CHECK_MSG(strstr(doc, row), "docs/check.md lacks the row %s", row);
    }
    int nr = 0;
    const anet_rule *r = anet_rules_nn(&nr);
    for (int i = 0; i < nr; i++) {
        char id[80];
        snprintf(id, sizeof id, "`%s`", r[i].id);
        CHECK_MSG(strstr(doc, id), "docs/check.md lacks rule %s", r[i].id);
    }
    r = anet_rules_coreml(&nr);
    for (int i = 0; i < nr; i++) {
        char id[80];
        snprintf(id, sizeof id, "`%s`", r[i].id);
        CHECK_MSG(strstr(doc, id), "docs/check.md lacks rule %s", r[i].id);
    }
    r = anet_rules(&nr);
    for (int i = 0; i < nr; i++) {
        char id[80];
        snprintf(id, sizeof id, "`%s`", r[i].id);
        CHECK_MSG(strstr(doc, id), "docs/check.md lacks rule %s", r[i].id);
    }
}

/* One network in both forms: a NeuralNetwork .mlmodel (protobuf written here) and the ML
 * Program coremltools makes of it (model.mil). Layer by layer, the same verdicts and rules. */
static void test_nn_vs_mlprogram(void) {
    buf nn = {0}, mb = {0}, conv = {0}, conv2 = {0}, pool = {0}, pool2 = {0}, up = {0}, act = {0}, relu = {0};
    uint64_t k3[] = {3, 3}, d2[] = {2, 2}, k15[] = {15, 15}, one[] = {1, 1}, k2[] = {2, 2}, s4[] = {4, 4};
    packed(&conv, 20, k3, 2); /* ConvolutionLayerParams: kernelSize 20, dilationFactor 40 */
    packed(&conv, 40, d2, 2);
    layer(&nn, "conv_dil", "x", NULL, "c1", 100, &conv);
    bytesf(&relu, 10, "", 0); /* ActivationParams.ReLU 10 */
    layer(&nn, "relu1", "c1", NULL, "r1", 130, &relu);
    packed(&pool, 10, k15, 2); /* PoolingLayerParams: kernelSize 10, stride 20 */
    packed(&pool, 20, one, 2);
    layer(&nn, "pool15", "r1", NULL, "p1", 120, &pool);
    packed(&up, 1, s4, 2); /* UpsampleLayerParams.scalingFactor 1 */
    layer(&nn, "up4", "p1", NULL, "u1", 210, &up);
    packed(&conv2, 20, k3, 2);
    layer(&nn, "conv2", "u1", NULL, "c2", 100, &conv2);
    packed(&pool2, 10, k2, 2);
    packed(&pool2, 20, k2, 2);
    layer(&nn, "pool2", "c2", NULL, "p2", 120, &pool2);
    layer(&nn, "fc", "p2", NULL, "f", 140, NULL);
    bytesf(&act, 40, "", 0); /* sigmoid */
    layer(&nn, "sig", "f", NULL, "g", 130, &act);
    layer(&nn, "sm", "g", NULL, "s", 175, NULL);
    layer(&nn, "lstm", "s", NULL, "h", 420, NULL);
    layer(&nn, "gather", "h", NULL, "y", 930, NULL);
    model(&mb, 500, &nn, "x", "y");
    anet_cm_model *a = NULL;
    CHECK(anet_coreml_parse_mlmodel(mb.p, mb.n, NULL, 0, "nn.mlmodel", &a) == ANET_OK);
    free(mb.p);
    if (!a) return;
    CHECK(anet_coreml_analyze(a, ANET_CHIP_STRICT) == ANET_OK);
    const char *mil =
        "program(1.0)\n"
        "[buildInfo = dict<tensor<string, []>, tensor<string, []>>({{\"coremltools-version\", \"7.2\"}})]\n"
        "{\n"
        "    func main<ios16>(tensor<fp32, [1, 16, 8, 8]> x) {\n"
        "            tensor<string, []> dt = const()[name = tensor<string, []>(\"dt\"), val = tensor<string, []>(\"fp16\")];\n"
        "            tensor<int32, [2]> dil = const()[name = tensor<string, []>(\"dil\"), val = tensor<int32, [2]>([2, 2])];\n"
        "            tensor<int32, [2]> k15 = const()[name = tensor<string, []>(\"k15\"), val = tensor<int32, [2]>([15, 15])];\n"
        "            tensor<int32, [2]> s1 = const()[name = tensor<string, []>(\"s1\"), val = tensor<int32, [2]>([1, 1])];\n"
        "            tensor<int32, [2]> k2 = const()[name = tensor<string, []>(\"k2\"), val = tensor<int32, [2]>([2, 2])];\n"
        "            tensor<fp32, []> sc = const()[name = tensor<string, []>(\"sc\"), val = tensor<fp32, []>(0x1p+2)];\n"
        "            tensor<fp16, [16, 16, 3, 3]> w = const()[name = tensor<string, []>(\"w\"), val = tensor<fp16, [16, 16, 3, 3]>"
        "(BLOBFILE(path = tensor<string, []>(\"@model_path/weights/weight.bin\"), offset = tensor<uint64, []>(64)))];\n"
        "            tensor<fp16, [1, 16, 8, 8]> x16 = cast(dtype = dt, x = x)[name = tensor<string, []>(\"cast_x\")];\n"
        "            tensor<fp16, [1, 16, 8, 8]> c1 = conv(dilations = dil, weight = w, x = x16)[name = tensor<string, []>(\"conv_dil\")];\n"
        "            tensor<fp16, [1, 16, 8, 8]> r1 = relu(x = c1)[name = tensor<string, []>(\"relu1\")];\n"
        "            tensor<fp16, [1, 16, 8, 8]> p1 = max_pool(kernel_sizes = k15, strides = s1, x = r1)[name = tensor<string, []>(\"pool15\")];\n"
        "            tensor<fp16, [1, 16, 32, 32]> u1 = upsample_nearest_neighbor(scale_factor_height = sc, scale_factor_width = sc, x = p1)"
        "[name = tensor<string, []>(\"up4\")];\n"
        "            tensor<fp16, [1, 16, 32, 32]> c2 = conv(weight = w, x = u1)[name = tensor<string, []>(\"conv2\")];\n"
        "            tensor<fp16, [1, 16, 16, 16]> p2 = max_pool(kernel_sizes = k2, strides = k2, x = c2)[name = tensor<string, []>(\"pool2\")];\n"
        "            tensor<fp16, [1, 10]> f = linear(weight = w, x = p2)[name = tensor<string, []>(\"fc\")];\n"
        "            tensor<fp16, [1, 10]> g = sigmoid(x = f)[name = tensor<string, []>(\"sig\")];\n"
        "            tensor<fp16, [1, 10]> s = softmax(axis = int32(-1), x = g)[name = tensor<string, []>(\"sm\")];\n"
        "            tensor<fp16, [1, 10]> h, tensor<fp16, [1, 10]> hc, tensor<fp16, [1, 10]> cc = lstm(x = s)[name = tensor<string, []>(\"lstm\")];\n"
        "            tensor<fp16, [1, 10]> y16 = gather(x = h, indices = h)[name = tensor<string, []>(\"gather\")];\n"
        "            tensor<fp32, [1, 10]> y = cast(dtype = tensor<string, []>(\"fp32\"), x = y16)[name = tensor<string, []>(\"cast_y\")];\n"
        "        } -> (y);\n"
        "}\n";
    anet_cm_model *b = load(bundle("nnml", mil), ANET_CM_RULES_DEFAULT, ANET_CHIP_STRICT);
    if (b) {
        int j = 0;
        for (int i = 0; i < a->nlayers; i++) {
            while (j < b->nlayers && strcmp(b->layers[j].type, "cast") == 0) j++;
            CHECK_MSG(j < b->nlayers, "ML Program has fewer layers than the NeuralNetwork");
            if (j >= b->nlayers) break;
            const anet_cm_layer *x = &a->layers[i], *y = &b->layers[j++];
            CHECK_MSG(strcmp(x->name, y->name) == 0, "layer %d: %s vs %s", i, x->name, y->name);
            CHECK_MSG(x->verdict == y->verdict && x->rule == y->rule, "%s: NeuralNetwork %s [%s], ML Program %s [%s] (%s)",
                      x->name, anet_cm_placement_name(x->verdict), x->rule ? x->rule->id : "-",
                      anet_cm_placement_name(y->verdict), y->rule ? y->rule->id : "-", y->detail);
        }
        CHECK_EQ_INT(anet_coreml_compat(a), anet_coreml_compat(b));
        anet_coreml_free(b);
    }
    anet_coreml_free(a);
}


/* Issue 13 item 8 and item 6: names, subtypes, notes, loop bodies, the exit status and the
 * switch count. */
static void test_presentation(void) {
    /* A pipeline: a visionFeaturePrint (2002) then a textClassifier (2000) then a NeuralNetwork
     * whose loop layer (615) has a body network with two layers. */
    buf vfp = {0}, tc = {0}, nnm = {0}, nn = {0}, loop = {0}, bodynn = {0}, un = {0}, pipe = {0}, top = {0};
    u64f(&vfp, 1, 4);
    bytesf(&vfp, 2002, "", 0);
    u64f(&tc, 1, 4);
    bytesf(&tc, 2000, "", 0);
    layer(&bodynn, "body_conv", "x", NULL, "b1", 100, NULL);
    layer(&bodynn, "body_lstm", "b1", NULL, "b2", 420, NULL);
    msgf(&loop, 4, &bodynn); /* LoopLayerParams.bodyNetwork 4 */
    layer(&nn, "loop", "x", NULL, "l1", 615, &loop);
    u64f(&un, 1, 4); /* UnaryFunctionLayerParams.type EXP */
    layer(&nn, "un", "l1", NULL, "y", 220, &un);
    u64f(&nnm, 1, 4);
    msgf(&nnm, 500, &nn);
    msgf(&pipe, 1, &vfp);
    msgf(&pipe, 1, &tc);
    msgf(&pipe, 1, &nnm);
    u64f(&top, 1, 5);
    u64f(&top, 10, 1); /* isUpdatable */
    msgf(&top, 202, &pipe);
    anet_cm_model *m = NULL;
    CHECK(anet_coreml_parse_mlmodel(top.p, top.n, NULL, 0, "pipe.mlmodel", &m) == ANET_OK);
    free(top.p);
    if (m) {
        CHECK(anet_coreml_analyze(m, ANET_CHIP_STRICT) == ANET_OK);
        CHECK_EQ_INT(m->nlayers, 6);
        const anet_cm_layer *v = &m->layers[0];
        CHECK(strcmp(v->type, "visionFeaturePrint") == 0 && strcmp(v->name, "model") == 0 &&
              strcmp(v->model_path, "models[0]") == 0);
        CHECK(v->verdict == ANET_CM_UNKNOWN && !strstr(anet_cm_detail(v), "not neural"));
        CHECK(strcmp(m->layers[1].type, "textClassifier") == 0);
        const anet_cm_layer *b = find(m, "body_lstm");
        CHECK(b && strcmp(b->model_path, "models[2]/loop/body") == 0 && b->verdict == ANET_CM_CPU);
        const anet_cm_layer *u = find(m, "un");
        CHECK(u && u->subtype && strcmp(u->subtype, "exp") == 0);
        int upd = 0;
        for (int i = 0; i < m->nnotes; i++) upd |= strstr(m->notes[i], "updatable") != NULL;
        CHECK(upd);
        anet_coreml_free(m);
    }
    /* No cpu layer: no ANE <-> CPU switch, however ane and unknown alternate; and a model with
     * no layer on the ANE is "not at all" (2), not "partly". */
    buf n2 = {0}, m2 = {0};
    layer(&n2, "a", "x", NULL, "a1", 100, NULL);
    layer(&n2, "t", "a1", NULL, "t1", 985, NULL); /* transpose: unknown */
    layer(&n2, "b", "t1", NULL, "y", 100, NULL);
    model(&m2, 500, &n2, "x", "y");
    CHECK(anet_coreml_parse_mlmodel(m2.p, m2.n, NULL, 0, "sw.mlmodel", &m) == ANET_OK);
    free(m2.p);
    if (m) {
        CHECK(anet_coreml_analyze(m, ANET_CHIP_STRICT) == ANET_OK);
        CHECK_EQ_INT(m->switches, 0);
        CHECK_EQ_INT(anet_coreml_compat(m), 1);
        anet_coreml_free(m);
    }
}

/* Issue 16 items 2, 12, 13: budgets from what a file holds, symlinks out of a bundle, ".."
 * inside a name, foreign formats named. */
static void test_hardening(void) {
    char p[512], q[700];
    /* model.mil a symlink to a file outside the bundle: refused, its bytes never quoted. */
    snprintf(q, sizeof q, "%s/outside.txt", dir);
    write_file(q, "root:x:0:0:root:/root:/bin/bash\n", 32);
    snprintf(p, sizeof p, "%s/link.mlmodelc", dir);
    mkdir(p, 0755);
    char lp[700];
    snprintf(lp, sizeof lp, "%s/model.mil", p);
    CHECK(symlink(q, lp) == 0);
    anet_cm_model *m = NULL;
    CHECK_EQ_INT(anet_coreml_load(p, &m), ANET_E_FORMAT);
    CHECK_STR_CONTAINS(anet_last_error(), "symbolic link leaving the bundle");
    CHECK(!strstr(anet_last_error(), "root"));
    /* A symlink inside the bundle is fine. */
    snprintf(q, sizeof q, "%s/real.mil", p);
    write_file(q, COREMLTOOLS_CNN, strlen(COREMLTOOLS_CNN));
    unlink(lp);
    CHECK(symlink("real.mil", lp) == 0);
    CHECK_EQ_INT(anet_coreml_load(p, &m), ANET_OK);
    anet_coreml_free(m);
    m = NULL;
    /* A Git LFS pointer where the weights should be: said in a note, verdicts unchanged. */
    const char *bp = bundle("lfsw", COREMLTOOLS_CNN);
    snprintf(q, sizeof q, "%s/weights", bp);
    mkdir(q, 0755);
    snprintf(q, sizeof q, "%s/weights/weight.bin", bp);
    const char *ptr = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146\nsize 123456\n";
    write_file(q, ptr, strlen(ptr));
    m = load(bp, ANET_CM_RULES_DEFAULT, ANET_CHIP_STRICT);
    if (m) {
        int lfs = 0;
        for (int i = 0; i < m->nnotes; i++) lfs |= strstr(m->notes[i], "Git LFS pointer") != NULL;
        CHECK(lfs);
        CHECK_EQ_INT(anet_coreml_compat(m), 0);
        anet_coreml_free(m);
        m = NULL;
    }
    /* Foreign formats get named. */
    static const struct {
        const char *name, *bytes, *want;
        size_t n;
    } foreign[] = {{"m.onnx", "\x08\x07\x12\x07pytorch", "ONNX", 11},
                   {"w.bin", "PK\x03\x04\x14\x00\x00\x00", "ZIP", 8},
                   {"p.bin", "\x80\x02}q\x00", "pickle", 5},
                   {"lfs.mlmodel", "version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 12\n", "Git LFS", 64}};
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        snprintf(q, sizeof q, "%s/%s", dir, foreign[i].name);
        write_file(q, foreign[i].bytes, foreign[i].n);
        CHECK_EQ_INT(anet_coreml_load(q, &m), ANET_E_FORMAT);
        CHECK_STR_CONTAINS(anet_last_error(), foreign[i].want);
        CHECK_STR_CONTAINS(anet_last_error(), "not a Core ML model");
    }
    /* A package whose spec name holds ".." inside a name (not a component) is read. */
    buf nn = {0}, mb = {0};
    layer(&nn, "c", "x", NULL, "y", 100, NULL);
    model(&mb, 500, &nn, "x", "y");
    snprintf(p, sizeof p, "%s/dots.mlpackage", dir);
    mkdir(p, 0755);
    snprintf(q, sizeof q, "%s/Data", p), mkdir(q, 0755);
    snprintf(q, sizeof q, "%s/Data/a..b", p), mkdir(q, 0755);
    snprintf(q, sizeof q, "%s/Data/a..b/model..v2.mlmodel", p);
    write_file(q, mb.p, mb.n);
    free(mb.p);
    snprintf(q, sizeof q, "%s/Manifest.json", p);
    const char *man = "{\"itemInfoEntries\": {\"A\": {\"path\": \"a..b/model..v2.mlmodel\"}}, \"rootModelIdentifier\": \"A\"}";
    write_file(q, man, strlen(man));
    CHECK_MSG(anet_coreml_load(p, &m) == ANET_OK, "%s", anet_last_error());
    anet_coreml_free(m);
    m = NULL;
    const char *evil = "{\"itemInfoEntries\": {\"A\": {\"path\": \"a..b/../../x.mlmodel\"}}, \"rootModelIdentifier\": \"A\"}";
    write_file(q, evil, strlen(evil));
    CHECK_EQ_INT(anet_coreml_load(p, &m), ANET_E_FORMAT);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/anet_cmmil_%d", (int)getpid());
    mkdir(dir, 0755);
    test_coremltools_default();
    test_apple_constructs();
    test_malformed_text();
    test_strict_inline_literals();
    test_pipeline_bundle();
    test_opset();
    test_doc_agrees();
    test_nn_vs_mlprogram();
    test_presentation();
    test_hardening();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    TEST_MAIN_END();
}
