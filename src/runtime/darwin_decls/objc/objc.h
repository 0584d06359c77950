/* Declarations for the Linux syntax check only (see ../README.md); from <objc/objc.h>. */
#ifndef ANET_DECLS_OBJC_OBJC_H
#define ANET_DECLS_OBJC_OBJC_H
#include <stdbool.h>
typedef struct objc_class *Class;
typedef struct objc_object *id;
typedef struct objc_selector *SEL;
#if defined(__arm64__) || defined(__aarch64__)
typedef bool BOOL;
#else
typedef signed char BOOL;
#endif
#define YES ((BOOL)1)
#define NO ((BOOL)0)
#ifndef nil
#define nil ((id)0)
#endif
SEL sel_registerName(const char *str);
#endif
