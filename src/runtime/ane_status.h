/* Statuses the ANE framework reports (inside its NSError text, "status=0x..."), each with
 * what it means and what the user can do about it, from the reports in ANE_FACTS.md. */
#ifndef ANET_RUNTIME_ANE_STATUS_H
#define ANET_RUNTIME_ANE_STATUS_H

typedef struct anet_ane_status_info {
    int status;
    const char *meaning; /* what the framework is saying */
    const char *action;  /* what to do about it */
    const char *source;  /* who reported it */
} anet_ane_status_info;

/* The entry for a status, NULL when it is not a known one. */
const anet_ane_status_info *anet_ane_status_lookup(int status);
/* All entries (for docs and tests). */
const anet_ane_status_info *anet_ane_status_table(int *n);

#endif
