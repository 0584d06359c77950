/* libFuzzer target for vane: any MIL text that parses must compile or fail cleanly on every
 * chip profile, and whatever compiles must evaluate (zero inputs) without touching memory it
 * does not own. Programs with huge I/O are skipped to keep runs fast. The input doubles as
 * the weight.bin image. Build and run (from the source root):
 *   clang -std=c11 -D_POSIX_C_SOURCE=200809L -DANET_VERSION=\"0\" -O1 -g \
 *     -fsanitize=fuzzer,address,undefined -Iinclude -Isrc fuzz/fuzz_vane.c \
 *     <every .c file under src/core, src/graph, src/mil, src/plan, src/runtime> \
 *     $(pkg-config --libs openblas) -lm -lpthread -o fuzz_vane
 *   ./fuzz_vane fuzz/corpus/mil fuzz/corpus/vane -max_len=4096 -max_total_time=180 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph/ir.h"
#include "mil/mil.h"
#include "runtime/backend.h"

static void run(const char *text, size_t len, const uint8_t *w, size_t wl, anet_chip chip, anet_numerics num) {
    anet_backend be;
    anet_backend_config cfg = {chip, num, 0};
    if (anet_backend_open("vane", &cfg, &be) != ANET_OK) abort();
    anet_program *p = NULL;
    if (be.ops->compile(be.state, text, len, w, wl, &p) == ANET_OK) {
        /* Re-parse to learn the I/O sizes (the program is opaque). */
        anet_graph *g = NULL;
        if (anet_mil_parse(text, len, w, wl, &g) != ANET_OK) abort();
        anet_io in[16], out[16];
        int ok = g->ninputs <= 16 && g->noutputs <= 16;
        int64_t total = 0;
        for (int i = 0; ok && i < g->ninputs; i++) total += anet_type_elements(&g->values[g->inputs[i]].type);
        for (int i = 0; ok && i < g->noutputs; i++) total += anet_type_elements(&g->values[g->outputs[i]].type);
        if (ok && total <= (1 << 20)) {
            for (int i = 0; i < g->ninputs; i++) {
                const anet_type *t = &g->values[g->inputs[i]].type;
                in[i].nbytes = (size_t)anet_type_elements(t) * anet_dtype_size(t->dtype);
                in[i].data = calloc(1, in[i].nbytes ? in[i].nbytes : 1);
            }
            for (int i = 0; i < g->noutputs; i++) {
                const anet_type *t = &g->values[g->outputs[i]].type;
                out[i].nbytes = (size_t)anet_type_elements(t) * anet_dtype_size(t->dtype);
                out[i].data = malloc(out[i].nbytes ? out[i].nbytes : 1);
            }
            if (be.ops->eval(be.state, p, in, g->ninputs, out, g->noutputs) != ANET_OK) abort();
            for (int i = 0; i < g->ninputs; i++) free(in[i].data);
            for (int i = 0; i < g->noutputs; i++) free(out[i].data);
        }
        anet_graph_free(g);
        be.ops->release(be.state, p);
    }
    anet_backend_close(&be);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run((const char *)data, size, data, size, ANET_CHIP_M4, ANET_NUMERICS_FP16);
    run((const char *)data, size, NULL, 0, ANET_CHIP_M1, ANET_NUMERICS_FP32);
    return 0;
}
