/* Core ML placement rules for ML Program ops: the rules `check` applies to files that Core
 * ML's own compiler builds (.mlmodel, .mlpackage, .mlmodelc). Every public MIL op of the
 * iOS15..iOS18 opsets (apple/coremltools coremltools/converters/mil/mil/ops/defs/iOS1[5-8]/)
 * is judged as the NeuralNetwork layer kind Core ML's converters map it to, with that layer's
 * rules (src/plan/rules_nn.c), so the two forms of one network get the same verdicts; ops
 * with no NeuralNetwork counterpart name their rule here. The private API's in-memory
 * compile rules (src/plan/constraints.c) are the other rule set (`check --rules private`). */
#include <stdio.h>
#include <string.h>

#include "coreml/coreml.h"

#define SRC_TYPED "Apple coremltools docs, Typed Execution (typed-execution.md: the Neural Engine computes in float 16; float 32 precision runs on the GPU or CPU)"

enum { C_FP32, C_CAST, C_LOAD_TIME, C_NOT_PUBLIC, C_COUNT };

static const anet_rule cm_rules[C_COUNT] = {
    [C_FP32] = {"coreml-fp32-compute", "ML Program ops computing in fp32 run off the ANE",
                "The Neural Engine computes in fp16; an op of an fp32 ML Program (compute_precision FLOAT32) runs on the GPU or CPU.",
                SRC_TYPED, ANET_CHIPS_ALL},
    [C_CAST] = {"coreml-cast-boundary", "fp32 <-> fp16 casts at the model's boundary follow their neighbours",
                "Core ML converts fp32 inputs to fp16 and back at the boundary of an fp16 program; the cast runs with the ops it serves.",
                SRC_TYPED " (fp16 programs with fp32 inputs and outputs)", ANET_CHIPS_ALL},
    [C_LOAD_TIME] = {"coreml-load-time", "constexpr ops are evaluated when the model is loaded",
                     "Weight decompression (constexpr_*) runs once at load time, not when the model predicts, so it places nothing on any device.",
                     "apple/coremltools constexpr_ops.py (\"evaluated at compile time\"); coremltools docs, Optimization Overview",
                     ANET_CHIPS_ALL},
    [C_NOT_PUBLIC] = {"coreml-op-not-public", "Op outside the public MIL opsets",
                      "This op is not in the public MIL opsets iOS15..iOS18 (coremltools' op registry), so no rule knows it; only the OS can tell.",
                      "apple/coremltools coremltools/converters/mil/mil/ops/defs/ (the public op registry)", ANET_CHIPS_ALL},
};

const anet_rule *anet_rules_coreml(int *n) {
    *n = C_COUNT;
    return cm_rules;
}

const anet_rule *anet_rule_coreml_find(const char *id) {
    for (int i = 0; i < C_COUNT; i++)
        if (strcmp(cm_rules[i].id, id) == 0) return &cm_rules[i];
    return NULL;
}

/* NeuralNetworkLayer fields (NeuralNetwork.proto) the ops are judged as. */
enum {
    CONV = 100, POOL = 120, ACT = 130, IP = 140, BN = 160, MVN = 165, L2N = 170, SOFTMAX = 175, LRN = 180,
    CROP = 190, PAD = 200, UPS = 210, RESIZE = 211, CROPRESIZE = 212, UNARY = 220, ADD = 230, MUL = 231,
    MAX = 260, MIN = 261, REDUCE = 280, RESHAPE = 300, FLATTEN = 301, PERMUTE = 310, CONCAT = 320,
    SPLIT = 330, REORG = 345, SLICE = 350, RNN = 400, GRU = 410, LSTM = 420, COPY = 600, BRANCH = 605,
    LOOP = 615, RANGE = 635, CLIP = 660, CEIL = 665, FLOOR = 670, SIGN = 680, ROUND = 685, EXP2 = 700,
    SIN = 710, COS = 715, TAN = 720, ASIN = 730, ACOS = 735, ATAN = 740, SINH = 750, COSH = 755,
    ATANH = 780, ERF = 790, GELU = 795, EQ = 815, NE = 820, LT = 825, LE = 827, GT = 830, GE = 832,
    LOR = 840, LXOR = 845, LNOT = 850, LAND = 855, MOD = 865, POW = 885, DIV = 890, FLOORDIV = 895,
    TILE = 920, STACK = 925, GATHER = 930, SCATTER = 935, GATHERND = 940, SCATTERND = 945,
    GATHERAXIS = 952, SCATTERAXIS = 954, REVERSE = 960, REVSEQ = 965, SLIDING = 1005, TOPK = 1015,
    ARGMIN = 1020, ARGMAX = 1025, BMM = 1045, SHAPE = 1065, FILLLIKE = 1080, FILL = 1085,
    SQUEEZE = 1120, EXPAND = 1125, RESHAPELIKE = 1135, RNORMAL = 1175, RUNIFORM = 1195,
    RBERNOULLI = 1215, RCATEGORICAL = 1230, NONZERO = 1313, BANDPART = 1315, WHERE = 1330,
    LAYERNORM = 1350, NMS = 1400, ONEHOT = 1450, CUMSUM = 1455, CLAMPEDRELU = 1460, ARGSORT = 1461,
    UNREPORTED = 0 /* with rule nn-layer-unreported */
};

#define R_UNREP "nn-layer-unreported"
#define R_LOAD "coreml-load-time"
#define R_CASTB "coreml-cast-boundary"

/* Sorted by name (binary search). The NeuralNetwork kind is the layer Core ML's
 * NeuralNetwork converter emits for the op (or the closest one: sub as add, square as the
 * unary power); ops without one are unreported. */
static const anet_mil_op_info ops[] = {
    {"abs", "iOS15", UNARY, NULL},
    {"acos", "iOS15", ACOS, NULL},
    {"add", "iOS15", ADD, NULL},
    {"affine", "iOS15", UNREPORTED, R_UNREP},
    {"argsort", "iOS15", ARGSORT, NULL},
    {"asin", "iOS15", ASIN, NULL},
    {"atan", "iOS15", ATAN, NULL},
    {"atanh", "iOS15", ATANH, NULL},
    {"avg_pool", "iOS15", POOL, NULL},
    {"band_part", "iOS15", BANDPART, NULL},
    {"batch_norm", "iOS15", BN, NULL},
    {"batch_to_space", "iOS15", UNREPORTED, R_UNREP},
    {"cast", "iOS15", UNREPORTED, R_CASTB},
    {"ceil", "iOS15", CEIL, NULL},
    {"clamped_relu", "iOS15", CLAMPEDRELU, NULL},
    {"classify", "iOS15", UNREPORTED, R_UNREP},
    {"clip", "iOS15", CLIP, NULL},
    {"concat", "iOS15", CONCAT, NULL},
    {"cond", "iOS15", BRANCH, NULL},
    {"constexpr_affine_dequantize", "iOS16", UNREPORTED, R_LOAD},
    {"constexpr_blockwise_shift_scale", "iOS18", UNREPORTED, R_LOAD},
    {"constexpr_cast", "iOS16", UNREPORTED, R_LOAD},
    {"constexpr_lut_to_dense", "iOS16", UNREPORTED, R_LOAD},
    {"constexpr_lut_to_sparse", "iOS18", UNREPORTED, R_LOAD},
    {"constexpr_sparse_blockwise_shift_scale", "iOS18", UNREPORTED, R_LOAD},
    {"constexpr_sparse_to_dense", "iOS16", UNREPORTED, R_LOAD},
    {"conv", "iOS15", CONV, NULL},
    {"conv_quantized", "iOS15", CONV, NULL},
    {"conv_transpose", "iOS15", CONV, NULL},
    {"coreml_update_state", "iOS18", UNREPORTED, R_UNREP},
    {"cos", "iOS15", COS, NULL},
    {"cosh", "iOS15", COSH, NULL},
    {"crop", "iOS15", CROP, NULL},
    {"crop_resize", "iOS15", CROPRESIZE, NULL},
    {"cumsum", "iOS15", CUMSUM, NULL},
    {"depth_to_space", "iOS15", REORG, NULL},
    {"dequantize", "iOS17", UNREPORTED, R_UNREP},
    {"einsum", "iOS15", BMM, NULL},
    {"elu", "iOS15", ACT, NULL},
    {"equal", "iOS15", EQ, NULL},
    {"erf", "iOS15", ERF, NULL},
    {"exp", "iOS15", UNARY, NULL},
    {"exp2", "iOS15", EXP2, NULL},
    {"expand_dims", "iOS15", EXPAND, NULL},
    {"fill", "iOS15", FILL, NULL},
    {"fill_like", "iOS16", FILLLIKE, NULL},
    {"flatten2d", "iOS15", FLATTEN, NULL},
    {"floor", "iOS15", FLOOR, NULL},
    {"floor_div", "iOS15", FLOORDIV, NULL},
    {"gather", "iOS15", GATHER, NULL},
    {"gather_along_axis", "iOS15", GATHERAXIS, NULL},
    {"gather_nd", "iOS15", GATHERND, NULL},
    {"gelu", "iOS15", GELU, NULL},
    {"greater", "iOS15", GT, NULL},
    {"greater_equal", "iOS15", GE, NULL},
    {"gru", "iOS15", GRU, NULL},
    {"identity", "iOS15", COPY, NULL},
    {"instance_norm", "iOS15", BN, NULL},
    {"inverse", "iOS15", UNARY, NULL},
    {"l2_norm", "iOS15", L2N, NULL},
    {"l2_pool", "iOS15", POOL, NULL},
    {"layer_norm", "iOS15", LAYERNORM, NULL},
    {"leaky_relu", "iOS15", ACT, NULL},
    {"less", "iOS15", LT, NULL},
    {"less_equal", "iOS15", LE, NULL},
    {"linear", "iOS15", IP, NULL},
    {"linear_activation", "iOS15", ACT, NULL},
    {"list_gather", "iOS15", UNREPORTED, R_UNREP},
    {"list_length", "iOS15", UNREPORTED, R_UNREP},
    {"list_read", "iOS15", UNREPORTED, R_UNREP},
    {"list_scatter", "iOS15", UNREPORTED, R_UNREP},
    {"list_write", "iOS15", UNREPORTED, R_UNREP},
    {"local_response_norm", "iOS15", LRN, NULL},
    {"log", "iOS15", UNARY, NULL},
    {"logical_and", "iOS15", LAND, NULL},
    {"logical_not", "iOS15", LNOT, NULL},
    {"logical_or", "iOS15", LOR, NULL},
    {"logical_xor", "iOS15", LXOR, NULL},
    {"lstm", "iOS15", LSTM, NULL},
    {"make_list", "iOS15", UNREPORTED, R_UNREP},
    {"matmul", "iOS15", BMM, NULL},
    {"max_pool", "iOS15", POOL, NULL},
    {"maximum", "iOS15", MAX, NULL},
    {"minimum", "iOS15", MIN, NULL},
    {"mod", "iOS15", MOD, NULL},
    {"mul", "iOS15", MUL, NULL},
    {"non_maximum_suppression", "iOS15", NMS, NULL},
    {"non_zero", "iOS15", NONZERO, NULL},
    {"not_equal", "iOS15", NE, NULL},
    {"one_hot", "iOS15", ONEHOT, NULL},
    {"pad", "iOS15", PAD, NULL},
    {"pixel_shuffle", "iOS15", REORG, NULL},
    {"pixel_unshuffle", "iOS16", REORG, NULL},
    {"pow", "iOS15", POW, NULL},
    {"prelu", "iOS15", ACT, NULL},
    {"quantize", "iOS17", UNREPORTED, R_UNREP},
    {"random_bernoulli", "iOS15", RBERNOULLI, NULL},
    {"random_categorical", "iOS15", RCATEGORICAL, NULL},
    {"random_normal", "iOS15", RNORMAL, NULL},
    {"random_uniform", "iOS15", RUNIFORM, NULL},
    {"range_1d", "iOS15", RANGE, NULL},
    {"read_state", "iOS18", UNREPORTED, R_UNREP},
    {"real_div", "iOS15", DIV, NULL},
    {"reduce_argmax", "iOS15", ARGMAX, NULL},
    {"reduce_argmin", "iOS15", ARGMIN, NULL},
    {"reduce_l1_norm", "iOS15", REDUCE, NULL},
    {"reduce_l2_norm", "iOS15", REDUCE, NULL},
    {"reduce_log_sum", "iOS15", REDUCE, NULL},
    {"reduce_log_sum_exp", "iOS15", REDUCE, NULL},
    {"reduce_max", "iOS15", REDUCE, NULL},
    {"reduce_mean", "iOS15", REDUCE, NULL},
    {"reduce_min", "iOS15", REDUCE, NULL},
    {"reduce_prod", "iOS15", REDUCE, NULL},
    {"reduce_sum", "iOS15", REDUCE, NULL},
    {"reduce_sum_square", "iOS15", REDUCE, NULL},
    {"relu", "iOS15", ACT, NULL},
    {"relu6", "iOS15", ACT, NULL},
    {"resample", "iOS15", UNREPORTED, R_UNREP},
    {"reshape", "iOS15", RESHAPE, NULL},
    {"reshape_like", "iOS16", RESHAPELIKE, NULL},
    {"resize", "iOS17", RESIZE, NULL},
    {"resize_bilinear", "iOS15", RESIZE, NULL},
    {"resize_nearest_neighbor", "iOS15", UPS, NULL},
    {"reverse", "iOS15", REVERSE, NULL},
    {"reverse_sequence", "iOS15", REVSEQ, NULL},
    {"rnn", "iOS15", RNN, NULL},
    {"round", "iOS15", ROUND, NULL},
    {"rsqrt", "iOS15", UNARY, NULL},
    {"scaled_dot_product_attention", "iOS18", UNREPORTED, R_UNREP},
    {"scaled_tanh", "iOS15", ACT, NULL},
    {"scatter", "iOS15", SCATTER, NULL},
    {"scatter_along_axis", "iOS15", SCATTERAXIS, NULL},
    {"scatter_nd", "iOS15", SCATTERND, NULL},
    {"select", "iOS15", WHERE, NULL},
    {"shape", "iOS15", SHAPE, NULL},
    {"sigmoid", "iOS15", ACT, NULL},
    {"sigmoid_hard", "iOS15", ACT, NULL},
    {"sign", "iOS15", SIGN, NULL},
    {"silu", "iOS15", ACT, NULL},
    {"sin", "iOS15", SIN, NULL},
    {"sinh", "iOS15", SINH, NULL},
    {"slice_by_index", "iOS15", SLICE, NULL},
    {"slice_by_size", "iOS15", SLICE, NULL},
    {"slice_update", "iOS18", UNREPORTED, R_UNREP},
    {"sliding_windows", "iOS15", SLIDING, NULL},
    {"softmax", "iOS15", SOFTMAX, NULL},
    {"softplus", "iOS15", ACT, NULL},
    {"softplus_parametric", "iOS15", ACT, NULL},
    {"softsign", "iOS15", ACT, NULL},
    {"space_to_batch", "iOS15", UNREPORTED, R_UNREP},
    {"space_to_depth", "iOS15", REORG, NULL},
    {"split", "iOS15", SPLIT, NULL},
    {"sqrt", "iOS15", UNARY, NULL},
    {"square", "iOS15", UNARY, NULL},
    {"squeeze", "iOS15", SQUEEZE, NULL},
    {"stack", "iOS15", STACK, NULL},
    {"sub", "iOS15", ADD, NULL},
    {"tan", "iOS15", TAN, NULL},
    {"tanh", "iOS15", ACT, NULL},
    {"threshold", "iOS15", UNARY, NULL},
    {"thresholded_relu", "iOS15", ACT, NULL},
    {"tile", "iOS15", TILE, NULL},
    {"topk", "iOS15", TOPK, NULL},
    {"transpose", "iOS15", PERMUTE, NULL},
    {"upsample_bilinear", "iOS15", UPS, NULL},
    {"upsample_nearest_neighbor", "iOS15", UPS, NULL},
    {"while_loop", "iOS15", LOOP, NULL},
};

const anet_mil_op_info *anet_mil_opset(int *n) {
    *n = (int)(sizeof ops / sizeof ops[0]);
    return ops;
}

const anet_mil_op_info *anet_mil_op_find(const char *name) {
    size_t lo = 0, hi = sizeof ops / sizeof ops[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ops[mid].name, name);
        if (c == 0) return &ops[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static int outputs_fp32(const anet_cm_layer *l) {
    for (int i = 0; i < l->noutputs; i++)
        if (strcmp(l->out_shapes[i].dtype, "fp32") == 0 || strcmp(l->out_shapes[i].dtype, "fp64") == 0) return 1;
    return 0;
}

static void put(anet_cm_layer *l, const anet_rule *r, anet_cm_placement p, const char *fmt, const char *a,
                const char *b) {
    l->verdict = p;
    l->rule = r;
    anet_cm_set_detail(l, fmt, a, b);
}

void anet_rules_coreml_check(anet_cm_layer *l, anet_chip chip) {
    const anet_mil_op_info *o = anet_mil_op_find(l->type);
    if (!o) {
        put(l, &cm_rules[C_NOT_PUBLIC], ANET_CM_UNKNOWN, "op type '%s' is not a public MIL op%s", l->type, "");
        return;
    }
    if (o->rule && strcmp(o->rule, R_LOAD) == 0) {
        put(l, &cm_rules[C_LOAD_TIME], ANET_CM_ANE, "%s: weights decompressed at load time%s", l->type, "");
        return;
    }
    if (o->rule && strcmp(o->rule, R_CASTB) == 0) {
        /* A boundary cast: judged again by the analysis after its neighbours (analyze.c). */
        put(l, &cm_rules[C_CAST], ANET_CM_ANE, "cast to %s%s", l->noutputs && l->out_shapes[0].dtype[0] ? l->out_shapes[0].dtype : "?", "");
        return;
    }
    if (outputs_fp32(l)) {
        put(l, &cm_rules[C_FP32], ANET_CM_CPU, "%s op computes a float32/64 value '%s'", l->type, l->outputs[0]);
        return;
    }
    if (l->nscale == 0 && l->nfscale == 0 && strcmp(l->type, "conv_transpose") == 0) l->deconv = 1;
    anet_rules_nn_judge(l, chip, o->nn_field);
    /* Name the NeuralNetwork kind that decided, so the two forms of a network read alike. */
    const char *nn = o->nn_field ? anet_nn_layer_name(o->nn_field) : NULL;
    if (nn && strcmp(nn, l->type) != 0) {
        char buf[96];
        snprintf(buf, sizeof buf, " (judged as NeuralNetwork %s)", nn);
        anet_cm_append_detail(l, buf);
    }
}
