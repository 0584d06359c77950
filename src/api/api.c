/* Small pieces of the public C API: versions and memory returned to callers. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/error.h"

int anet_api_version(void) { return ANET_API_VERSION; }

void anet_free(void *p) { free(p); }

anet_status anet_api_json_out(cJSON *root, char **json) {
    if (!root) return anet_fail(ANET_E_NOMEM, "out of memory building JSON");
    /* cJSON allocates with malloc by default, but anet_free must match whatever allocated the
     * string: copy it into our own malloc'd buffer. */
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s) return anet_fail(ANET_E_NOMEM, "out of memory writing JSON");
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (copy) memcpy(copy, s, n + 1);
    cJSON_free(s);
    if (!copy) return anet_fail(ANET_E_NOMEM, "out of memory writing JSON");
    *json = copy;
    return ANET_OK;
}
