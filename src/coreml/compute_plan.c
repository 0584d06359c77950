/* The portable half of `check --on-device`: the OS's per-layer plan (from the seam) merged
 * with our verdicts. Matching goes through a sorted index, so a model with many layers stays
 * O(n log n). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "coreml/compute_plan.h"

const char *anet_cp_device_name(int d) {
    switch (d) {
    case ANET_CP_ANE: return "ane";
    case ANET_CP_CPU: return "cpu";
    case ANET_CP_GPU: return "gpu";
    case ANET_CP_OTHER: return "other";
    default: return "-";
    }
}

anet_status anet_cp_plan_add(anet_cp_plan *p, const char *model_path, const char *name, const char *type,
                             int preferred, unsigned supported) {
    if (p->n == p->cap) {
        if (p->cap > (1 << 24)) return anet_fail(ANET_E_NOMEM, "compute plan: too many layers");
        int nc = p->cap ? p->cap * 2 : 16;
        anet_cp_entry *e = realloc(p->entries, (size_t)nc * sizeof *e);
        if (!e) return anet_fail(ANET_E_NOMEM, "compute plan: out of memory");
        p->entries = e;
        p->cap = nc;
    }
    anet_cp_entry *e = &p->entries[p->n];
    e->model_path = anet_cm_strndup(model_path ? model_path : "", strlen(model_path ? model_path : ""));
    e->name = anet_cm_strndup(name ? name : "", strlen(name ? name : ""));
    e->type = anet_cm_strndup(type ? type : "", strlen(type ? type : ""));
    e->preferred = preferred;
    e->supported = supported;
    if (!e->model_path || !e->name || !e->type) {
        free(e->model_path);
        free(e->name);
        free(e->type);
        return anet_fail(ANET_E_NOMEM, "compute plan: out of memory");
    }
    p->n++;
    return ANET_OK;
}

void anet_cp_plan_free(anet_cp_plan *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        free(p->entries[i].model_path);
        free(p->entries[i].name);
        free(p->entries[i].type);
    }
    free(p->entries);
    memset(p, 0, sizeof *p);
}

typedef struct key_ref {
    const char *path, *name;
    int idx;
} key_ref;

static int cmp_key(const void *a, const void *b) {
    const key_ref *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (!c) c = strcmp(x->name, y->name);
    if (!c) c = (x->idx > y->idx) - (x->idx < y->idx);
    return c;
}

/* The name the OS knows a layer by: NN layer name; ML Program op: its first output. */
static const char *layer_key(const anet_cm_layer *l) {
    return l->is_mil && l->noutputs > 0 ? l->outputs[0] : l->name;
}

anet_status anet_cm_merge_plan(anet_cm_model *m, const anet_cp_plan *p) {
    key_ref *refs = malloc(((size_t)p->n + 1) * sizeof *refs);
    unsigned char *used = calloc((size_t)p->n + 1, 1);
    if (!refs || !used) {
        free(refs);
        free(used);
        return anet_fail(ANET_E_NOMEM, "%s: out of memory merging the compute plan", m->path);
    }
    for (int i = 0; i < p->n; i++) refs[i] = (key_ref){p->entries[i].model_path, p->entries[i].name, i};
    qsort(refs, (size_t)p->n, sizeof *refs, cmp_key);
    m->on_device = 1;
    m->os_ane = m->os_cpu = m->os_gpu = m->os_unreported = m->os_mismatches = m->os_extra = 0;
    for (int i = 0; i < m->nlayers; i++) {
        anet_cm_layer *l = &m->layers[i];
        l->os_device = ANET_CP_NONE;
        l->os_supported = 0;
        l->os_mismatch = 0;
        /* First unused entry with this key (duplicated names match in order). */
        size_t lo = 0, hi = (size_t)p->n;
        key_ref want = {l->model_path, layer_key(l), -1};
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (cmp_key(&refs[mid], &want) < 0) lo = mid + 1;
            else hi = mid;
        }
        while (lo < (size_t)p->n && strcmp(refs[lo].path, want.path) == 0 && strcmp(refs[lo].name, want.name) == 0 &&
               used[refs[lo].idx])
            lo++;
        if (lo >= (size_t)p->n || strcmp(refs[lo].path, want.path) != 0 || strcmp(refs[lo].name, want.name) != 0) {
            m->os_unreported++;
            continue;
        }
        const anet_cp_entry *e = &p->entries[refs[lo].idx];
        used[refs[lo].idx] = 1;
        l->os_device = e->preferred;
        l->os_supported = e->supported;
        if (e->preferred == ANET_CP_NONE) {
            m->os_unreported++;
            continue;
        }
        if (e->preferred == ANET_CP_ANE) m->os_ane++;
        else if (e->preferred == ANET_CP_GPU) m->os_gpu++;
        else m->os_cpu++; /* CPU, or a device class we do not know: off the ANE either way */
        l->os_mismatch = (l->verdict == ANET_CM_ANE && e->preferred != ANET_CP_ANE) ||
                         (l->verdict == ANET_CM_CPU && e->preferred == ANET_CP_ANE);
        m->os_mismatches += l->os_mismatch;
    }
    for (int i = 0; i < p->n; i++) m->os_extra += !used[i];
    free(refs);
    free(used);
    return ANET_OK;
}

anet_status anet_cm_on_device(anet_cm_model *m, const anet_cp_seam *seam) {
    if (m->private_path)
        return anet_fail(ANET_E_INVALID,
                         "%s: --on-device needs a Core ML model (.mlmodel, .mlpackage or .mlmodelc): Core ML "
                         "cannot plan %s, which run through the private ANE API",
                         m->path, strcmp(m->format, "mil") == 0 ? "MIL text files" : "the trainer's programs");
    anet_cp_seam os;
    if (!seam) {
        anet_status st = anet_cp_seam_os(&os);
        if (st != ANET_OK) return st;
        seam = &os;
    }
    anet_cp_plan plan;
    memset(&plan, 0, sizeof plan);
    anet_status st = seam->query(seam->ctx, m->path, &plan);
    if (st == ANET_OK) st = anet_cm_merge_plan(m, &plan);
    if (st == ANET_OK) snprintf(m->os_source, sizeof m->os_source, "%s", seam->name ? seam->name : "?");
    anet_cp_plan_free(&plan);
    return st;
}

/* ---- the replay seam: a plan recorded as JSON ---- */

#define REPLAY_MAX_BYTES ((long)64 << 20)

static int device_lookup(const char *s) {
    static const char *const names[] = {"-", "ane", "cpu", "gpu", "other"};
    for (int d = ANET_CP_ANE; d <= ANET_CP_OTHER; d++)
        if (s && strcmp(s, names[d]) == 0) return d;
    return -1;
}

static const char *json_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static anet_status replay_query(void *ctx, const char *model_path, anet_cp_plan *out) {
    const char *file = ctx;
    (void)model_path;
    FILE *f = fopen(file, "rb");
    if (!f) return anet_fail(ANET_E_IO, "compute plan %s: cannot open: %s", file, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > REPLAY_MAX_BYTES) {
        fclose(f);
        return anet_fail(ANET_E_IO, "compute plan %s: not a regular file of at most %ld bytes", file, REPLAY_MAX_BYTES);
    }
    size_t n = (size_t)sb.st_size;
    char *text = malloc(n + 1);
    size_t got = text ? fread(text, 1, n, f) : 0;
    fclose(f);
    if (!text || got != n) {
        free(text);
        return anet_fail(ANET_E_IO, "compute plan %s: read error", file);
    }
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (!cJSON_IsArray(layers)) {
        cJSON_Delete(root);
        return anet_fail(ANET_E_FORMAT, "compute plan %s: not a JSON object with a \"layers\" array", file);
    }
    anet_status st = ANET_OK;
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, layers) {
        const char *name = json_str(e, "name"), *pref = json_str(e, "preferred");
        int d = pref ? device_lookup(pref) : ANET_CP_NONE;
        if (!name || d < 0) {
            st = anet_fail(ANET_E_FORMAT, "compute plan %s: layers[%d] needs a \"name\" and a \"preferred\" device "
                           "(ane, cpu, gpu, other)", file, i);
            break;
        }
        unsigned sup = 0;
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(e, "supported")) {
            int sd = cJSON_IsString(s) ? device_lookup(s->valuestring) : -1;
            if (sd > 0) sup |= 1u << sd;
        }
        const char *mp = json_str(e, "model_path"), *type = json_str(e, "type");
        if ((st = anet_cp_plan_add(out, mp ? mp : "", name, type ? type : "", d, sup)) != ANET_OK) break;
        i++;
    }
    cJSON_Delete(root);
    return st;
}

void anet_cp_seam_replay(const char *file, anet_cp_seam *out) {
    out->name = "replay";
    out->query = replay_query;
    out->ctx = (void *)(uintptr_t)file;
}

#if !defined(__APPLE__)
anet_status anet_cp_seam_os(anet_cp_seam *out) {
    memset(out, 0, sizeof *out);
    return anet_fail(ANET_E_UNSUPPORTED,
                     "--on-device needs macOS 14.4+ (Core ML's MLComputePlan); this build is for another "
                     "system (run check without --on-device for the static verdicts)");
}
#endif
