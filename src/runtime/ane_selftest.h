/* Small programs covering each op of the training step, plus one MLP training step (forward,
 * softmax cross-entropy, backward), run on a backend under test and on a reference backend
 * (vane) to measure agreement. Used by `ane_trainer selftest`, by auto selection's
 * self-check and by the tests. */
#ifndef ANET_RUNTIME_ANE_SELFTEST_H
#define ANET_RUNTIME_ANE_SELFTEST_H

#include <stddef.h>
#include <stdint.h>

#include "graph/ir.h"
#include "runtime/backend.h"

int anet_ane_selftest_ncases(void);
const char *anet_ane_selftest_case_name(int i); /* NULL when out of range */
/* Builds case i as MIL text (+ weight image, possibly NULL). Both malloc'd. */
anet_status anet_ane_selftest_program(int i, char **mil, size_t *mil_len, uint8_t **w, size_t *wlen);
/* Emits g (built with status st; nothing is emitted when st is an error) as MIL text and
 * weight image, frees g, and returns the status; on failure *w is freed and NULL. */
anet_status anet_ane_selftest_emit(anet_graph *g, anet_status st, char **mil, size_t *mil_len, uint8_t **w,
                                   size_t *wlen);
/* Deterministic fp16 inputs for case i's input k of nbytes bytes (the values stay in the
 * op's domain: log gets positive numbers). */
void anet_ane_selftest_inputs(int i, int k, uint16_t *dst, size_t n, uint64_t seed);

typedef struct anet_ane_case_result {
    char name[48];
    int ok;              /* ran on both and agreed within tolerance */
    int ran_test, ran_ref;
    double max_norm_err; /* max |a-b| / max(1, max|ref|) over all outputs */
    double tolerance;
    long ref_nonfinite;  /* inf/NaN values among the reference's fp16 outputs (expected 0) */
    double test_compile_ms, test_eval_ms, ref_compile_ms, ref_eval_ms;
    char error[600];     /* the failure's text, "" when ok */
} anet_ane_case_result;

/* Runs case i on `test` and `ref` with the same inputs. Fills r; returns ANET_OK even when
 * the case failed (r says how); an error only for bad arguments or out of memory. */
anet_status anet_ane_selftest_run(int i, anet_backend *test, anet_backend *ref, uint64_t seed,
                                  anet_ane_case_result *r);

/* The same comparison for any program: inputs[k] holds input k's packed bytes (declaration
 * order, sizes from the program's signature). */
anet_status anet_ane_selftest_run_mil(const char *name, anet_backend *test, anet_backend *ref,
                                      const char *mil, size_t mil_len, const uint8_t *w, size_t wlen,
                                      const void *const *inputs, anet_ane_case_result *r);

#endif
