/* IEEE binary16 storage and conversion. Every path (portable, F16C, NEON) rounds to nearest
 * even and agrees bit for bit; the fastest one available is chosen at run time. */
#ifndef ANET_CORE_FP16_H
#define ANET_CORE_FP16_H

#include <stddef.h>
#include <stdint.h>

typedef uint16_t anet_f16; /* raw bits of a binary16 value */

/* Scalar conversions (portable code; exact, round-to-nearest-even, NaN stays NaN). */
float anet_f16_to_f32(anet_f16 h);
anet_f16 anet_f32_to_f16(float f);
/* Round an fp32 value to the nearest fp16 value, returned as fp32 (what vane stores). */
float anet_f32_round_f16(float f);

/* Bulk conversions: the dispatched fast path (F16C on x86-64, NEON on arm64, else portable). */
void anet_f16_to_f32_n(const anet_f16 *src, float *dst, size_t n);
void anet_f32_to_f16_n(const float *src, anet_f16 *dst, size_t n);
/* In place: round every element of x to fp16 precision (x stays fp32). */
void anet_f32_round_f16_n(float *x, size_t n);

/* The portable bulk paths, always available, so tests can compare them with the fast ones. */
void anet_f16_to_f32_n_portable(const anet_f16 *src, float *dst, size_t n);
void anet_f32_to_f16_n_portable(const float *src, anet_f16 *dst, size_t n);
/* Name of the path the bulk converters use on this machine: "f16c", "neon" or "portable". */
const char *anet_f16_path(void);

/* Stochastic rounding fp32 -> fp16: rounds up with probability equal to the distance from the
 * lower neighbour, using the caller's generator state (no globals). */
anet_f16 anet_f32_to_f16_stochastic(float f, uint64_t *rng_state);
void anet_f32_to_f16_stochastic_n(const float *src, anet_f16 *dst, size_t n, uint64_t *rng_state);

#endif
