/* The AVX-512 kernel set (built with -mavx512f on x86-64; used only where CPUID reports
 * AVX-512F). */
#if defined(__x86_64__) && defined(__AVX512F__) && defined(__F16C__)
#define VK_NAME "avx512"
#define VK_F16C 1
#define VK_FN(name) vk_avx512_##name
#define VK_TABLE anet_vk_ops_avx512
#include "runtime/vane/kernels_vec.h"
#else
typedef int anet_vk_no_avx512; /* not an x86-64 build: no AVX-512 set */
#endif
