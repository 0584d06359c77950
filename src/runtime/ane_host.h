/* The machine a selftest report describes: a stored report is used only on the chip and OS
 * version it was measured on. */
#ifndef ANET_RUNTIME_ANE_HOST_H
#define ANET_RUNTIME_ANE_HOST_H

typedef struct anet_host {
    char os[72];         /* uname sysname: "Darwin", "Linux" */
    char os_version[72]; /* macOS product version ("14.5"); elsewhere the kernel release */
    char machine[72];    /* "arm64", "x86_64" */
    char chip[96];       /* "Apple M1 Pro" on a Mac; "" where unknown */
} anet_host;

void anet_host_get(anet_host *h);

#endif
