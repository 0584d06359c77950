/* vane, the virtual ANE: runs MIL programs on the CPU with the ANE's fp16 numerics and the
 * chip profile's constraints (docs/backends.md, docs/numerics.md). */
#ifndef ANET_RUNTIME_VANE_VANE_H
#define ANET_RUNTIME_VANE_VANE_H

#include "graph/ir.h"
#include "runtime/backend.h"

extern const anet_backend_ops anet_vane_ops;

/* The compile step after parsing: checks g against the state's chip profile and builds the
 * execution plan. g is only read (the program keeps no pointer into it). `state` is the one
 * from anet_vane_ops.create (anet_backend.state of an open "vane" backend). */
anet_status anet_vane_compile_graph(void *state, const anet_graph *g, anet_program **out);

/* The same with plan options: by default elementwise chains are fused, buffers reused by
 * liveness and outputs that leave only as fp16 rounded by their conversion; tests compare that
 * with op-by-op execution (NO_FUSE: every op rounds itself) in one buffer per value. NO_H16
 * keeps fused chains in fp32 arithmetic on CPUs with AVX512-FP16 (fuse_h16.c: the same bits). */
enum { ANET_VANE_NO_FUSE = 1u, ANET_VANE_NO_REUSE = 2u, ANET_VANE_NO_H16 = 4u,
       ANET_VANE_LAYOUT_BIRTH = 8u /* the arena in order of birth, as for the largest programs (arena.c) */ };
anet_status anet_vane_compile_graph_opts(void *state, const anet_graph *g, unsigned flags, anet_program **out);

#endif
