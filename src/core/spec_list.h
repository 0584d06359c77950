/* Comma-separated switch lists of environment variables ("eval@5,compile", "strict,RULE=off"):
 * one splitter, so every variable trims and bounds its items the same way. */
#ifndef ANET_CORE_SPEC_LIST_H
#define ANET_CORE_SPEC_LIST_H

#include "core/error.h"

#define ANET_SPEC_ITEM_MAX 96

/* Calls fn(ctx, item) for each non-empty item of spec (split at commas, spaces trimmed) and
 * stops at the first error. An item longer than ANET_SPEC_ITEM_MAX - 1 is an error naming
 * `var`. spec NULL: nothing. */
anet_status anet_spec_list_each(const char *spec, const char *var, anet_status (*fn)(void *ctx, char *item),
                                void *ctx);

#endif
