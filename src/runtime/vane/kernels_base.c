/* The baseline kernel set: whatever the target's base ISA vectorises to (SSE2 on x86-64,
 * NEON on arm64). */
#if defined(__x86_64__)
#define VK_NAME "sse2"
#elif defined(__aarch64__)
#define VK_NAME "neon"
#else
#define VK_NAME "portable"
#endif
#define VK_FN(name) vk_base_##name
#define VK_TABLE anet_vk_ops_base
#include "runtime/vane/kernels_vec.h"
