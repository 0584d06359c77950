/* The AVX2 kernel set (built with -mavx2 on x86-64; used only where CPUID reports AVX2). */
#if defined(__x86_64__) && defined(__AVX2__) && defined(__F16C__)
#define VK_NAME "avx2"
#define VK_F16C 1
#define VK_FN(name) vk_avx2_##name
#define VK_TABLE anet_vk_ops_avx2
#include "runtime/vane/kernels_vec.h"
#else
typedef int anet_vk_no_avx2; /* not an x86-64 build: no AVX2 set (ISO C wants a declaration) */
#endif
