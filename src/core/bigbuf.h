/* Buffers the hot loops read at random (a dataset's samples, drawn in a new order every epoch):
 * on Linux their pages are 2 MiB where the kernel grants them (transparent huge pages on request,
 * madvise), so a batch's 128 random rows cost no TLB misses; elsewhere plain memory. Measured on
 * ane-sim at 784-128-10: ~6 us less host time per step (docs/training.md "Host µs per step"). */
#ifndef ANET_CORE_BIGBUF_H
#define ANET_CORE_BIGBUF_H

#include <stddef.h>

/* n bytes (uninitialised), released with free(); NULL when out of memory. Below 4 MiB, or where
 * huge pages cannot be asked for, it is malloc(n). */
void *anet_bigbuf_alloc(size_t n);

#endif
