/* The ANE seam on macOS: AppleNeuralEngine.framework's private classes reached from C through
 * the Objective-C runtime (objc_getClass, sel_registerName, objc_msgSend cast to each
 * method's type), CoreFoundation for the data/dictionaries/arrays/numbers/strings (toll-free
 * bridged to their NS counterparts), and IOSurface for the I/O buffers. The call sequence
 * and argument types are the facts of ANE_FACTS.md "The private API" (maderix/ANE
 * training/ane_runtime.h; mechramc/Orion core/ane_runtime.m).
 *
 * NOTE: written from those facts; it has never run on a Mac in this project (no machine here
 * has one). On Linux it is only compiled with -fsyntax-only (scripts/check_darwin.sh). */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysctl.h>
#include <unistd.h>

#include <CoreFoundation/CoreFoundation.h>
#include <IOSurface/IOSurface.h>
#include <objc/message.h>
#include <objc/runtime.h>

#include "core/error.h"
#include "runtime/ane_backend.h"
#include "runtime/ane_seam.h"

#define ANE_FRAMEWORK "/System/Library/PrivateFrameworks/AppleNeuralEngine.framework/AppleNeuralEngine"
#define ANE_QOS 21u /* the QoS every working trainer passes */

/* Typed views of objc_msgSend, one per method shape used. */
typedef id (*msg_id)(id, SEL);
typedef id (*msg_id_id)(id, SEL, id);
typedef id (*msg_id_3id)(id, SEL, id, id, id);
typedef id (*msg_id_7id)(id, SEL, id, id, id, id, id, id, id);
typedef id (*msg_id_ptr)(id, SEL, void *);
typedef void (*msg_void)(id, SEL);
typedef long (*msg_long)(id, SEL);
typedef BOOL (*msg_qos_opt_err)(id, SEL, unsigned int, id, id *);
typedef BOOL (*msg_qos_err)(id, SEL, unsigned int, id *);
typedef BOOL (*msg_qos_opt_req_err)(id, SEL, unsigned int, id, id, id *);

/* Through a plain function pointer: casting the function designator itself makes gcc warn
 * that a function is called through a non-compatible type. The explicit cast also accepts
 * the SDK's older variadic prototype (OBJC_OLD_DISPATCH_PROTOTYPES=1). */
typedef void (*msg_any)(void);
static msg_any msg_send(void) { return (msg_any)objc_msgSend; }
#define MSG(type) ((type)msg_send())

typedef struct darwin_ctx {
    void *fw;
    Class desc_cls, model_cls, req_cls, io_cls, pool_cls;
    int opened;
    char err[1024];
} darwin_ctx;

struct anet_ane_model {
    id model; /* _ANEInMemoryModel, retained */
    char dir[1024]; /* NSTemporaryDirectory()/<hex>/ with model.mil and weights/weight.bin */
    int loaded;
};

struct anet_ane_surface {
    IOSurfaceRef surf;
    id obj; /* _ANEIOSurfaceObject wrapping surf, retained */
    size_t bytes;
};

struct anet_ane_request {
    id req; /* _ANERequest, retained */
};

static int set_err(darwin_ctx *c, int rc, const char *fmt, ...) ANET_PRINTF(3, 4);
static int set_err(darwin_ctx *c, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return rc;
}

static SEL sel(const char *s) { return sel_registerName(s); }

static id as_id(CFTypeRef r) { return (id)(uintptr_t)r; }

static id retain(id o) { return o ? MSG(msg_id)(o, sel("retain")) : o; }
static void release(id o) {
    if (o) MSG(msg_void)(o, sel("release"));
}

/* Objects returned by class factories are autoreleased: a pool per operation frees them. */
static id pool_push(darwin_ctx *c) {
    if (!c->pool_cls) return NULL;
    id p = MSG(msg_id)((id)c->pool_cls, sel("alloc"));
    return p ? MSG(msg_id)(p, sel("init")) : NULL;
}
static void pool_pop(id p) {
    if (p) MSG(msg_void)(p, sel("drain"));
}

/* The text of an NSError (its description), for the user and for the 0x1d status. */
static void error_text(id err, char *buf, size_t len) {
    buf[0] = '\0';
    if (!err) return;
    long code = MSG(msg_long)(err, sel("code"));
    id desc = MSG(msg_id)(err, sel("description"));
    char tmp[900] = "";
    if (desc) CFStringGetCString((CFStringRef)(const void *)desc, tmp, (CFIndex)sizeof tmp, kCFStringEncodingUTF8);
    snprintf(buf, len, "%s (code %ld)", tmp, code);
}

static CFNumberRef num(long long v) {
    int64_t x = v;
    return CFNumberCreate(kCFAllocatorDefault, kCFNumberSInt64Type, &x);
}

static CFDictionaryRef empty_dict(void) {
    return CFDictionaryCreate(kCFAllocatorDefault, NULL, NULL, 0, &kCFTypeDictionaryKeyCallBacks,
                              &kCFTypeDictionaryValueCallBacks);
}

static int d_open(void *ctx) {
    darwin_ctx *c = ctx;
    if (c->opened) return 0;
    c->fw = dlopen(ANE_FRAMEWORK, RTLD_NOW);
    if (!c->fw) {
        const char *e = dlerror();
        return set_err(c, ANET_ANE_RC_UNAVAILABLE, "dlopen(%s) failed: %s", ANE_FRAMEWORK, e ? e : "?");
    }
    c->desc_cls = objc_getClass("_ANEInMemoryModelDescriptor");
    c->model_cls = objc_getClass("_ANEInMemoryModel");
    c->req_cls = objc_getClass("_ANERequest");
    c->io_cls = objc_getClass("_ANEIOSurfaceObject");
    c->pool_cls = objc_getClass("NSAutoreleasePool");
    if (!c->desc_cls || !c->model_cls || !c->req_cls || !c->io_cls)
        return set_err(c, ANET_ANE_RC_UNAVAILABLE, "private classes not found:%s%s%s%s (macOS version mismatch?)",
                       c->desc_cls ? "" : " _ANEInMemoryModelDescriptor",
                       c->model_cls ? "" : " _ANEInMemoryModel", c->req_cls ? "" : " _ANERequest",
                       c->io_cls ? "" : " _ANEIOSurfaceObject");
    c->opened = 1;
    return 0;
}

static int write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static void remove_dir(const char *dir) {
    char p[1200];
    snprintf(p, sizeof p, "%s/model.mil", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/weights/weight.bin", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/weights", dir);
    rmdir(p);
    rmdir(dir);
}

static int d_model_create(void *ctx, const char *mil, size_t mil_len, const uint8_t *w, size_t wlen,
                          anet_ane_model **out) {
    darwin_ctx *c = ctx;
    *out = NULL;
    if (!c->opened) return set_err(c, ANET_ANE_RC_INVALID, "model_create before open");
    anet_ane_model *m = calloc(1, sizeof *m);
    if (!m) return set_err(c, ANET_ANE_RC_NOMEM, "out of memory");
    id pool = pool_push(c);
    int rc = 0;
    /* MIL text as NSData (UTF-8), never NSString (Orion #9). */
    CFDataRef mil_data = CFDataCreate(kCFAllocatorDefault, (const UInt8 *)mil, (CFIndex)mil_len);
    CFDataRef w_data = NULL;
    CFDictionaryRef inner = NULL, wdict = NULL;
    if (wlen) {
        w_data = CFDataCreate(kCFAllocatorDefault, w, (CFIndex)wlen);
        CFStringRef k_off = CFStringCreateWithCString(kCFAllocatorDefault, "offset", kCFStringEncodingUTF8);
        CFStringRef k_data = CFStringCreateWithCString(kCFAllocatorDefault, "data", kCFStringEncodingUTF8);
        CFNumberRef zero = num(0);
        const void *ik[2] = {k_off, k_data}, *iv[2] = {zero, w_data};
        inner = CFDictionaryCreate(kCFAllocatorDefault, ik, iv, 2, &kCFTypeDictionaryKeyCallBacks,
                                   &kCFTypeDictionaryValueCallBacks);
        CFStringRef k_path = CFStringCreateWithCString(kCFAllocatorDefault, "@model_path/weights/weight.bin",
                                                       kCFStringEncodingUTF8);
        const void *ok[1] = {k_path}, *ov[1] = {inner};
        wdict = CFDictionaryCreate(kCFAllocatorDefault, ok, ov, 1, &kCFTypeDictionaryKeyCallBacks,
                                   &kCFTypeDictionaryValueCallBacks);
        CFRelease(k_off);
        CFRelease(k_data);
        CFRelease(zero);
        CFRelease(k_path);
    } else {
        wdict = empty_dict(); /* an empty dictionary, never nil (Orion #11) */
    }
    id desc = MSG(msg_id_3id)((id)c->desc_cls, sel("modelWithMILText:weights:optionsPlist:"),
                              as_id(mil_data), as_id(wdict), nil);
    id model = desc ? MSG(msg_id_id)((id)c->model_cls, sel("inMemoryModelWithDescriptor:"), desc) : nil;
    if (!desc || !model) {
        rc = set_err(c, ANET_ANE_RC_NOMEM, "%s returned nil",
                     desc ? "+[_ANEInMemoryModel inMemoryModelWithDescriptor:]"
                          : "+[_ANEInMemoryModelDescriptor modelWithMILText:weights:optionsPlist:]");
    } else {
        m->model = retain(model);
        /* The compiler reads model.mil and weights/weight.bin from the temporary directory
         * named by the model's hex identifier. */
        id hex = MSG(msg_id)(model, sel("hexStringIdentifier"));
        char hx[256] = "";
        if (hex) CFStringGetCString((CFStringRef)(const void *)hex, hx, (CFIndex)sizeof hx, kCFStringEncodingUTF8);
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !*tmp) tmp = "/tmp/";
        size_t tl = strlen(tmp);
        snprintf(m->dir, sizeof m->dir, "%s%s%s", tmp, (tl && tmp[tl - 1] == '/') ? "" : "/", hx);
        char p[1200];
        snprintf(p, sizeof p, "%s/weights", m->dir);
        if (!hx[0] || (mkdir(m->dir, 0700) != 0 && access(m->dir, W_OK) != 0) ||
            (mkdir(p, 0700) != 0 && access(p, W_OK) != 0)) {
            rc = set_err(c, ANET_ANE_RC_NOMEM, "could not create the model directory '%s'", m->dir);
        } else {
            snprintf(p, sizeof p, "%s/model.mil", m->dir);
            int bad = write_file(p, mil, mil_len);
            if (wlen) {
                snprintf(p, sizeof p, "%s/weights/weight.bin", m->dir);
                bad |= write_file(p, w, wlen);
            }
            if (bad) rc = set_err(c, ANET_ANE_RC_NOMEM, "could not write the program under '%s'", m->dir);
        }
    }
    if (mil_data) CFRelease(mil_data);
    if (w_data) CFRelease(w_data);
    if (inner) CFRelease(inner);
    if (wdict) CFRelease(wdict);
    pool_pop(pool);
    if (rc) {
        if (m->dir[0]) remove_dir(m->dir);
        release(m->model);
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static int qos_call(darwin_ctx *c, anet_ane_model *m, const char *selector, int fail_rc) {
    id pool = pool_push(c);
    CFDictionaryRef opts = empty_dict();
    id err = nil;
    BOOL ok = MSG(msg_qos_opt_err)(m->model, sel(selector), ANE_QOS, as_id(opts), &err);
    int rc = 0;
    if (!ok) {
        char t[900];
        error_text(err, t, sizeof t);
        rc = set_err(c, fail_rc, "-[_ANEInMemoryModel %s] returned NO: %s", selector, t[0] ? t : "no error object");
    }
    CFRelease(opts);
    pool_pop(pool);
    return rc;
}

static int d_compile(void *ctx, anet_ane_model *m) {
    return qos_call(ctx, m, "compileWithQoS:options:error:", ANET_ANE_RC_COMPILE);
}

static int d_load(void *ctx, anet_ane_model *m) {
    int rc = qos_call(ctx, m, "loadWithQoS:options:error:", ANET_ANE_RC_LOAD);
    if (!rc) m->loaded = 1;
    return rc;
}

static int d_unload(void *ctx, anet_ane_model *m) {
    darwin_ctx *c = ctx;
    if (!m->loaded) return 0;
    id pool = pool_push(c);
    id err = nil;
    BOOL ok = MSG(msg_qos_err)(m->model, sel("unloadWithQoS:error:"), ANE_QOS, &err);
    int rc = 0;
    if (!ok) {
        char t[900];
        error_text(err, t, sizeof t);
        rc = set_err(c, ANET_ANE_RC_UNLOAD, "-[_ANEInMemoryModel unloadWithQoS:error:] returned NO: %s", t);
    }
    m->loaded = 0;
    pool_pop(pool);
    return rc;
}

static void d_model_free(void *ctx, anet_ane_model *m) {
    if (!m) return;
    if (m->loaded) d_unload(ctx, m);
    release(m->model);
    if (m->dir[0]) remove_dir(m->dir);
    free(m);
}

static int d_surface_create(void *ctx, size_t bytes, anet_ane_surface **out) {
    darwin_ctx *c = ctx;
    *out = NULL;
    anet_ane_surface *s = calloc(1, sizeof *s);
    if (!s) return set_err(c, ANET_ANE_RC_NOMEM, "out of memory");
    id pool = pool_push(c);
    /* Flat: width = bytes-per-row = alloc size = byte count, height 1, 1 byte per element,
     * pixel format 0 (ANE_FACTS.md step 5). */
    CFNumberRef nb = num((long long)bytes), one = num(1), zero = num(0);
    const void *keys[6] = {kIOSurfaceWidth, kIOSurfaceHeight, kIOSurfaceBytesPerElement,
                           kIOSurfaceBytesPerRow, kIOSurfaceAllocSize, kIOSurfacePixelFormat};
    const void *vals[6] = {nb, one, one, nb, nb, zero};
    CFDictionaryRef props = CFDictionaryCreate(kCFAllocatorDefault, keys, vals, 6,
                                               &kCFTypeDictionaryKeyCallBacks, &kCFTypeDictionaryValueCallBacks);
    s->surf = props ? IOSurfaceCreate(props) : NULL;
    int rc = 0;
    if (!s->surf) {
        rc = set_err(c, ANET_ANE_RC_NOMEM, "IOSurfaceCreate failed for %zu bytes", bytes);
    } else {
        id o = MSG(msg_id_ptr)((id)c->io_cls, sel("objectWithIOSurface:"), (void *)s->surf);
        if (!o) rc = set_err(c, ANET_ANE_RC_NOMEM, "+[_ANEIOSurfaceObject objectWithIOSurface:] returned nil");
        else s->obj = retain(o);
        s->bytes = IOSurfaceGetAllocSize(s->surf);
    }
    CFRelease(nb);
    CFRelease(one);
    CFRelease(zero);
    if (props) CFRelease(props);
    pool_pop(pool);
    if (rc) {
        if (s->surf) CFRelease(s->surf);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int d_surface_lock(void *ctx, anet_ane_surface *s, int read_only, void **base) {
    kern_return_t k = IOSurfaceLock(s->surf, read_only ? kIOSurfaceLockReadOnly : 0, NULL);
    if (k != 0) return set_err(ctx, ANET_ANE_RC_INVALID, "IOSurfaceLock failed (kern_return %d)", k);
    *base = IOSurfaceGetBaseAddress(s->surf);
    return 0;
}

static int d_surface_unlock(void *ctx, anet_ane_surface *s, int read_only) {
    kern_return_t k = IOSurfaceUnlock(s->surf, read_only ? kIOSurfaceLockReadOnly : 0, NULL);
    if (k != 0) return set_err(ctx, ANET_ANE_RC_INVALID, "IOSurfaceUnlock failed (kern_return %d)", k);
    return 0;
}

static size_t d_surface_size(void *ctx, const anet_ane_surface *s) {
    (void)ctx;
    return s->bytes;
}

static void d_surface_free(void *ctx, anet_ane_surface *s) {
    (void)ctx;
    if (!s) return;
    release(s->obj);
    if (s->surf) CFRelease(s->surf);
    free(s);
}

/* An NSArray of the surfaces' objects and one of their indices 0..n-1. */
static int make_arrays(anet_ane_surface *const *s, int n, CFArrayRef *objs, CFArrayRef *idx) {
    const void **o = calloc((size_t)n + 1, sizeof *o), **ix = calloc((size_t)n + 1, sizeof *ix);
    int ok = o && ix;
    for (int k = 0; ok && k < n; k++) {
        o[k] = s[k]->obj;
        ix[k] = num(k);
    }
    *objs = ok ? CFArrayCreate(kCFAllocatorDefault, o, n, &kCFTypeArrayCallBacks) : NULL;
    *idx = ok ? CFArrayCreate(kCFAllocatorDefault, ix, n, &kCFTypeArrayCallBacks) : NULL;
    if (ix)
        for (int k = 0; k < n; k++)
            if (ix[k]) CFRelease(ix[k]);
    free(o);
    free(ix);
    return *objs && *idx ? 0 : -1;
}

static int d_request_create(void *ctx, anet_ane_surface *const *in, int nin, anet_ane_surface *const *out,
                            int nout, anet_ane_request **req) {
    darwin_ctx *c = ctx;
    *req = NULL;
    anet_ane_request *r = calloc(1, sizeof *r);
    if (!r) return set_err(c, ANET_ANE_RC_NOMEM, "out of memory");
    id pool = pool_push(c);
    CFArrayRef io = NULL, ii = NULL, oo = NULL, oi = NULL;
    CFNumberRef proc = num(0);
    int rc = 0;
    if (make_arrays(in, nin, &io, &ii) || make_arrays(out, nout, &oo, &oi)) {
        rc = set_err(c, ANET_ANE_RC_NOMEM, "out of memory building the request arrays");
    } else {
        id q = MSG(msg_id_7id)((id)c->req_cls,
                               sel("requestWithInputs:inputIndices:outputs:outputIndices:weightsBuffer:perfStats:procedureIndex:"),
                               as_id(io), as_id(ii), as_id(oo), as_id(oi), nil, nil, as_id(proc));
        if (!q) rc = set_err(c, ANET_ANE_RC_NOMEM, "+[_ANERequest requestWithInputs:...] returned nil");
        else r->req = retain(q);
    }
    if (io) CFRelease(io);
    if (ii) CFRelease(ii);
    if (oo) CFRelease(oo);
    if (oi) CFRelease(oi);
    if (proc) CFRelease(proc);
    pool_pop(pool);
    if (rc) {
        free(r);
        return rc;
    }
    *req = r;
    return 0;
}

static void d_request_free(void *ctx, anet_ane_request *r) {
    (void)ctx;
    if (!r) return;
    release(r->req);
    free(r);
}

static int d_evaluate(void *ctx, anet_ane_model *m, anet_ane_request *r) {
    darwin_ctx *c = ctx;
    id pool = pool_push(c);
    CFDictionaryRef opts = empty_dict();
    id err = nil;
    BOOL ok = MSG(msg_qos_opt_req_err)(m->model, sel("evaluateWithQoS:options:request:error:"), ANE_QOS,
                                       as_id(opts), r->req, &err);
    int rc = 0;
    if (!ok) {
        char t[900];
        error_text(err, t, sizeof t);
        int status = anet_ane_parse_status(t);
        rc = set_err(c, status > 0 ? status : ANET_ANE_RC_EVAL,
                     "-[_ANEInMemoryModel evaluateWithQoS:options:request:error:] returned NO: %s", t);
    }
    CFRelease(opts);
    pool_pop(pool);
    return rc;
}

static const char *d_error(void *ctx) { return ((darwin_ctx *)ctx)->err; }

static void d_destroy(void *ctx) {
    darwin_ctx *c = ctx;
    if (!c) return;
    /* The framework stays mapped: its classes may still be referenced by autoreleased objects. */
    free(c);
}

static const anet_ane_seam_ops darwin_ops = {
    "darwin",         d_open,           d_model_create, d_compile,     d_load,
    d_unload,         d_model_free,     d_surface_create, d_surface_lock, d_surface_unlock,
    d_surface_size,   d_surface_free,   d_request_create, d_request_free, d_evaluate,
    d_error,          d_destroy,        NULL,
};

anet_status anet_ane_darwin_seam_create(anet_ane_seam *out) {
    memset(out, 0, sizeof *out);
    darwin_ctx *c = calloc(1, sizeof *c);
    if (!c) return anet_fail(ANET_E_NOMEM, "ane: out of memory");
    out->ops = &darwin_ops;
    out->ctx = c;
    return ANET_OK;
}

void anet_ane_darwin_chip(char *buf, size_t len) {
    if (!buf || !len) return;
    buf[0] = '\0';
    size_t n = len;
    if (sysctlbyname("machdep.cpu.brand_string", buf, &n, NULL, 0) != 0) buf[0] = '\0';
    buf[len - 1] = '\0';
}
