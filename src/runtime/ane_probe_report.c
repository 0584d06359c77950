/* Writing and reading the ladder's report (see ane_probe_report.h). */
#include "runtime/ane_probe_report.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/safe_file.h"
#include "plan/forms.h"

#define REPORT_MAX_BYTES (4u << 20) /* a report is a few tens of KB; refuse anything huge */

static cJSON *num_or_null(double v) { return isfinite(v) && v >= 0 ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

void anet_probe_report_add(cJSON *root, const anet_host *h, const anet_probe_result *res, int n,
                           anet_mil_dialect dialect) {
    cJSON *ho = cJSON_AddObjectToObject(root, "host");
    cJSON_AddStringToObject(ho, "os", h->os);
    cJSON_AddStringToObject(ho, "os_version", h->os_version);
    cJSON_AddStringToObject(ho, "machine", h->machine);
    cJSON_AddStringToObject(ho, "chip", h->chip);
    cJSON_AddStringToObject(root, "dialect", dialect == ANET_MIL_IOS16 ? "ios16" : "ios18");
    cJSON *arr = cJSON_AddArrayToObject(root, "probes");
    int passed = 0;
    for (int i = 0; i < n; i++) {
        const anet_probe_result *r = &res[i];
        const anet_probe_info *pi = anet_probe_get(r->probe);
        if (!pi) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", pi->id);
        cJSON_AddStringToObject(o, "rule", pi->rule);
        cJSON_AddStringToObject(o, "what", pi->what);
        cJSON_AddStringToObject(o, "form", pi->trigger ? "risky" : "workaround");
        cJSON_AddStringToObject(o, "outcome", anet_probe_outcome_name(r->outcome));
        if (r->status > 0) {
            char st[16];
            snprintf(st, sizeof st, "0x%x", (unsigned)r->status);
            cJSON_AddStringToObject(o, "status", st);
        } else {
            cJSON_AddNullToObject(o, "status");
        }
        cJSON_AddItemToObject(o, "max_err", num_or_null(r->max_err));
        cJSON_AddNumberToObject(o, "tolerance", r->tolerance);
        cJSON_AddBoolToObject(o, "all_zero", r->all_zero);
        cJSON_AddNumberToObject(o, "ms", round(r->ms * 1000) / 1000);
        if (r->error[0]) cJSON_AddStringToObject(o, "error", r->error);
        cJSON_AddItemToArray(arr, o);
        if (r->outcome == ANET_PROBE_PASSED) passed++;
    }
    cJSON *ps = cJSON_AddObjectToObject(root, "probe_summary");
    cJSON_AddNumberToObject(ps, "passed", passed);
    cJSON_AddNumberToObject(ps, "failed", n - passed);
    anet_probe_setting set[ANET_PROBE_MAX_RULES];
    int ns = anet_probe_implied(res, n, set, ANET_PROBE_MAX_RULES);
    cJSON *rs = cJSON_AddObjectToObject(root, "rule_settings");
    for (int i = 0; i < ns; i++) {
        cJSON *o = cJSON_AddObjectToObject(rs, set[i].rule);
        cJSON_AddStringToObject(o, "value", set[i].value);
        cJSON_AddStringToObject(o, "evidence", set[i].evidence);
    }
}

anet_status anet_probe_report_path(const char *backend, char *buf, size_t len) {
    const char *d = getenv("ANE_TRAINER_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (d && *d) n = snprintf(buf, len, "%s/selftest-%s.json", d, backend);
    else if (x && *x) n = snprintf(buf, len, "%s/ane_trainer/selftest-%s.json", x, backend);
#if defined(__APPLE__)
    else if (home && *home) n = snprintf(buf, len, "%s/Library/Caches/ane_trainer/selftest-%s.json", home, backend);
#else
    else if (home && *home) n = snprintf(buf, len, "%s/.cache/ane_trainer/selftest-%s.json", home, backend);
#endif
    else return anet_fail(ANET_E_NOTFOUND, "no cache directory (set HOME or ANE_TRAINER_CACHE_DIR)");
    if (n < 0 || (size_t)n >= len) return anet_fail(ANET_E_INVALID, "cache directory path too long");
    return ANET_OK;
}

/* mkdir -p of path's directory. */
static void make_parents(const char *path) {
    char d[4096];
    snprintf(d, sizeof d, "%s", path);
    char *slash = strrchr(d, '/');
    if (!slash || slash == d) return;
    *slash = '\0';
    for (char *p = d + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(d, 0755);
            *p = '/';
        }
    mkdir(d, 0755);
}

anet_status anet_probe_report_store(const char *path, const char *text) {
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return anet_fail(ANET_E_INVALID, "report path too long");
    make_parents(path);
    FILE *f = anet_fopen_output(tmp, "selftest report", O_TRUNC); /* never through a planted symlink */
    int bad = !f || fprintf(f, "%s\n", text) < 0;
    if (f && fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return anet_fail(ANET_E_IO, "could not write the report to '%s'", path);
    }
    return ANET_OK;
}

static void copy_str(const cJSON *o, const char *key, char *dst, size_t len) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(dst, len, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

anet_status anet_probe_report_read(const char *path, anet_probe_report *out) {
    memset(out, 0, sizeof *out);
    FILE *f = NULL;
    anet_status st = anet_fopen_input(path, "selftest report", &f, NULL); /* a FIFO never blocks us */
    if (st) return st;
    char *text = malloc(REPORT_MAX_BYTES + 1);
    size_t n = text ? fread(text, 1, REPORT_MAX_BYTES + 1, f) : 0;
    fclose(f);
    if (!text) return anet_fail(ANET_E_NOMEM, "out of memory reading '%s'", path);
    if (n > REPORT_MAX_BYTES) {
        free(text);
        return anet_fail(ANET_E_FORMAT, "'%s' is not a selftest report (larger than %u bytes)", path, REPORT_MAX_BYTES);
    }
    text[n] = '\0';
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    const cJSON *host = root ? cJSON_GetObjectItemCaseSensitive(root, "host") : NULL;
    const cJSON *rs = root ? cJSON_GetObjectItemCaseSensitive(root, "rule_settings") : NULL;
    const cJSON *tool = root ? cJSON_GetObjectItemCaseSensitive(root, "tool") : NULL;
    if (!root || !cJSON_IsObject(host) || !cJSON_IsObject(rs) || !cJSON_IsString(tool) ||
        strcmp(tool->valuestring, "ane_trainer selftest") != 0) {
        cJSON_Delete(root);
        return anet_fail(ANET_E_FORMAT, "'%s' is not an ane_trainer selftest report (run `ane_trainer selftest` again)",
                         path);
    }
    copy_str(host, "os", out->host.os, sizeof out->host.os);
    copy_str(host, "os_version", out->host.os_version, sizeof out->host.os_version);
    copy_str(host, "machine", out->host.machine, sizeof out->host.machine);
    copy_str(host, "chip", out->host.chip, sizeof out->host.chip);
    copy_str(root, "backend", out->backend, sizeof out->backend);
    copy_str(root, "dialect", out->dialect, sizeof out->dialect);
    /* Only rules the ladder knows, mapped onto its own strings; a value must be short text. */
    for (int i = 0; i < anet_probes_count(); i++) {
        const char *rule = anet_probe_get(i)->rule;
        int seen = 0;
        for (int k = 0; k < out->nsettings && !seen; k++) seen = !strcmp(out->settings[k].rule, rule);
        if (seen || out->nsettings >= ANET_PROBE_MAX_RULES) continue;
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(rs, rule);
        const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "value") : NULL;
        if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof out->settings[0].value) continue;
        anet_probe_setting *s = &out->settings[out->nsettings++];
        s->rule = rule;
        snprintf(s->value, sizeof s->value, "%s", v->valuestring);
        copy_str(o, "evidence", s->evidence, sizeof s->evidence);
    }
    cJSON_Delete(root);
    return ANET_OK;
}

int anet_probe_report_matches(const anet_probe_report *r, const anet_host *h, const char *backend, char *why,
                              size_t len) {
    const char *what = NULL;
    char a[128] = "", b[128] = "";
    if (strcmp(r->backend, backend)) what = "backend", snprintf(a, sizeof a, "%s", r->backend), snprintf(b, sizeof b, "%s", backend);
    else if (strcmp(r->host.os, h->os)) what = "OS", snprintf(a, sizeof a, "%s", r->host.os), snprintf(b, sizeof b, "%s", h->os);
    else if (strcmp(r->host.os_version, h->os_version))
        what = "OS version", snprintf(a, sizeof a, "%s", r->host.os_version), snprintf(b, sizeof b, "%s", h->os_version);
    else if (strcmp(r->host.chip, h->chip)) what = "chip", snprintf(a, sizeof a, "%s", r->host.chip), snprintf(b, sizeof b, "%s", h->chip);
    if (!what) {
        if (why && len) why[0] = '\0';
        return 1;
    }
    if (why && len) snprintf(why, len, "the stored report is for %s '%s', this is '%s'", what, a, b);
    return 0;
}

const char *anet_probe_report_value(const anet_probe_report *r, const char *rule) {
    for (int i = 0; i < r->nsettings; i++)
        if (!strcmp(r->settings[i].rule, rule)) return r->settings[i].value;
    return NULL;
}

int anet_probe_forms_spec(const anet_probe_setting *s, int n, char *buf, size_t len) {
    int items = 0;
    size_t at = 0;
    if (len) buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *v = s[i].value;
        if (anet_form_find(s[i].rule) < 0 || !strcmp(v, "unknown") || !v[0]) continue;
        char item[64];
        if (!strcmp(s[i].rule, "max-inputs")) {
            if (strspn(v, "0") == strlen(v)) continue; /* not even one input ran: nothing learned */
            /* Anything else as written (no separators), so that a value that is not a count
             * ("3x", "-5", 10^20) makes the switches fail to parse and the report go unused,
             * instead of being read as a prefix or an overflowed int. */
            snprintf(item, sizeof item, "max-inputs=%.40s", v);
            for (char *c = item + strlen("max-inputs="); *c; c++)
                if (*c == ',' || *c == '=') *c = '?';
        } else if (!strcmp(v, "on") || !strcmp(v, "off") || !strcmp(v, "packed") || !strcmp(v, "strided64")) {
            snprintf(item, sizeof item, "%s=%s", s[i].rule, v);
        } else {
            continue;
        }
        size_t need = strlen(item) + (items ? 1 : 0);
        if (at + need >= len) break; /* never half an item */
        snprintf(buf + at, len - at, "%s%s", items ? "," : "", item);
        at += need;
        items++;
    }
    return items;
}

anet_status anet_probe_report_apply_auto(const char *backend, anet_chip chip, anet_forms *f, char *note, size_t len) {
    if (len) note[0] = '\0';
    char path[4096];
    if (anet_probe_report_path(backend, path, sizeof path)) return ANET_OK; /* no cache directory: nothing stored */
    anet_probe_report r;
    anet_status st = anet_probe_report_read(path, &r);
    if (st == ANET_E_NOTFOUND) return ANET_OK;
    if (st) {
        snprintf(note, len, "selftest report not used: %s", anet_last_error());
        return ANET_OK;
    }
    anet_host h;
    anet_host_get(&h);
    char why[300];
    if (!anet_probe_report_matches(&r, &h, backend, why, sizeof why)) {
        snprintf(note, len, "selftest report '%s' not used: %s (run `ane_trainer selftest` again)", path, why);
        return ANET_OK;
    }
    char spec[1024];
    anet_probe_forms_spec(r.settings, r.nsettings, spec, sizeof spec);
    anet_forms g;
    anet_forms_default(chip, &g);
    if (anet_forms_parse(spec, &g)) {
        snprintf(note, len, "selftest report '%s' not used: its switches do not parse (%s)", path, anet_last_error());
        return ANET_OK;
    }
    /* All 8 input counts ran: a lower bound, not a limit; a chip without the rule keeps none. */
    const char *mi = anet_probe_report_value(&r, "max-inputs");
    anet_forms d;
    anet_forms_default(chip, &d);
    if (mi && atoi(mi) >= 8 && !d.on[ANET_FORM_MAX_INPUTS]) g.on[ANET_FORM_MAX_INPUTS] = 0;
    if ((st = anet_forms_env(&g))) return st;
    *f = g;
    snprintf(note, len, "program forms from the selftest report '%s' (%s%s%s %s): %s", path, h.chip[0] ? h.chip : h.machine,
             ", ", h.os, h.os_version, spec[0] ? spec : "no rule decided");
    return ANET_OK;
}
