/* A small open-addressing hash map from borrowed C strings to ints, so the parser and the
 * verifier look names up in O(1) instead of scanning the graph (keeps big programs linear). */
#ifndef ANET_GRAPH_NAMESET_H
#define ANET_GRAPH_NAMESET_H

#include <stddef.h>

typedef struct anet__nameset {
    const char **keys; /* borrowed: must outlive the set */
    int *vals;
    size_t cap, n;
} anet__nameset;

/* 0 on success, -1 when out of memory. An existing key keeps its first value. */
int anet__ns_put(anet__nameset *s, const char *key, int val);
/* The value stored for key, or -1. */
int anet__ns_get(const anet__nameset *s, const char *key);
void anet__ns_free(anet__nameset *s);

#endif
