/* vane's compiled program, shared by the planner (vane.c), the scheduler that fuses
 * elementwise chains (fuse.c) and the arena allocator (arena.c). Internal to vane. */
#ifndef ANET_RUNTIME_VANE_PLAN_H
#define ANET_RUNTIME_VANE_PLAN_H

#include <stdint.h>

#include "core/error.h"
#include "graph/ir.h"
#include "runtime/backend.h"
#include "runtime/vane/kernels.h"
#include "runtime/vane/vane.h"

typedef enum step_kind {
    S_BINARY, S_SELECT, S_UNARY, S_COPY, S_SOFTMAX, S_REDUCE, S_TRANSPOSE, S_SLICE, S_CONCAT,
    S_MATMUL, S_LINEAR, S_CONV, S_POOL
} step_kind;

/* Where an operand of a step inside a fused unit comes from, per tile. */
typedef enum src_mode {
    SRC_FULL,   /* its full buffer, same flat index as the output */
    SRC_SLOT,   /* a tile slot written earlier in the same unit */
    SRC_SCALAR, /* one element, broadcast */
    SRC_GATHER, /* a broadcast operand: gathered into a tile slot first */
    SRC_IN16,   /* an fp16 program input read straight from the caller's buffer into a slot */
    SRC_FULL16  /* native fp16 units (fuse_h16.c): an fp16 program input that also has a full
                 * buffer (another op reads it), read from the caller's buffer (src_io) */
} src_mode;

typedef struct step {
    step_kind kind;
    const char *name; /* op name, for messages (points into names[]) */
    int in[3];        /* value ids */
    int out;
    int64_t ny;
    int round; /* round the output to fp16 */
    int exact; /* fp16 numerics, rounding dropped: the fp32 result is an fp16 value (vane.c) */
    /* elementwise */
    anet_vk_bcast bc;
    int op; /* anet_vk_binop / anet_vk_unop / anet_vk_redop */
    float p;
    /* fused execution (fuse.c): output slot (-1: full buffer), operand sources */
    int slot;
    int src_slot[3];
    src_mode src[3];
    int src_io[3]; /* SRC_IN16, SRC_FULL16: the program input index */
    int out_io;    /* >= 0: also write the output as fp16 to program output out_io (-1: no) */
    unsigned once16; /* bit k: SRC_IN16 operand k is read by no later step of the unit */
    const float *lut; /* fused unary op on fp16 values: its rounded result per fp16 input (lut.c) */
    /* softmax / concat / shapes */
    int64_t outer, n, inner;
    int rank;
    int64_t dims[ANET_MAX_RANK], begin[ANET_MAX_RANK], size[ANET_MAX_RANK];
    int perm[ANET_MAX_RANK];
    unsigned mask;
    /* concat: parts */
    int nparts;
    int *parts;
    int64_t *part_len; /* elements per outer row of each part */
    /* matmul / linear / conv */
    int ta, tb;
    int64_t M, N, K, nb;
    int64_t *aoff, *boff; /* per batch: offsets of the x and y matrices */
    int has_bias;
    int bias;
    int64_t batch, groups, cout, cin;
    anet_vk_win win;
    int direct; /* conv: 1x1, stride 1, no pad: no im2col */
    int im2col_t; /* conv: im2col built transposed, read by a transposed GEMM (narrow output, wide kernel) */
    int col2im;   /* conv: GEMM on the unexpanded input, then each tap's plane added at its shift */
    int wide;     /* conv: direct sums of a wide kernel over a narrow output (anet_vk_conv_wide) */
    anet_vk_tap *taps;  /* conv with a sparse const kernel: the nonzero taps per output channel */
    int64_t *tap_start; /* [cout + 1]: output channel o's taps are taps[tap_start[o] ..) */
    int64_t scratch_n;
    float *scratch;
    /* pool */
    int is_max, exclude;
} step;

/* One execution unit: a single step run whole, or a fused chain of elementwise steps of the
 * same element count run tile by tile (every op of the chain on one tile, then the next). */
typedef struct unit {
    int first, count; /* steps[first .. first + count) */
    int fused;
    int64_t n;  /* fused: elements of each output */
    int nslots; /* fused: tile slots used */
    int h16;    /* fused: runs in native fp16 arithmetic (fuse_h16.c) */
} unit;

typedef struct io_desc {
    int value;
    anet_dtype dtype;
    int64_t elems;
    size_t nbytes;
    char name[64];
    char type[96];
} io_desc;

/* One caller buffer of an eval, for the overlap check of native fp16 chains. */
struct anet_io_span {
    uintptr_t lo, hi; /* [lo, hi) */
    int out;
};

/* Elements per tile of a fused unit run in fp32 arithmetic (fuse.c). Each step of a tile is a
 * kernel call with a fixed cost (its dispatch, a mispredicted branch or two); at 512 elements
 * that cost was ~7% of a --update ane step on a Zen 1 core, where 4096 (a few 16 KiB slots,
 * in L2) runs faster, `build/bench/vane_step`. Native fp16 units keep their own tile
 * (fuse_h16.c: VANE_H16_SLOT). */
#define VANE_TILE 4096
/* Floats per tile slot of a native fp16 unit (2 * this many fp16 elements per tile). */
#define VANE_H16_SLOT 512

/* The value whose buffer v shares (a reshape or identity aliases its input; alias[] from
 * anet_vane_plan_op), or v itself; -1 stays -1. */
static inline int anet_vane_root(const int *alias, int v) { return v >= 0 && alias[v] >= 0 ? alias[v] : v; }

struct anet_program {
    int fp16;
    int nvalues;
    float **buf; /* per value (aliases share; NULL for values that live only in tile slots) */
    float *arena;
    int64_t arena_floats;
    float *tile; /* max nslots * VANE_TILE floats (fp32 units; fp16 units use less) */
    step *steps; /* in execution order */
    int nsteps;
    unit *units;
    int nunits;
    const anet_vk_ops *k; /* kernel set chosen for this CPU */
    io_desc *in, *out;
    int nin, nout;
    /* fp16 inputs read and outputs written by fused chains directly (no fp32 copy, no
     * conversion pass); the caller's buffers of the eval under way */
    char *in_direct, *out_direct;
    const void **cur_in;
    void **cur_out;
    /* Native fp16 chains write outputs straight to the caller's buffers and read some inputs
     * in place (fuse_h16.c); io_alias says the eval under way was given such an output that
     * overlaps another one or such an input, and they then keep to the fp32 path's order.
     * h16_io lists those I/O (input i as -1 - i, output j as j); span is scratch for the check. */
    int io_alias;
    /* lut.c's tables (op, parameter, 65536 results each) */
    float **luts;
    int *lut_op;
    float *lut_p;
    int nluts;
    int nh16_io;
    int *h16_io;
    struct anet_io_span *span;
};

/* Tables for the transcendental unary ops of fused chains over fp16 values (lut.c), and one
 * tile's lookup (n <= VANE_TILE). */
anet_status anet_vane_tables(anet_program *p, const anet_graph *g);
void anet_vane_lut_row(const float *lut, const float *x, float *y, int64_t n);

/* Sets p->io_alias for the caller's buffers of one eval (fuse_h16.c). */
void anet_vane_h16_check_io(anet_program *p, const anet_io *in, const anet_io *out);

/* The dtypes vane holds as fp32 buffers. */
static inline int anet_vane_data_dtype(anet_dtype t) {
    return t == ANET_DT_FP16 || t == ANET_DT_FP32 || t == ANET_DT_INT32 || t == ANET_DT_BOOL ||
           t == ANET_DT_INT8 || t == ANET_DT_UINT8;
}

/* Plans non-const op op_id of g into s (plan_op.c); alias[] records reshape/identity outputs
 * that share their input's buffer (such ops get s->kind S_COPY with in[0] = -1: no step). */
anet_status anet_vane_plan_op(const anet_graph *g, int op_id, step *s, int *alias);

/* Orders p->steps into units, fusing elementwise chains unless NO_FUSE; decides which outputs
 * live only in tile slots (need_buf[v] = 0) and assigns slots. alias[v] is the value whose
 * buffer v shares, or -1. need_buf must hold g->nvalues entries. */
anet_status anet_vane_schedule(anet_program *p, const anet_graph *g, const int *alias, unsigned flags,
                               char *need_buf);

/* Assigns arena offsets: values (and step scratch) whose lifetimes over the units overlap get
 * disjoint memory; NO_REUSE keeps everything apart. Sets p->arena, p->buf, step scratch. */
anet_status anet_vane_layout(anet_program *p, const anet_graph *g, const int *alias, const char *need_buf,
                             unsigned flags);

/* Runs one fused unit. */
void anet_vane_run_fused(const anet_program *p, const unit *u);

/* Native fp16 chains (fuse_h16.c): whether this CPU and build have them, whether a step can
 * run so (its operands' dtypes are the caller's check), and the unit runner. Such a unit needs
 * VANE_H16_SCRATCH_SLOTS tile slots past its own. */
int anet_vane_h16_cpu(void);
int anet_vane_h16_step_ok(const step *s);
void anet_vane_run_fused_h16(const anet_program *p, const unit *u);
#define VANE_H16_SCRATCH_SLOTS 6
#define VANE_H16_MAX_SLOTS 64 /* slots of such a unit (its own) */

#endif
