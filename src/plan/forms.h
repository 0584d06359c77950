/* Program forms per chip: the rules that shape the programs we send to a Neural Engine (I/O
 * shapes, dialect, padding, broadcast forms, input counts), as data. One table serves the
 * planner (which lowers every program to the form of its chip), the simulator (which enforces
 * each rule as a switchable quirk and fails the way the reports say the device fails) and the
 * selftest probe ladder (which decides each rule on a real Mac).
 *
 * Every rule has an id (kebab-case, stable: /work/notes/form_rules.md), a title, a reason, its
 * source (../shared/ANE_FACTS.md), a default per chip and a switch. Where reports conflict the
 * rule is switchable and the default is the conservative reading, unless the reading is
 * contradicted by another project training on that chip (then the table says so in `reason`).
 *
 * Switches: ANE_TRAINER_FORMS="strict" (every rule on, the most conservative parameters), "none"
 * (every rule off), or a
 * comma list of "RULE=on|off", "max-inputs=N", "row-layout=packed|strided64",
 * "elementwise-max=N"; items apply left to right over the chip's defaults. */
#ifndef ANET_PLAN_FORMS_H
#define ANET_PLAN_FORMS_H

#include "runtime/backend.h"

typedef enum anet_form_id {
    ANET_FORM_DIALECT_IOS16 = 0,      /* dialect-ios16 */
    ANET_FORM_IO_SHAPE_1C1S,          /* io-shape-1c1s */
    ANET_FORM_IO_WIDTH_MULT32,        /* io-width-mult32 */
    ANET_FORM_ROW_LAYOUT,             /* row-layout (on: strided64 rows; off: packed) */
    ANET_FORM_SURFACE_SIZE_STRIDED,   /* surface-size-strided */
    ANET_FORM_MATMUL_CONTRACTION_32,  /* matmul-contraction-32 */
    ANET_FORM_BROADCAST_CHANNEL,      /* broadcast-channel */
    ANET_FORM_BROADCAST_SCALAR,       /* broadcast-scalar */
    ANET_FORM_ELEMENTWISE_MAX_16384,  /* elementwise-max-16384 */
    ANET_FORM_MAX_INPUTS,             /* max-inputs */
    ANET_FORM_RUNTIME_INPUT_LAYOUT,   /* runtime-input-layout-ops */
    ANET_FORM_IO_SIZE_ORDER,          /* io-size-order */
    ANET_FORM_IDENTITY_OUTPUT,        /* identity-output */
    ANET_FORM_LOG_EPSILON,            /* log-epsilon */
    ANET_FORM_CONV1X1_RUNTIME_WEIGHTS,/* conv1x1-runtime-weights (on: allowed and used) */
    ANET_FORM_RESERVED_NAMES,         /* reserved-names */
    ANET_FORM_COUNT_
} anet_form_id;

/* How the device fails when a program breaks the rule (what the simulator does). */
typedef enum anet_form_failure {
    ANET_FORM_FAIL_COMPILE = 0, /* compile fails (InvalidMILProgram / ANECCompile) */
    ANET_FORM_FAIL_STATUS_1D,   /* eval fails with status 0x1d */
    ANET_FORM_FAIL_ZEROS,       /* eval "succeeds" with all-zero outputs */
    ANET_FORM_FAIL_WRONG,       /* eval "succeeds" with wrong values */
    ANET_FORM_FAIL_HANG,        /* eval never returns: a timeout error */
    ANET_FORM_FAIL_LAYOUT,      /* not a failure: how rows are read (data lands elsewhere) */
    ANET_FORM_FAIL_NONE         /* a capability (on = the form may be used) */
} anet_form_failure;

typedef struct anet_form_rule {
    const char *id;
    const char *title;
    const char *reason;
    const char *source;
    unsigned chips;            /* ANET_CHIP_BIT mask of the chips where it is on by default */
    anet_form_failure failure; /* how ane-sim fails a program that breaks it */
} anet_form_rule;

const anet_form_rule *anet_form_rules(int *n);
int anet_form_find(const char *id); /* the anet_form_id, or -1 */
const char *anet_form_failure_name(anet_form_failure f);

/* A quirk set: which rules are on, plus the rules' parameters. */
#define ANET_FORM_STRIDE_ALIGN 64          /* strided64: rows start every roundup(W*2, 64) bytes */
#define ANET_FORM_WIDTH_MULT 32            /* fp16 columns per 64 bytes */
#define ANET_FORM_ELEMENTWISE_MAX 16384
typedef struct anet_forms {
    anet_chip chip;
    unsigned char on[ANET_FORM_COUNT_];
    int max_inputs;      /* max-inputs: inputs per program when the rule is on */
    int elementwise_max; /* elementwise-max-16384: largest axis (or element count, see below) */
    int elementwise_total; /* 1: the limit is on the element count (literal reading); 0: per axis */
    int strict;          /* set by "strict" */
    /* 1: the programs run on a host backend (vane) only: layer graphs keep the plain conv
     * form, which costs a CPU about 4x less than the device form (train/layers_form.h). */
    int host_backend;
} anet_forms;

/* The defaults of a chip (STRICT: every rule on). */
void anet_forms_default(anet_chip chip, anet_forms *out);
/* Applies a switch list (see the header comment); an unknown item is one error naming it. */
anet_status anet_forms_parse(const char *spec, anet_forms *f);
/* Applies ANE_TRAINER_FORMS from the environment (absent or empty: no change). */
anet_status anet_forms_env(anet_forms *f);
/* "dialect-ios16,io-shape-1c1s,..." of the rules that are on (buf always terminated). */
void anet_forms_describe(const anet_forms *f, char *buf, size_t len);

/* Helpers shared by the planner, the backend and the simulator. */
static inline int64_t anet_form_round32(int64_t n) { return (n + 31) / 32 * 32; }
/* Bytes between rows of an fp16 tensor of width w under the quirk set (packed: w * 2). */
size_t anet_forms_row_stride(const anet_forms *f, int64_t w);

#endif
