/* Random-access buffers on huge pages where available (see bigbuf.h). */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include "core/bigbuf.h"

#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

enum { BIGBUF_MIN = 4u << 20 };
#define BIGBUF_PAGE ((size_t)2 << 20)

void *anet_bigbuf_alloc(size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (n >= BIGBUF_MIN && n <= SIZE_MAX - BIGBUF_PAGE) {
        size_t sz = (n + BIGBUF_PAGE - 1) / BIGBUF_PAGE * BIGBUF_PAGE;
        void *p = aligned_alloc(BIGBUF_PAGE, sz);
        /* Before the first touch: the faults then map huge pages (a refusal leaves small ones). */
        if (p) (void)madvise(p, sz, MADV_HUGEPAGE);
        if (p) return p;
    }
#endif
    return malloc(n ? n : 1);
}
