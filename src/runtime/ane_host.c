/* anet_host_get: uname everywhere; on macOS the product version and the chip's name from
 * sysctl (kern.osproductversion, machdep.cpu.brand_string). */
#include "runtime/ane_host.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

#if defined(__APPLE__)
static void sysctl_string(const char *name, char *buf, size_t len) {
    size_t n = len;
    if (sysctlbyname(name, buf, &n, NULL, 0) != 0) buf[0] = '\0';
    buf[len - 1] = '\0';
}
#endif

void anet_host_get(anet_host *h) {
    memset(h, 0, sizeof *h);
    struct utsname u;
    if (uname(&u) == 0) {
        snprintf(h->os, sizeof h->os, "%s", u.sysname);
        snprintf(h->os_version, sizeof h->os_version, "%s", u.release);
        snprintf(h->machine, sizeof h->machine, "%s", u.machine);
    }
#if defined(__APPLE__)
    char v[64];
    sysctl_string("kern.osproductversion", v, sizeof v);
    if (v[0]) snprintf(h->os_version, sizeof h->os_version, "%s", v);
    sysctl_string("machdep.cpu.brand_string", h->chip, sizeof h->chip);
#endif
}
