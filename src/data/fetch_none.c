/* `data fetch` when the library is built without libcurl (fetch_curl.c is left out then). */
#include "data/fetch.h"

#ifndef ANET_WITH_CURL
#include "core/error.h"

int anet_fetch_available(void) { return 0; }

anet_status anet_fetch_dataset(const anet_dataset_spec *spec, const anet_fetch_opts *opts) {
    (void)opts;
    return anet_fail(ANET_E_UNSUPPORTED, "cannot fetch %s: built without libcurl (install libcurl and rebuild, or download the files by hand)",
                     spec && spec->name ? spec->name : "dataset");
}
#else
/* Keeps this translation unit non-empty (ISO C) when libcurl is present. */
typedef int anet_fetch_none_unused;
#endif
