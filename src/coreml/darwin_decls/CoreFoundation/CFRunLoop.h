/* Declarations for the Linux syntax check only (see ../README.md); from CoreFoundation's
 * CFRunLoop.h and CFDate.h. */
#ifndef ANET_DECLS_CFRUNLOOP_H
#define ANET_DECLS_CFRUNLOOP_H
#include <stdint.h>
#include <CoreFoundation/CoreFoundation.h>
typedef double CFTimeInterval;
typedef int32_t SInt32;
typedef SInt32 CFRunLoopRunResult;
extern const CFStringRef kCFRunLoopDefaultMode;
CFRunLoopRunResult CFRunLoopRunInMode(CFStringRef mode, CFTimeInterval seconds, Boolean returnAfterSourceHandled);
#endif
