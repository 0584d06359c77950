/* The program-form rules as data (see forms.h). Sources are the entries of ANE_FACTS.md
 * "Added after a second reading of the peers"; chip masks say where a rule is on by default. */
#include "plan/forms.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/spec_list.h"
#include "plan/constraints.h"

#define M1 ANET_CHIP_BIT(ANET_CHIP_M1)
#define M2 ANET_CHIP_BIT(ANET_CHIP_M2)
#define M3 ANET_CHIP_BIT(ANET_CHIP_M3)
#define M4 ANET_CHIP_BIT(ANET_CHIP_M4)
#define ST ANET_CHIP_BIT(ANET_CHIP_STRICT)

static const anet_form_rule form_rules[ANET_FORM_COUNT_] = {
    [ANET_FORM_DIALECT_IOS16] = {
        "dialect-ios16", "M1-M3 programs use program(1.0)/ios16; M4 and later ios18",
        "Every peer that trains on M1-M3 emits ios16; no M1-M3 run of an ios18 program is reported, so "
        "ane-sim refuses ios18 there (compile failure).",
        "maderix/ANE branch commit c41acd2; imperatormk/ane-train mil_gen.h", M1 | M2 | M3 | ST,
        ANET_FORM_FAIL_COMPILE},
    [ANET_FORM_IO_SHAPE_1C1S] = {
        "io-shape-1c1s", "Every program input and output is a 4-D fp16 [1,C,1,S] tensor",
        "The form every peer's I/O uses; other I/O shapes are unreported (imperatormk's 3-D [1,C,S] "
        "is the same bytes). ane-sim fails compile for any other I/O shape.",
        "maderix/ANE training_dynamic/mil_dynamic.h; mechramc/Orion; tmc/apple x/ane", ANET_CHIPS_ALL,
        ANET_FORM_FAIL_COMPILE},
    [ANET_FORM_IO_WIDTH_MULT32] = {
        "io-width-mult32", "The last axis S of every input and output is a multiple of 32",
        "fp16 rows of 32k elements are 64-byte aligned, so packed and 64-byte-strided readings of a "
        "surface agree; with other widths one of the two readings returns silently wrong data.",
        "ANE_FACTS.md 'Packed or strided rows' (inferred from Orion #14 vs tmc/apple, ANEForge, "
        "tinygrad, eiln)", ANET_CHIPS_ALL, ANET_FORM_FAIL_WRONG},
    [ANET_FORM_ROW_LAYOUT] = {
        "row-layout", "Surface rows start every roundup(W*2, 64) bytes (on) or are packed (off)",
        "Contested: Orion #14 reads packed rows; tmc/apple, ANEForge, tinygrad and eiln write rows at a "
        "64-byte stride (maderix PR #35: 128 on M5). The backend follows the compiled model's own "
        "layout when it states one.",
        "Orion docs/ane_constraints.md #14; tmc/apple x/ane surface.go; tinygrad extra/accel/ane/README.md",
        ANET_CHIPS_ALL, ANET_FORM_FAIL_LAYOUT},
    [ANET_FORM_SURFACE_SIZE_STRIDED] = {
        "surface-size-strided", "A surface holds at least C * roundup(W*2, 64) bytes",
        "Every reported minimum surface size equals this; a smaller surface fails evaluation with "
        "status 0x1d.", "ANE_FACTS.md 'Packed or strided rows' (an inference from every reported minimum)",
        ANET_CHIPS_ALL, ANET_FORM_FAIL_STATUS_1D},
    [ANET_FORM_MATMUL_CONTRACTION_32] = {
        "matmul-contraction-32", "A matmul's contraction length is a multiple of 32",
        "On M1 other lengths (16, 48, 80, 112) return all zeros; padding with zeros is free of risk, so "
        "every chip pads (784 -> 800).", "imperatormk/ane-train ANE_TRAINING.md 'Dimension constraints'",
        ANET_CHIPS_ALL, ANET_FORM_FAIL_ZEROS},
    [ANET_FORM_BROADCAST_CHANNEL] = {
        "broadcast-channel", "No [1,C,S] op [1,C,1] broadcast (a tensor broadcast along its last axis)",
        "Reported to give all zeros on M1; express a per-row term as a matmul with a ones row.",
        "imperatormk/ane-train ANE_TRAINING.md 'Broadcast Rules'", M1 | ST, ANET_FORM_FAIL_ZEROS},
    [ANET_FORM_BROADCAST_SCALAR] = {
        "broadcast-scalar", "No non-constant [1,1,1,1] scalar broadcast against a larger tensor",
        "Reported to give wrong values on M1 by one project (constant scalars work; ANEForge trains on "
        "M1-M5), so it is on in the strict set only; the planner then passes every per-step scalar "
        "as a row (the optimizer's as wide as each parameter) and the FINITE flag as a row of 32.",
        "imperatormk/ane-train ANE_TRAINING.md 'Broadcast Rules'", ST,
        ANET_FORM_FAIL_WRONG},
    [ANET_FORM_ELEMENTWISE_MAX_16384] = {
        "elementwise-max-16384", "Elementwise ops stay within 16384 along an axis (or in total)",
        "Reported to hang on M1 for flat [1,N] tensors with N > 16384 while [1,C,S] forms of 1.5M "
        "elements work in the same report, so the default reading is per axis; elementwise-max-total=1 "
        "switches to the literal element-count reading.",
        "imperatormk/ane-train ANE_TRAINING.md ('Hangs', GELU)", M1 | ST, ANET_FORM_FAIL_HANG},
    [ANET_FORM_MAX_INPUTS] = {
        "max-inputs", "At most N inputs per program",
        "Contested: 1 (maderix README, 0x1d), 2 work / 4 fail (H3 DiT), 3 (Orion), 10 (fspecii, M4), 98 "
        "(imperatormk, M1); on only in the strict set, where N = 1 (the planner packs the inputs into "
        "one) and breaking it gives 0x1d.",
        "maderix/ANE README; mechramc/Orion; fspecii/ane-trainer; imperatormk/ane-train", ST,
        ANET_FORM_FAIL_STATUS_1D},
    [ANET_FORM_RUNTIME_INPUT_LAYOUT] = {
        "runtime-input-layout-ops", "No reshape/transpose/slice/reduce reading a runtime input directly",
        "Reported InvalidMILProgram on M1 with ios16; the planner routes every input through an "
        "elementwise op first (whether that suffices on a device is for the selftest probes to decide).",
        "imperatormk/ane-train ANE_TRAINING.md 'MIL Ops That Do NOT Work'", M1 | ST, ANET_FORM_FAIL_COMPILE},
    [ANET_FORM_IO_SIZE_ORDER] = {
        "io-size-order", "Input surfaces ascend in size, output surfaces descend",
        "Otherwise outputs are silent zeros (M1); one allocation size for every surface satisfies it.",
        "imperatormk/ane-train ANE_TRAINING.md 'Slot size ordering'", M1 | ST, ANET_FORM_FAIL_ZEROS},
    [ANET_FORM_IDENTITY_OUTPUT] = {
        "identity-output", "No output is a program input passed through unchanged",
        "An identity-only program fails to compile in ANEForge's sweep.",
        "sbryngelson/ANEForge (ANE_FACTS.md 'Ops')", ANET_CHIPS_ALL, ANET_FORM_FAIL_COMPILE},
    [ANET_FORM_LOG_EPSILON] = {
        "log-epsilon", "log only as log(x + eps) with a positive constant eps",
        "log fails on A17 (ANE-Training-iPhone) and works with an epsilon on ANEForge's path.",
        "slavko-at-klincov-it/ANE-Training-iPhone iOS_ANE_RESEARCH.md; sbryngelson/ANEForge",
        ANET_CHIPS_ALL, ANET_FORM_FAIL_COMPILE},
    [ANET_FORM_CONV1X1_RUNTIME_WEIGHTS] = {
        "conv1x1-runtime-weights", "1x1 conv with runtime weight inputs is allowed",
        "Reported to work and to be faster than matmul (H3, fspecii, Orion ~3x); imperatormk reports "
        "runtime-weight conv working only for small sizes on M1. Off: ane-sim fails such a conv.",
        "Orion docs/ane_api_reference.md; fspecii/ane-trainer; imperatormk/ane-train", M4,
        ANET_FORM_FAIL_NONE},
    [ANET_FORM_RESERVED_NAMES] = {
        "reserved-names", "No value named x, y, c, C, var, mean, std, eps, diff, mul, add, rsqrt",
        "Such names give silent zeros or compile failures on M1.",
        "imperatormk/ane-train ANE_TRAINING.md 'MIL Variable Names'", M1 | ST, ANET_FORM_FAIL_ZEROS},
};

const anet_form_rule *anet_form_rules(int *n) {
    if (n) *n = ANET_FORM_COUNT_;
    return form_rules;
}

int anet_form_find(const char *id) {
    for (int i = 0; id && i < ANET_FORM_COUNT_; i++)
        if (strcmp(form_rules[i].id, id) == 0) return i;
    return -1;
}

const char *anet_form_failure_name(anet_form_failure f) {
    static const char *const names[] = {"fail to compile", "fail with status 0x1d", "return silent zeros",
                                        "return wrong values", "hang", "read data elsewhere",
                                        "lack the capability"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "?";
}

void anet_forms_default(anet_chip chip, anet_forms *out) {
    memset(out, 0, sizeof *out);
    out->chip = chip;
    for (int i = 0; i < ANET_FORM_COUNT_; i++)
        out->on[i] = (form_rules[i].chips & ANET_CHIP_BIT(chip)) != 0;
    out->max_inputs = 1;
    out->elementwise_max = ANET_FORM_ELEMENTWISE_MAX;
    out->strict = chip == ANET_CHIP_STRICT;
    /* The dialect of M4+ is ios18: on STRICT the rule means "the M1-M3 dialect". */
}

static anet_status parse_int(const char *key, const char *v, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || !end || *end || n < lo || n > hi)
        return anet_fail(ANET_E_INVALID, "ANE_TRAINER_FORMS: '%s=%s': expected an integer in %ld..%ld",
                         key, v, lo, hi);
    *out = n;
    return ANET_OK;
}

static anet_status apply_item(anet_forms *f, char *item) {
    if (strcmp(item, "none") == 0) { /* every rule off: programs are run as written */
        memset(f->on, 0, sizeof f->on);
        f->strict = 0;
        return ANET_OK;
    }
    if (strcmp(item, "strict") == 0) {
        for (int i = 0; i < ANET_FORM_COUNT_; i++) f->on[i] = 1;
        f->on[ANET_FORM_CONV1X1_RUNTIME_WEIGHTS] = 0; /* strict: the capability is not assumed */
        f->max_inputs = 1;
        f->elementwise_max = ANET_FORM_ELEMENTWISE_MAX;
        /* Per axis: the literal element-count reading is contradicted by the same report's
         * 1.5M-element [1,C,S] ops; elementwise-max-total=1 still selects it. */
        f->elementwise_total = 0;
        f->strict = 1;
        return ANET_OK;
    }
    char *eq = strchr(item, '=');
    if (!eq) return anet_fail(ANET_E_INVALID, "ANE_TRAINER_FORMS: '%s': expected strict, none or RULE=on|off", item);
    *eq = '\0';
    const char *k = item, *v = eq + 1;
    long n = 0;
    anet_status st;
    if (strcmp(k, "max-inputs") == 0 && strcmp(v, "on") && strcmp(v, "off")) {
        if ((st = parse_int(k, v, 1, 4096, &n))) return st;
        f->max_inputs = (int)n;
        f->on[ANET_FORM_MAX_INPUTS] = 1;
        return ANET_OK;
    }
    if (strcmp(k, "row-layout") == 0 && (!strcmp(v, "packed") || !strcmp(v, "strided64"))) {
        f->on[ANET_FORM_ROW_LAYOUT] = strcmp(v, "strided64") == 0;
        return ANET_OK;
    }
    if (strcmp(k, "elementwise-max") == 0) {
        if ((st = parse_int(k, v, 1, 1 << 30, &n))) return st;
        f->elementwise_max = (int)n;
        return ANET_OK;
    }
    if (strcmp(k, "elementwise-max-total") == 0) {
        if ((st = parse_int(k, v, 0, 1, &n))) return st;
        f->elementwise_total = (int)n;
        return ANET_OK;
    }
    int id = anet_form_find(k);
    if (id < 0) return anet_fail(ANET_E_INVALID, "ANE_TRAINER_FORMS: unknown rule '%s' (see docs/mil.md)", k);
    if (strcmp(v, "on") == 0) f->on[id] = 1;
    else if (strcmp(v, "off") == 0) f->on[id] = 0;
    else return anet_fail(ANET_E_INVALID, "ANE_TRAINER_FORMS: '%s=%s': expected on or off", k, v);
    return ANET_OK;
}

static anet_status apply_cb(void *ctx, char *item) { return apply_item(ctx, item); }

anet_status anet_forms_parse(const char *spec, anet_forms *f) {
    return anet_spec_list_each(spec, "ANE_TRAINER_FORMS", apply_cb, f);
}

anet_status anet_forms_env(anet_forms *f) {
    const char *s = getenv("ANE_TRAINER_FORMS");
    return s && *s ? anet_forms_parse(s, f) : ANET_OK;
}

void anet_forms_describe(const anet_forms *f, char *buf, size_t len) {
    size_t used = 0;
    if (!len) return;
    buf[0] = '\0';
    for (int i = 0; i < ANET_FORM_COUNT_; i++) {
        if (!f->on[i]) continue;
        int w = snprintf(buf + used, len - used, "%s%s", used ? "," : "", form_rules[i].id);
        if (w < 0 || (size_t)w >= len - used) break;
        used += (size_t)w;
    }
}

size_t anet_forms_row_stride(const anet_forms *f, int64_t w) {
    size_t packed = (size_t)w * 2;
    if (!f || !f->on[ANET_FORM_ROW_LAYOUT]) return packed;
    return (packed + ANET_FORM_STRIDE_ALIGN - 1) / ANET_FORM_STRIDE_ALIGN * ANET_FORM_STRIDE_ALIGN;
}
