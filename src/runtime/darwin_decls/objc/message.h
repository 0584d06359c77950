/* Declarations for the Linux syntax check only (see ../README.md); from <objc/message.h>
 * with OBJC_OLD_DISPATCH_PROTOTYPES=0: callers cast it to the method's real type. */
#ifndef ANET_DECLS_OBJC_MESSAGE_H
#define ANET_DECLS_OBJC_MESSAGE_H
#include <objc/objc.h>
void objc_msgSend(void);
#endif
