/* Dropout masks (see dropout.h). */
#include "train/dropout.h"

#include "core/rng.h"

void anet_dropout_mask(uint64_t seed, int64_t step, int layer, float p, anet_f16 *out, size_t n) {
    anet_rng r;
    /* distinct odd multipliers keep (seed, step, layer) triples apart before rng's own mixing */
    anet_rng_seed(&r, seed ^ ((uint64_t)step * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)(layer + 1) * 0xD1B54A32D192ED03ull));
    anet_f16 keep = anet_f32_to_f16(1.0f / (1.0f - p)), drop = anet_f32_to_f16(0.0f);
    for (size_t i = 0; i < n; i++) out[i] = anet_rng_uniform(&r) < p ? drop : keep;
}
