/* The ANE backend: the portable logic around the private-API seam (ane_seam.h). One
 * implementation serves two backends of backend.h: "ane" (the macOS seam, ane_darwin.c) and
 * "ane-sim" (the simulator seam, sim/ane_sim.c), so Linux runs the very code path a Mac runs.
 *
 * What lives here, each rule with its source in ANE_FACTS.md:
 *  - surface sizing: every input surface has one allocation size, every output surface one
 *    (Orion #2, #12), never below a minimum (Orion #4: ~49 KB on M4 Max; reports go as low
 *    as ~2 KB), rounded to 64 bytes (DMA alignment, tinygrad / eiln);
 *  - alphabetical I/O ordering: callers use declaration order, surfaces go to the framework
 *    in byte-wise order of the MIL names (Orion #3, #13);
 *  - optional input packing: several [1,C,1,S] inputs with the same C become one surface,
 *    with slice_by_size ops inserted in the MIL (maderix training_dynamic/mil_dynamic.h);
 *  - ping-pong pairs: the surface an output is written to at step t is the input surface
 *    of step t+1 (no copies), by swapping between two prebuilt requests;
 *  - a compile budget: compiles are counted per backend instance, programs are cached by a
 *    hash of MIL text + weights (the text carries the shapes), and a compile beyond the
 *    budget (default 100, under the ~119 per-process limit: maderix, Orion #5) is refused
 *    with a message before the framework starts failing mysteriously;
 *  - error mapping: framework statuses (0x1d, ...) become sentences a user can act on. */
#ifndef ANET_RUNTIME_ANE_BACKEND_H
#define ANET_RUNTIME_ANE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/ane_seam.h"
#include "runtime/ane_sig.h"
#include "runtime/backend.h"

/* Default minimum surface allocation: 49152 bytes, the largest minimum reported (Orion
 * docs/ane_constraints.md #4, M4 Max: [768,16] fp16 worked, 3072 bytes failed with 0x1d).
 * Safe for every report in ANE_FACTS.md (~2 KB .. ~49 KB) at the cost of some memory. */
#define ANET_ANE_DEFAULT_MIN_SURFACE 49152u
/* Default compile budget: refuse the 101st compile, well before the ~119 reported limit. */
#define ANET_ANE_DEFAULT_COMPILE_BUDGET 100
/* Reported per-process compile limit (maderix; Orion #5; 119-132 on M4, maderix PR #23). */
#define ANET_ANE_REPORTED_COMPILE_LIMIT 119
#define ANET_ANE_SURFACE_ALIGN 64u

typedef struct anet_ane_options {
    size_t min_surface_bytes; /* ANE_TRAINER_MIN_SURFACE */
    int compile_budget;       /* ANE_TRAINER_COMPILE_BUDGET; compiles allowed per instance */
    int uniform_sizes;        /* 1: one allocation size for all inputs, one for all outputs */
    int alphabetical;         /* 1: hand surfaces to the seam in alphabetical name order */
    int pack_inputs;          /* 1: pack same-C [1,C,1,S] fp16 inputs into one surface */
    /* NULL: the budget counts this backend's compiles. Else a caller-owned counter shared by
     * several backends of one process-like context (the ANE's limit is per process; the
     * library keeps no globals, so whoever owns the process owns the count). */
    int *compile_counter;
} anet_ane_options;

void anet_ane_options_default(anet_ane_options *o);
/* Applies ANE_TRAINER_MIN_SURFACE, ANE_TRAINER_COMPILE_BUDGET, ANE_TRAINER_PACK_INPUTS
 * (0/1) from the environment; a malformed value is an error naming the variable. */
anet_status anet_ane_options_env(anet_ane_options *o);

/* ---- Pure helpers (unit-tested on their own) ---- */

/* The uniform allocation size for tensors of nbytes[0..n): the largest, at least min_bytes,
 * rounded up to 64. 0 when n == 0 or a size overflows. */
size_t anet_ane_surface_size(const size_t *nbytes, int n, size_t min_bytes);

/* 64-bit FNV-1a over MIL text and weights (with their lengths), the program cache key. */
uint64_t anet_ane_program_hash(const char *mil, size_t mil_len, const uint8_t *w, size_t wlen);

/* Input packing along the spatial (last) axis. */
#define ANET_ANE_PACK_MAX_WIDTH 16384 /* W axis range [1, 16384]: pytorch/executorch#7907 */
typedef struct anet_ane_pack_entry {
    int group;      /* -1: not packed (keeps its own surface) */
    int64_t offset; /* first spatial column inside the group */
    int64_t width;  /* its spatial size S */
} anet_ane_pack_entry;
typedef struct anet_ane_pack_group {
    char name[48];    /* the packed input's MIL name: "anet_pack_c<C>_<k>" */
    int64_t channels; /* C */
    int64_t width;    /* sum of the members' S */
    int members;
} anet_ane_pack_group;
typedef struct anet_ane_pack_layout {
    int nin;
    anet_ane_pack_entry *entry; /* per input, declaration order */
    int ngroups;
    anet_ane_pack_group *group;
} anet_ane_pack_layout;

/* Groups fp16 inputs shaped [1,C,1,S] by C (groups of one are left alone; a group never
 * exceeds ANET_ANE_PACK_MAX_WIDTH columns). */
anet_status anet_ane_pack_plan(const anet_ane_sig *sig, anet_ane_pack_layout *out);
void anet_ane_pack_layout_free(anet_ane_pack_layout *l);
/* Copies input i (packed [C][S] fp16) into its columns of the group surface [C][W]. */
void anet_ane_pack_scatter(const anet_ane_pack_layout *l, int i, const void *src, void *group_base);
/* The inverse, for tests and for reading a packed surface back. */
void anet_ane_pack_gather(const anet_ane_pack_layout *l, int i, const void *group_base, void *dst);
/* Rewrites g: each group becomes one input; every member is a slice_by_size of it that keeps
 * the member's name, placed before any other op; members leave the input list. */
anet_status anet_ane_pack_rewrite(anet_graph *g, const anet_ane_pack_layout *l);
/* MIL text -> parse -> rewrite -> emit. *out is malloc'd. */
anet_status anet_ane_pack_mil(const char *mil, size_t len, const uint8_t *w, size_t wlen,
                              const anet_ane_pack_layout *l, char **out, size_t *out_len);

/* Where the failure happened, for the error mapping. */
typedef enum anet_ane_stage {
    ANET_ANE_STAGE_OPEN = 0,
    ANET_ANE_STAGE_CREATE,
    ANET_ANE_STAGE_COMPILE,
    ANET_ANE_STAGE_LOAD,
    ANET_ANE_STAGE_SURFACE,
    ANET_ANE_STAGE_REQUEST,
    ANET_ANE_STAGE_EVAL,
    ANET_ANE_STAGE_UNLOAD
} anet_ane_stage;

/* A sentence a user can act on for seam return code rc at `stage`, with the framework's
 * text appended; `compiles` is how many compiles this instance has done (for the limit). */
void anet_ane_describe(anet_ane_stage stage, int rc, const char *framework_text, int compiles,
                       char *buf, size_t len);
/* Parses "status=0x1d" (or "status 0x1d") out of a framework error text; 0 if absent. */
int anet_ane_parse_status(const char *text);

/* ---- The backend ---- */

/* The backend.h operations of the two backends. */
const anet_backend_ops *anet_ane_backend_ops(void);     /* "ane": the macOS seam */
const anet_backend_ops *anet_ane_sim_backend_ops(void); /* "ane-sim": the simulator seam */

/* Creates a backend state on an explicit seam (takes ownership of it, also on failure).
 * The state works with the ops of either backend above. */
anet_status anet_ane_backend_create_seam(const anet_backend_config *cfg,
                                         const anet_ane_options *opt, anet_ane_seam seam,
                                         void **state);

/* The macOS seam; on other systems ANET_E_UNSUPPORTED with the reason. */
anet_status anet_ane_darwin_seam_create(anet_ane_seam *out);

/* The Mac's chip name ("Apple M1 Pro", from sysctl machdep.cpu.brand_string); "" elsewhere. */
void anet_ane_darwin_chip(char *buf, size_t len);

/* Counters of one backend instance. */
typedef struct anet_ane_counts {
    int compiles;     /* real compiles (cache misses) of this instance */
    int context_compiles; /* the count the budget checks (shared counter if one was given) */
    int cache_hits;   /* compile calls answered from the cache */
    int budget;       /* the configured budget */
    int programs;     /* programs currently cached */
} anet_ane_counts;
void anet_ane_backend_counts(void *state, anet_ane_counts *out);
/* The seam of a state (tests use it to reach simulator controls). */
anet_ane_seam *anet_ane_backend_seam(void *state);

/* Fine-grained I/O on a compiled program, indices in declaration order. With these the
 * trainer writes only what changes (the batch) and lets paired surfaces carry weights and
 * optimizer state from step to step. */
anet_status anet_ane_write(void *state, anet_program *p, int in_index, const void *data, size_t n);
anet_status anet_ane_read(void *state, anet_program *p, int out_index, void *data, size_t n);
/* What input in_index holds now (after swaps: what the paired output last wrote); inputs
 * packed with others into one surface are refused. */
anet_status anet_ane_read_input(void *state, anet_program *p, int in_index, void *data, size_t n);
anet_status anet_ane_run(void *state, anet_program *p); /* one evaluation, current bindings */
/* backend.h's lend / give_back: input in_index's surface locked for writing, its base and row
 * stride (the compiled model's, ane_layout.h); refused for an input packed with others. One
 * input lent at a time per program; run and write refuse while it is lent. */
anet_status anet_ane_lend(void *state, anet_program *p, int in_index, void **base, size_t *stride);
anet_status anet_ane_give_back(void *state, anet_program *p, int in_index);
/* Pairs input in_index with output out_index (same dtype and shape; the input must not be
 * packed): after a run, swap makes the output's surface the input's. */
anet_status anet_ane_pair(void *state, anet_program *p, int in_index, int out_index);
anet_status anet_ane_swap(void *state, anet_program *p);
/* Unload + load through the seam (what a user does after rewriting weight.bin). */
anet_status anet_ane_reload(void *state, anet_program *p);
/* The seam model of a program (tests reach the simulator's weight file through it). */
anet_ane_model *anet_ane_program_model(anet_program *p);
/* The signature the caller sees (declaration order, before packing). */
const anet_ane_sig *anet_ane_program_sig(const anet_program *p);
/* The surface allocation sizes chosen for a program (uniform per side). */
void anet_ane_program_surface_sizes(const anet_program *p, size_t *in_bytes, size_t *out_bytes,
                                    int *nsurf_in);

/* ---- Info (auto selection: runtime/backend_auto.h) ---- */

typedef struct anet_ane_info {
    int framework_present;   /* dlopen succeeded */
    int classes_found;       /* how many of the 4 classes were found */
    int classes_total;
    char classes[4][40];     /* names looked up */
    int class_ok[4];
    char chip[64];           /* "Apple M1 Pro" where obtainable, else "" */
    int compile_budget;      /* from the options (env applied) */
    int reported_limit;      /* ANET_ANE_REPORTED_COMPILE_LIMIT */
    size_t min_surface_bytes;
    char why[256];           /* why it cannot run ("" when it can) */
} anet_ane_info;
/* Fills info for "ane" (the real framework) or "ane-sim" (the simulator, with its faults). */
anet_status anet_ane_info_get(const char *backend, anet_ane_info *out);

#endif
