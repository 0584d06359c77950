/* Comma-separated switch lists (see spec_list.h). */
#include "core/spec_list.h"

#include <string.h>

anet_status anet_spec_list_each(const char *spec, const char *var, anet_status (*fn)(void *ctx, char *item),
                                void *ctx) {
    if (!spec) return ANET_OK;
    const char *p = spec;
    while (*p) {
        while (*p == ',' || *p == ' ') p++;
        if (!*p) break;
        const char *e = p;
        while (*e && *e != ',') e++;
        char item[ANET_SPEC_ITEM_MAX];
        size_t n = (size_t)(e - p);
        if (n >= sizeof item) return anet_fail(ANET_E_INVALID, "%s: item too long near '%.20s'", var, p);
        memcpy(item, p, n);
        item[n] = '\0';
        while (n > 0 && item[n - 1] == ' ') item[--n] = '\0';
        anet_status st = fn(ctx, item);
        if (st) return st;
        p = e;
    }
    return ANET_OK;
}
