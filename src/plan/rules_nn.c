/* Rules for Core ML NeuralNetwork layers (the pre-ML-Program format), in the anet_rule form
 * of constraints.h. Sources are those collected in ANE_FACTS.md; every one is a report, not
 * an Apple statement, so a verdict built from them reads "likely". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "coreml/coreml.h"

#define SRC_HOLLANCE "hollance/neural-engine docs/unsupported-layers.md"

enum {
    R_OK, R_UNREPORTED, R_CUSTOM, R_RNN, R_GATHER, R_DILATED, R_BCAST_ND, R_POOL_KERNEL,
    R_POOL_STRIDE, R_UPSAMPLE, R_RANK, R_AXIS, R_FP32, R_EMBEDDING, R_BCAST_CHW, R_NOT_NEURAL,
    R_CUSTOM_MODEL, R_MIL_OK, R_MIL_UNMODELED, R_COUNT
};

static const anet_rule nn_rules[R_COUNT] = {
    [R_OK] = {"nn-layer-ok", "Layer type with no reported ANE problem",
              "This layer type is not on any public list of layers that leave the Neural Engine, so it likely runs there.",
              SRC_HOLLANCE " (layers absent from its problem list; upsampling and deconvolution reported to work)",
              ANET_CHIPS_ALL},
    [R_UNREPORTED] = {"nn-layer-unreported", "Layer type with no public report either way",
                      "No public report says whether this layer type runs on the Neural Engine; only the OS can tell.",
                      "apple/coremltools#1780 (Apple: there is no static list of supported layers)", ANET_CHIPS_ALL},
    [R_CUSTOM] = {"nn-custom-layer", "Custom layers never run on the ANE",
                  "Custom layers only have CPU and GPU implementations, so Core ML runs them off the Neural Engine.",
                  SRC_HOLLANCE " (Custom layers)", ANET_CHIPS_ALL},
    [R_RNN] = {"nn-rnn", "Recurrent layers (simple RNN, GRU, LSTM) fall back",
               "Recurrent layers (simpleRecurrent, GRU, uni- and bidirectional LSTM) are reported not to run on the Neural Engine.",
               SRC_HOLLANCE " (RNN layers such as LSTM or GRU)", ANET_CHIPS_ALL},
    [R_GATHER] = {"nn-gather", "gather, gatherND, gatherAlongAxis and topK fall back",
                  "Gather-style indexing layers (gather, gatherND, gatherAlongAxis, topK) are reported not to run on the Neural Engine.",
                  SRC_HOLLANCE " (gather); ANE_FACTS.md (gatherAlongAxis, topk)", ANET_CHIPS_ALL},
    [R_DILATED] = {"nn-dilated-conv", "Dilated convolutions fall back",
                   "Convolutions with a dilation factor above 1 are reported not to run on the Neural Engine.",
                   SRC_HOLLANCE " (dilated convolutions)", ANET_CHIPS_ALL},
    [R_BCAST_ND] = {"nn-broadcastable-nd", "Broadcastable and ND layers fall back",
                    "The broadcastable and \"ND\" layers added in Core ML 3 are reported to send the model to the CPU or GPU; the older layer types (add, multiply, concat) are the ANE-friendly replacements.",
                    SRC_HOLLANCE " (Broadcastable layers)", ANET_CHIPS_ALL},
    [R_POOL_KERNEL] = {"nn-pool-kernel-max-13", "Pooling kernels above 13 fall back",
                       "Pooling with a kernel larger than 13 in either dimension is reported not to run on the Neural Engine.",
                       SRC_HOLLANCE " (pooling kernels larger than 13); ANE_FACTS.md", ANET_CHIPS_ALL},
    [R_POOL_STRIDE] = {"nn-pool-stride-max-2", "Pooling strides above 2 fall back",
                       "Pooling with a stride larger than 2 is reported not to run on the Neural Engine.",
                       SRC_HOLLANCE " (pooling strides above 2); ANE_FACTS.md", ANET_CHIPS_ALL},
    [R_UPSAMPLE] = {"nn-upsample-max-2", "Upsampling by more than 2 falls back",
                    "Upsampling by a factor larger than 2 is reported not to run on the Neural Engine.",
                    SRC_HOLLANCE " (upsampling by more than 2); ANE_FACTS.md", ANET_CHIPS_ALL},
    [R_RANK] = {"nn-rank-max-5", "Tensors of rank above 5 are rejected",
                "The ANE compiler rejects tensors of rank above 5.", "apple/coremltools#1723", ANET_CHIPS_ALL},
    [R_AXIS] = {"nn-axis-range", "Axis sizes: N, C <= 65536; D, H, W <= 16384",
                "The ANE compiler rejects tensors whose batch or channel size exceeds 65536 or whose spatial sizes exceed 16384.",
                "pytorch/executorch#7907 (ANE compiler error message)", ANET_CHIPS_ALL},
    [R_FP32] = {"nn-fp32-only", "Layers producing indices or shapes need integer/fp32 math",
                "This layer produces integer indices or shapes, which the fp16/int8-only Neural Engine does not compute.",
                "tinygrad extra/accel/ane/README.md (ANE data types fp16, int8, uint8); ANE_FACTS.md", ANET_CHIPS_ALL},
    [R_EMBEDDING] = {"nn-embedding", "Embedding lookups fall back",
                     "Embedding layers are table lookups (a gather) and are reported not to run on the Neural Engine.",
                     "hollance/neural-engine issues, as collected in ANE_FACTS.md", ANET_CHIPS_ALL},
    [R_BCAST_CHW] = {"nn-broadcast-chw-c11", "C x H x W times C x 1 x 1 broadcasts fall back",
                     "Elementwise layers that broadcast a C x 1 x 1 tensor against a C x H x W one are reported to run off the Neural Engine.",
                     "hollance/neural-engine issues, as collected in ANE_FACTS.md", ANET_CHIPS_ALL},
    [R_NOT_NEURAL] = {"nn-model-not-neural", "Models that are not neural networks run on the CPU",
                      "Only neural network and ML Program models can use the Neural Engine; this model kind runs on the CPU.",
                      "Apple Core ML documentation, MLComputeUnits (the Neural Engine serves neural networks)", ANET_CHIPS_ALL},
    [R_CUSTOM_MODEL] = {"nn-custom-model", "Custom models never run on the ANE",
                        "A custom model is the app's own code, which Core ML runs on the CPU.",
                        SRC_HOLLANCE " (Custom layers: no public API to program the ANE)", ANET_CHIPS_ALL},
    [R_MIL_OK] = {"mil-op-ok", "ML Program op that no rule of the constraint table rejects",
                  "No rule of the constraint table rejects this op on the chosen chip, so it likely runs on the Neural Engine.",
                  "src/plan/constraints.c (the constraint table; see docs/check.md for each rule's source)", ANET_CHIPS_ALL},
    [R_MIL_UNMODELED] = {"mil-op-unmodeled", "ML Program op this checker could not model",
                         "The op uses something the checker's graph IR does not hold (a dtype, a flexible shape, a control-flow block), so no rule could judge it.",
                         "src/coreml/mlprogram_ir.c (a limit of this checker, not of the ANE)", ANET_CHIPS_ALL},
};

const anet_rule *anet_rules_nn(int *n) {
    *n = R_COUNT;
    return nn_rules;
}

const anet_rule *anet_rule_nn_find(const char *id) {
    for (int i = 0; i < R_COUNT; i++)
        if (strcmp(nn_rules[i].id, id) == 0) return &nn_rules[i];
    return NULL;
}

/* NeuralNetworkLayer oneof fields (NeuralNetwork.proto) with the rule that decides them
 * before any parameter is looked at. */
static const struct layer_kind {
    int field;
    const char *name;
    int rule;
} kinds[] = {
    {100, "convolution", R_OK}, {120, "pooling", R_OK}, {130, "activation", R_OK},
    {140, "innerProduct", R_OK}, {150, "embedding", R_EMBEDDING}, {160, "batchnorm", R_OK},
    {165, "mvn", R_OK}, {170, "l2normalize", R_OK}, {175, "softmax", R_OK}, {180, "lrn", R_OK},
    {190, "crop", R_OK}, {200, "padding", R_OK}, {210, "upsample", R_OK},
    {211, "resizeBilinear", R_UNREPORTED}, {212, "cropResize", R_UNREPORTED}, {220, "unary", R_OK},
    {230, "add", R_OK}, {231, "multiply", R_OK}, {240, "average", R_OK}, {245, "scale", R_OK},
    {250, "bias", R_OK}, {260, "max", R_OK}, {261, "min", R_OK}, {270, "dot", R_UNREPORTED},
    {280, "reduce", R_OK}, {290, "loadConstant", R_OK}, {300, "reshape", R_OK},
    {301, "flatten", R_OK}, {310, "permute", R_OK}, {320, "concat", R_OK}, {330, "split", R_OK},
    {340, "sequenceRepeat", R_UNREPORTED}, {345, "reorganizeData", R_OK}, {350, "slice", R_OK},
    {400, "simpleRecurrent", R_RNN}, {410, "gru", R_RNN}, {420, "uniDirectionalLSTM", R_RNN},
    {430, "biDirectionalLSTM", R_RNN}, {500, "custom", R_CUSTOM},
    {600, "copy", R_UNREPORTED}, {605, "branch", R_UNREPORTED}, {615, "loop", R_UNREPORTED},
    {620, "loopBreak", R_UNREPORTED}, {625, "loopContinue", R_UNREPORTED},
    {635, "rangeStatic", R_FP32}, {640, "rangeDynamic", R_FP32}, {660, "clip", R_UNREPORTED},
    {665, "ceil", R_UNREPORTED}, {670, "floor", R_UNREPORTED}, {680, "sign", R_UNREPORTED},
    {685, "round", R_UNREPORTED}, {700, "exp2", R_UNREPORTED}, {710, "sin", R_UNREPORTED},
    {715, "cos", R_UNREPORTED}, {720, "tan", R_UNREPORTED}, {730, "asin", R_UNREPORTED},
    {735, "acos", R_UNREPORTED}, {740, "atan", R_UNREPORTED}, {750, "sinh", R_UNREPORTED},
    {755, "cosh", R_UNREPORTED}, {760, "tanh", R_UNREPORTED}, {770, "asinh", R_UNREPORTED},
    {775, "acosh", R_UNREPORTED}, {780, "atanh", R_UNREPORTED}, {790, "erf", R_UNREPORTED},
    {795, "gelu", R_UNREPORTED}, {815, "equal", R_UNREPORTED}, {820, "notEqual", R_UNREPORTED},
    {825, "lessThan", R_UNREPORTED}, {827, "lessEqual", R_UNREPORTED},
    {830, "greaterThan", R_UNREPORTED}, {832, "greaterEqual", R_UNREPORTED},
    {840, "logicalOr", R_UNREPORTED}, {845, "logicalXor", R_UNREPORTED},
    {850, "logicalNot", R_UNREPORTED}, {855, "logicalAnd", R_UNREPORTED},
    {865, "modBroadcastable", R_BCAST_ND}, {870, "minBroadcastable", R_BCAST_ND},
    {875, "maxBroadcastable", R_BCAST_ND}, {880, "addBroadcastable", R_BCAST_ND},
    {885, "powBroadcastable", R_BCAST_ND}, {890, "divideBroadcastable", R_BCAST_ND},
    {895, "floorDivBroadcastable", R_BCAST_ND}, {900, "multiplyBroadcastable", R_BCAST_ND},
    {905, "subtractBroadcastable", R_BCAST_ND}, {920, "tile", R_UNREPORTED},
    {925, "stack", R_UNREPORTED}, {930, "gather", R_GATHER}, {935, "scatter", R_UNREPORTED},
    {940, "gatherND", R_GATHER}, {945, "scatterND", R_BCAST_ND}, {950, "softmaxND", R_BCAST_ND},
    {952, "gatherAlongAxis", R_GATHER}, {954, "scatterAlongAxis", R_UNREPORTED},
    {960, "reverse", R_UNREPORTED}, {965, "reverseSeq", R_UNREPORTED}, {975, "splitND", R_BCAST_ND},
    {980, "concatND", R_BCAST_ND}, {985, "transpose", R_UNREPORTED},
    {995, "sliceStatic", R_UNREPORTED}, {1000, "sliceDynamic", R_UNREPORTED},
    {1005, "slidingWindows", R_UNREPORTED}, {1015, "topK", R_GATHER}, {1020, "argMin", R_FP32},
    {1025, "argMax", R_FP32}, {1040, "embeddingND", R_EMBEDDING},
    {1045, "batchedMatmul", R_UNREPORTED}, {1065, "getShape", R_FP32},
    {1070, "loadConstantND", R_BCAST_ND}, {1080, "fillLike", R_UNREPORTED},
    {1085, "fillStatic", R_UNREPORTED}, {1090, "fillDynamic", R_UNREPORTED},
    {1100, "broadcastToLike", R_UNREPORTED}, {1105, "broadcastToStatic", R_UNREPORTED},
    {1110, "broadcastToDynamic", R_UNREPORTED}, {1120, "squeeze", R_UNREPORTED},
    {1125, "expandDims", R_UNREPORTED}, {1130, "flattenTo2D", R_UNREPORTED},
    {1135, "reshapeLike", R_UNREPORTED}, {1140, "reshapeStatic", R_UNREPORTED},
    {1145, "reshapeDynamic", R_UNREPORTED}, {1150, "rankPreservingReshape", R_UNREPORTED},
    {1155, "constantPad", R_UNREPORTED}, {1170, "randomNormalLike", R_UNREPORTED},
    {1175, "randomNormalStatic", R_UNREPORTED}, {1180, "randomNormalDynamic", R_UNREPORTED},
    {1190, "randomUniformLike", R_UNREPORTED}, {1195, "randomUniformStatic", R_UNREPORTED},
    {1200, "randomUniformDynamic", R_UNREPORTED}, {1210, "randomBernoulliLike", R_UNREPORTED},
    {1215, "randomBernoulliStatic", R_UNREPORTED}, {1220, "randomBernoulliDynamic", R_UNREPORTED},
    {1230, "categoricalDistribution", R_UNREPORTED}, {1250, "reduceL1", R_UNREPORTED},
    {1255, "reduceL2", R_UNREPORTED}, {1260, "reduceMax", R_UNREPORTED},
    {1265, "reduceMin", R_UNREPORTED}, {1270, "reduceSum", R_UNREPORTED},
    {1275, "reduceProd", R_UNREPORTED}, {1280, "reduceMean", R_UNREPORTED},
    {1285, "reduceLogSum", R_UNREPORTED}, {1290, "reduceSumSquare", R_UNREPORTED},
    {1295, "reduceLogSumExp", R_UNREPORTED}, {1313, "whereNonZero", R_FP32},
    {1315, "matrixBandPart", R_UNREPORTED}, {1320, "lowerTriangular", R_UNREPORTED},
    {1325, "upperTriangular", R_UNREPORTED}, {1330, "whereBroadcastable", R_BCAST_ND},
    {1350, "layerNormalization", R_UNREPORTED}, {1400, "NonMaximumSuppression", R_FP32},
    {1450, "oneHot", R_UNREPORTED}, {1455, "cumSum", R_UNREPORTED},
    {1460, "clampedReLU", R_UNREPORTED}, {1461, "argSort", R_FP32},
    {1465, "pooling3d", R_UNREPORTED}, {1466, "globalPooling3d", R_UNREPORTED},
    {1470, "sliceBySize", R_UNREPORTED}, {1471, "convolution3d", R_UNREPORTED},
};

/* Model.proto oneof Type fields other than the neural network and pipeline kinds. */
static const struct model_kind {
    int field;
    const char *name;
    int neural; /* a neural model Core ML ships (CoreMLModels.proto) */
} model_kinds[] = {
    {300, "glmRegressor", 0}, {301, "supportVectorRegressor", 0}, {302, "treeEnsembleRegressor", 0},
    {304, "bayesianProbitRegressor", 0}, {400, "glmClassifier", 0}, {401, "supportVectorClassifier", 0},
    {402, "treeEnsembleClassifier", 0}, {404, "kNearestNeighborsClassifier", 0},
    {501, "itemSimilarityRecommender", 0}, {555, "customModel", 0}, {556, "linkedModel", 0},
    {560, "classConfidenceThresholding", 0}, {600, "oneHotEncoder", 0}, {601, "imputer", 0},
    {602, "featureVectorizer", 0}, {603, "dictVectorizer", 0}, {604, "scaler", 0},
    {606, "categoricalMapping", 0}, {607, "normalizer", 0}, {609, "arrayFeatureExtractor", 0},
    {610, "nonMaximumSuppression", 0}, {900, "identity", 0}, {2000, "textClassifier", 1},
    {2001, "wordTagger", 1}, {2002, "visionFeaturePrint", 1}, {2003, "soundAnalysisPreprocessing", 1},
    {2004, "gazetteer", 0}, {2005, "wordEmbedding", 0}, {2006, "audioFeaturePrint", 1},
    {3000, "serializedModel", 0},
};

static const struct model_kind *model_kind_of(int field) {
    for (size_t i = 0; i < sizeof model_kinds / sizeof model_kinds[0]; i++)
        if (model_kinds[i].field == field) return &model_kinds[i];
    return NULL;
}

int anet_cm_model_kind_neural(int field) {
    const struct model_kind *k = model_kind_of(field);
    return k && k->neural;
}

const char *anet_cm_model_kind_name(int field) {
    const struct model_kind *k = model_kind_of(field);
    return k ? k->name : NULL;
}

static const struct layer_kind *kind_of(int field) {
    size_t lo = 0, hi = sizeof kinds / sizeof kinds[0];
    while (lo < hi) { /* the table is sorted by field number */
        size_t mid = (lo + hi) / 2;
        if (kinds[mid].field == field) return &kinds[mid];
        if (kinds[mid].field < field) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *anet_nn_layer_name(int field) {
    const struct layer_kind *k = kind_of(field);
    return k ? k->name : NULL;
}

static int set(anet_cm_layer *l, anet_chip chip, int rule, anet_cm_placement p, const char *fmt, ...)
    ANET_PRINTF(5, 6);
/* Applies the rule when it covers chip; returns 1 when it did. */
static int set(anet_cm_layer *l, anet_chip chip, int rule, anet_cm_placement p, const char *fmt, ...) {
    if (!(nn_rules[rule].chips & ANET_CHIP_BIT(chip))) return 0;
    l->verdict = p;
    l->rule = &nn_rules[rule];
    va_list ap;
    va_start(ap, fmt);
    char buf[256];
    vsnprintf(buf, sizeof buf, fmt, ap);
    anet_cm_set_detail(l, "%s", buf);
    va_end(ap);
    return 1;
}

/* Checks rank and axis sizes of one shape; returns 1 when a rule fired. */
static int check_shape(anet_cm_layer *l, anet_chip chip, const char *tensor, const anet_cm_shape *s) {
    if (s->rank < 0) return 0;
    if (s->rank > 5) return set(l, chip, R_RANK, ANET_CM_CPU, "tensor '%s' has rank %d > 5", tensor, s->rank);
    int r = s->rank < ANET_CM_MAX_DIMS ? s->rank : ANET_CM_MAX_DIMS;
    for (int i = 0; i < r; i++) {
        int64_t d = s->dims[i];
        if (d <= 0) continue; /* unknown or flexible */
        /* The last two axes are H and W; the ones before them are C, N (and D / sequence). */
        int spatial = i >= r - 2;
        int64_t lim = spatial ? 16384 : 65536;
        if (d > lim)
            return set(l, chip, R_AXIS, ANET_CM_CPU, "tensor '%s' axis %d has size %lld > %lld", tensor, i,
                       (long long)d, (long long)lim);
    }
    return 0;
}

static int is_chw_vs_c11(const anet_cm_shape *a, const anet_cm_shape *b) {
    if (a->rank < 3 || b->rank < 3 || a->rank > ANET_CM_MAX_DIMS || b->rank > ANET_CM_MAX_DIMS) return 0;
    const int64_t *da = a->dims + a->rank - 3, *db = b->dims + b->rank - 3;
    for (int i = 0; i < 3; i++)
        if (da[i] <= 0 || db[i] <= 0) return 0;
    return da[0] == db[0] && (da[1] > 1 || da[2] > 1) && db[1] == 1 && db[2] == 1; /* no product: dims can be huge */
}

void anet_rules_nn_check(anet_cm_layer *l, anet_chip chip) { anet_rules_nn_judge(l, chip, l->field); }

void anet_rules_nn_judge(anet_cm_layer *l, anet_chip chip, int field) {
    l->verdict = ANET_CM_UNKNOWN;
    l->rule = NULL;
    free(l->detail);
    l->detail = NULL;
    if (field < 0) { /* a whole model inside a pipeline */
        if (field == -555) set(l, chip, R_CUSTOM_MODEL, ANET_CM_CPU, "custom model");
        else if (anet_cm_model_kind_neural(-field))
            set(l, chip, R_UNREPORTED, ANET_CM_UNKNOWN, "%s: a neural model built into the OS; only the OS can tell", l->type);
        else set(l, chip, R_NOT_NEURAL, ANET_CM_CPU, "%s model", l->type);
        return;
    }
    const struct layer_kind *k = kind_of(field);
    int base = k ? k->rule : R_UNREPORTED;
    switch (base) {
    case R_OK: break;
    case R_UNREPORTED: set(l, chip, R_UNREPORTED, ANET_CM_UNKNOWN, "%s layer", l->type); return;
    case R_CUSTOM:
        set(l, chip, R_CUSTOM, ANET_CM_CPU, "custom layer class '%s'", l->subtype ? l->subtype : "?");
        return;
    default:
        if (set(l, chip, base, ANET_CM_CPU, "%s layer", l->type)) return;
        break;
    }
    /* Parameters, then shapes. */
    if (field == 100) {
        for (int i = 0; i < l->ndilation; i++)
            if (l->dilation[i] > 1 &&
                set(l, chip, R_DILATED, ANET_CM_CPU, "dilation factor %llu on axis %d",
                    (unsigned long long)l->dilation[i], i))
                return;
    } else if (field == 120 && !l->global_pooling) {
        for (int i = 0; i < l->nkernel; i++)
            if (l->kernel[i] > 13 &&
                set(l, chip, R_POOL_KERNEL, ANET_CM_CPU, "kernel size %llu on axis %d > 13",
                    (unsigned long long)l->kernel[i], i))
                return;
        for (int i = 0; i < l->nstride; i++)
            if (l->stride[i] > 2 &&
                set(l, chip, R_POOL_STRIDE, ANET_CM_CPU, "stride %llu on axis %d > 2",
                    (unsigned long long)l->stride[i], i))
                return;
    } else if (field == 210) {
        for (int i = 0; i < l->nscale; i++)
            if (l->scale[i] > 2 &&
                set(l, chip, R_UPSAMPLE, ANET_CM_CPU, "scaling factor %llu on axis %d > 2",
                    (unsigned long long)l->scale[i], i))
                return;
        for (int i = 0; i < l->nfscale; i++)
            if (l->fscale[i] > 2.0f &&
                set(l, chip, R_UPSAMPLE, ANET_CM_CPU, "fractional scaling factor %g on axis %d > 2",
                    (double)l->fscale[i], i))
                return;
    } else if ((field == 230 || field == 231) && l->ninputs == 2) {
        if ((is_chw_vs_c11(&l->in_shapes[0], &l->in_shapes[1]) ||
             is_chw_vs_c11(&l->in_shapes[1], &l->in_shapes[0])) &&
            set(l, chip, R_BCAST_CHW, ANET_CM_CPU, "inputs '%s' and '%s' broadcast C x H x W against C x 1 x 1",
                l->inputs[0], l->inputs[1]))
            return;
    }
    for (int i = 0; i < l->ninputs; i++)
        if (check_shape(l, chip, l->inputs[i], &l->in_shapes[i])) return;
    for (int i = 0; i < l->noutputs; i++)
        if (check_shape(l, chip, l->outputs[i], &l->out_shapes[i])) return;
    set(l, chip, R_OK, ANET_CM_ANE, "%s layer%s%s", l->type, l->subtype ? " " : "", l->subtype ? l->subtype : "");
}
