/* A small seeded generator (splitmix64 seeding a xoshiro256**). State lives in the caller's
 * struct: two trainers in one process never share a stream. */
#ifndef ANET_CORE_RNG_H
#define ANET_CORE_RNG_H

#include <stdint.h>

typedef struct anet_rng { uint64_t s[4]; } anet_rng;

void anet_rng_seed(anet_rng *r, uint64_t seed);
uint64_t anet_rng_u64(anet_rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t anet_rng_below(anet_rng *r, uint64_t n);
/* Uniform float in [0, 1). */
float anet_rng_uniform(anet_rng *r);
/* Standard normal (Box-Muller). */
float anet_rng_normal(anet_rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void anet_rng_shuffle(anet_rng *r, uint32_t *idx, uint32_t n);

#endif
