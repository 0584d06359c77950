/* libFuzzer target for the MIL parser: any input must parse or fail cleanly; whatever parses
 * must emit, re-parse, and emit the same text again (the fixed point the tests promise).
 * The input doubles as a weight.bin image so BLOBFILE lookups see hostile bytes too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph/ir.h"
#include "mil/mil.h"

static void round_trip(const char *text, size_t len, const uint8_t *w, size_t wl) {
    anet_graph *g = NULL;
    if (anet_mil_parse(text, len, w, wl, &g) != ANET_OK) return;
    char *t1 = NULL, *t2 = NULL;
    size_t l1 = 0, l2 = 0;
    if (anet_mil_emit(g, &t1, &l1) != ANET_OK) abort(); /* a parsed graph must always emit */
    anet_graph *g2 = NULL;
    if (anet_mil_parse(t1, l1, w, wl, &g2) != ANET_OK) abort();
    if (anet_mil_emit(g2, &t2, &l2) != ANET_OK) abort();
    if (l1 != l2 || memcmp(t1, t2, l1) != 0) abort();
    free(t1);
    free(t2);
    anet_graph_free(g2);
    anet_graph_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    round_trip((const char *)data, size, NULL, 0);
    round_trip((const char *)data, size, data, size);
    uint32_t n;
    (void)anet_weights_validate(data, size, &n);
    return 0;
}
