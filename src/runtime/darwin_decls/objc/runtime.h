/* Declarations for the Linux syntax check only (see ../README.md); from <objc/runtime.h>. */
#ifndef ANET_DECLS_OBJC_RUNTIME_H
#define ANET_DECLS_OBJC_RUNTIME_H
#include <objc/objc.h>
Class objc_getClass(const char *name);
Class object_getClass(id obj);
BOOL class_respondsToSelector(Class cls, SEL sel);
#endif
