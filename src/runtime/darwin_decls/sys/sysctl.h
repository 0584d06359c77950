/* Declarations for the Linux syntax check only (see ../README.md); from <sys/sysctl.h>. */
#ifndef ANET_DECLS_SYS_SYSCTL_H
#define ANET_DECLS_SYS_SYSCTL_H
#include <stddef.h>
int sysctlbyname(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
#endif
