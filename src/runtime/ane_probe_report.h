/* The probe ladder's part of the selftest report (JSON) and reading a stored report back,
 * so `train --backend auto` can choose program forms from what this very chip and OS did.
 * Format (docs/selftest.md): "host" {os, os_version, machine, chip}, "backend", "chip"
 * (the constraint profile), "dialect", "probes" [...], "rule_settings" {rule: {value,
 * evidence}}. */
#ifndef ANET_RUNTIME_ANE_PROBE_REPORT_H
#define ANET_RUNTIME_ANE_PROBE_REPORT_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "plan/forms.h"
#include "runtime/ane_host.h"
#include "runtime/ane_probes.h"

/* Adds host, dialect, probes and rule_settings to root. */
void anet_probe_report_add(cJSON *root, const anet_host *h, const anet_probe_result *res, int n,
                           anet_mil_dialect dialect);

/* Where selftest stores the report of `backend` and train reads it: $ANE_TRAINER_CACHE_DIR,
 * else $XDG_CACHE_HOME/ane_trainer, else ~/Library/Caches/ane_trainer (macOS) or
 * ~/.cache/ane_trainer; file selftest-<backend>.json. ANET_E_NOTFOUND when no directory can
 * be named (no HOME). */
anet_status anet_probe_report_path(const char *backend, char *buf, size_t len);
/* Writes text to path through path.tmp and a rename (creating the cache directory). */
anet_status anet_probe_report_store(const char *path, const char *text);

typedef struct anet_probe_report {
    anet_host host;
    char backend[16];
    char dialect[8];          /* "ios16" / "ios18" */
    int nsettings;
    anet_probe_setting settings[ANET_PROBE_MAX_RULES]; /* rules the ladder knows; others are skipped */
} anet_probe_report;

/* Reads a report file. ANET_E_NOTFOUND when absent; ANET_E_FORMAT (one line naming the
 * file and the problem) when it is not a selftest report. */
anet_status anet_probe_report_read(const char *path, anet_probe_report *out);
/* 1 when the report was measured on this host (same OS, OS version and chip) with this
 * backend; else 0 and why says what differs. */
int anet_probe_report_matches(const anet_probe_report *r, const anet_host *h, const char *backend, char *why,
                              size_t len);
/* The value a report gives a rule ("on", "off", "3", ...), NULL when it does not say. */
const char *anet_probe_report_value(const anet_probe_report *r, const char *rule);

/* The program-form switches (plan/forms.h, the ANE_TRAINER_FORMS syntax) that settings imply:
 * "broadcast-channel=on,max-inputs=3,row-layout=strided64,...". Only rules of the form table;
 * "unknown" settings are left out (the chip's default, the conservative reading, stays).
 * Returns the number of items. */
int anet_probe_forms_spec(const anet_probe_setting *s, int n, char *buf, size_t len);

/* For `train --backend auto` once it chose `backend` (ane, or ane-sim in tests): when the
 * stored report of that backend (anet_probe_report_path) was measured on this chip and OS,
 * rebuilds f as the chip's defaults, then the report's switches, then ANE_TRAINER_FORMS (the
 * user's switches win), and writes one sentence saying so into note. No report: f unchanged,
 * note "". A report that does not match or cannot be read: f unchanged, note says why it
 * was not used. Fails only for a malformed ANE_TRAINER_FORMS. */
anet_status anet_probe_report_apply_auto(const char *backend, anet_chip chip, anet_forms *f, char *note, size_t len);

#endif
