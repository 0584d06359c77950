/* The ANE seam on macOS: AppleNeuralEngine.framework's private classes reached from C through
 * the Objective-C runtime (objc_getClass, sel_registerName, objc_msgSend cast to each
 * method's type), CoreFoundation for the data/dictionaries/arrays/numbers/strings (toll-free
 * bridged to their NS counterparts), and IOSurface for the I/O buffers. The call sequence
 * and argument types are the facts of ANE_FACTS.md "The private API" (maderix/ANE
 * training/ane_runtime.h; mechramc/Orion core/ane_runtime.m).
 *
 * NOTE: written from those facts; it has never run on a Mac in this project (no machine here
 * has one). On Linux it is only compiled with -fsyntax-only (scripts/check_darwin.sh). */
#include <dirent.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysctl.h>
#include <time.h>
#include <unistd.h>

#include <CoreFoundation/CoreFoundation.h>
#include <IOSurface/IOSurface.h>
#include <objc/message.h>
#include <objc/runtime.h>

#include "core/error.h"
#include "runtime/ane_backend.h"
#include "runtime/ane_residency.h"
#include "runtime/ane_seam.h"
#include "runtime/ane_status.h"

#define ANE_FRAMEWORK "/System/Library/PrivateFrameworks/AppleNeuralEngine.framework/AppleNeuralEngine"
#define FOUNDATION "/System/Library/Frameworks/Foundation.framework/Foundation"
#define ANE_QOS 21u /* the QoS every working trainer passes */
#define LOAD_RETRY_NS 100000000L /* one load retry after ~100 ms (maderix, tmc, ANE-Training) */

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
typedef id (*ns_tmpdir_fn)(void);

/* Through a plain function pointer: casting the function designator itself makes gcc warn
 * that a function is called through a non-compatible type. The explicit cast also accepts
 * the SDK's older variadic prototype (OBJC_OLD_DISPATCH_PROTOTYPES=1). */
typedef void (*msg_any)(void);
static msg_any msg_send(void) { return (msg_any)objc_msgSend; }
#define MSG(type) ((type)msg_send())

/* Every private selector the seam calls: checked at open, so a macOS whose framework lacks
 * one says so instead of raising an Objective-C exception (which plain C cannot catch). */
static const struct {
    int cls;         /* index into darwin_ctx.cls */
    int class_method;
    const char *sel;
} required[] = {
    {0, 1, "modelWithMILText:weights:optionsPlist:"},
    {1, 1, "inMemoryModelWithDescriptor:"},
    {1, 0, "hexStringIdentifier"},
    {1, 0, "compileWithQoS:options:error:"},
    {1, 0, "loadWithQoS:options:error:"},
    {1, 0, "unloadWithQoS:error:"},
    {1, 0, "evaluateWithQoS:options:request:error:"},
    {2, 1, "requestWithInputs:inputIndices:outputs:outputIndices:weightsBuffer:perfStats:procedureIndex:"},
    {3, 1, "objectWithIOSurface:"},
};
static const char *const class_names[4] = {"_ANEInMemoryModelDescriptor", "_ANEInMemoryModel",
                                           "_ANERequest", "_ANEIOSurfaceObject"};

typedef struct darwin_ctx {
    void *fw, *foundation;
    Class cls[4]; /* class_names */
    Class pool_cls;
    int opened;
    anet_ane_residency res; /* which programs are loaded on the device (ane_residency.h) */
    char err[1024];
} darwin_ctx;

struct anet_ane_model {
    id model;       /* _ANEInMemoryModel, retained */
    char dir[1024]; /* NSTemporaryDirectory()/<hex>/ with model.mil and weights/weight.bin */
    int own_dir;    /* we created dir (so we remove it) */
    int wanted;     /* the backend loaded it and has not unloaded it */
    int loaded;     /* loaded on the device now (an idle program may have been unloaded) */
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
static CFTypeRef as_cf(id o) { return (CFTypeRef)(const void *)o; }

/* Does obj (an instance, or a class for its class methods) answer selector s? */
static int responds(id obj, const char *s) {
    return obj && class_respondsToSelector(object_getClass(obj), sel(s));
}

static int missing(darwin_ctx *c, const char *cls, int class_method, const char *s) {
    return set_err(c, ANET_ANE_RC_UNAVAILABLE,
                   "%s[%s %s] is unavailable on this macOS (the private API changed); use --backend vane",
                   class_method ? "+" : "-", cls, s);
}

static id retain(id o) { return o ? MSG(msg_id)(o, sel("retain")) : o; }
static void release(id o) {
    if (o) MSG(msg_void)(o, sel("release"));
}

/* Objects returned by class factories are autoreleased: a pool per operation frees them
 * (without one, program instances leak and the 16th compile fails with 0x50004: tmc). */
static id pool_push(darwin_ctx *c) {
    if (!c->pool_cls) return NULL;
    id p = MSG(msg_id)((id)c->pool_cls, sel("alloc"));
    return p ? MSG(msg_id)(p, sel("init")) : NULL;
}
static void pool_pop(id p) {
    if (p) MSG(msg_void)(p, sel("drain"));
}

static int is_cf(CFTypeRef v, CFTypeID t) { return v && CFGetTypeID(v) == t; }

static void cf_string(CFTypeRef s, char *buf, size_t len) {
    buf[0] = '\0';
    if (is_cf(s, CFStringGetTypeID()) && !CFStringGetCString((CFStringRef)s, buf, (CFIndex)len, kCFStringEncodingUTF8))
        buf[0] = '\0';
}

/* The text of an NSError (its description and code), for the user and for the status. */
static void error_text(id err, char *buf, size_t len) {
    buf[0] = '\0';
    if (!err) return;
    long code = responds(err, "code") ? MSG(msg_long)(err, sel("code")) : 0;
    char tmp[900] = "";
    if (responds(err, "description")) cf_string(as_cf(MSG(msg_id)(err, sel("description"))), tmp, sizeof tmp);
    snprintf(buf, len, "%s (code %ld)", tmp, code);
}

/* The framework's failure as the seam reports it: its status (0x1d, 0x50004, ...) as the
 * return code when the text carries one, with the status table's meaning and action. */
static int framework_fail(darwin_ctx *c, int fail_rc, const char *call, id err) {
    char t[900];
    error_text(err, t, sizeof t);
    int status = anet_ane_parse_status(t);
    const anet_ane_status_info *si = status > 0 ? anet_ane_status_lookup(status) : NULL;
    if (si)
        return set_err(c, status, "%s returned NO: %s; status 0x%x means %s - %s", call, t, status, si->meaning,
                       si->action);
    return set_err(c, status > 0 ? status : fail_rc, "%s returned NO: %s", call, t[0] ? t : "no error object");
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
    c->foundation = dlopen(FOUNDATION, RTLD_NOW); /* already mapped by the framework */
    char miss[200] = "";
    for (int k = 0; k < 4; k++) {
        c->cls[k] = objc_getClass(class_names[k]);
        if (!c->cls[k]) snprintf(miss + strlen(miss), sizeof miss - strlen(miss), " %s", class_names[k]);
    }
    c->pool_cls = objc_getClass("NSAutoreleasePool");
    if (miss[0])
        return set_err(c, ANET_ANE_RC_UNAVAILABLE, "private classes not found:%s (unavailable on this macOS)", miss);
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++) {
        Class k_cls = c->cls[required[k].cls];
        Class where = required[k].class_method ? object_getClass((id)k_cls) : k_cls;
        if (!class_respondsToSelector(where, sel(required[k].sel)))
            return missing(c, class_names[required[k].cls], required[k].class_method, required[k].sel);
    }
    c->opened = 1;
    return 0;
}

static int write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

/* Removes dir and everything below it (compile adds files of its own there). Entries are
 * examined with lstat, so a symbolic link is removed, never followed. */
static void remove_tree(const char *dir, int depth) {
    if (depth > 16) return;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[1400];
            if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
            struct stat sb;
            if (lstat(p, &sb) != 0) continue;
            if (S_ISDIR(sb.st_mode)) remove_tree(p, depth + 1);
            else unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* NSTemporaryDirectory() (the per-user directory the framework itself uses), through
 * Foundation; $TMPDIR, then /tmp/, only if Foundation does not export it. */
static void temp_dir(darwin_ctx *c, char *buf, size_t len) {
    buf[0] = '\0';
    void *f = c->foundation ? dlsym(c->foundation, "NSTemporaryDirectory") : NULL;
    ns_tmpdir_fn fn = NULL;
    if (f) memcpy(&fn, &f, sizeof fn); /* object pointer -> function pointer, without a cast ISO C forbids */
    if (fn) cf_string(as_cf(fn()), buf, len);
    if (!buf[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(buf, len, "%s", t && *t ? t : "/tmp/");
    }
}

/* A directory name from the framework: used as one path component, nothing else. */
static int safe_component(const char *s) {
    if (!s[0] || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    return strchr(s, '/') == NULL;
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
    if (w && wlen) {
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
        wdict = empty_dict(); /* an empty weight image is {}, never nil (Orion #11; tmc) */
    }
    id desc = MSG(msg_id_3id)((id)c->cls[0], sel("modelWithMILText:weights:optionsPlist:"), as_id(mil_data),
                              as_id(wdict), nil);
    id model = desc ? MSG(msg_id_id)((id)c->cls[1], sel("inMemoryModelWithDescriptor:"), desc) : nil;
    if (!desc || !model) {
        rc = set_err(c, ANET_ANE_RC_NOMEM, "%s returned nil",
                     desc ? "+[_ANEInMemoryModel inMemoryModelWithDescriptor:]"
                          : "+[_ANEInMemoryModelDescriptor modelWithMILText:weights:optionsPlist:]");
    } else {
        m->model = retain(model);
        /* The compiler reads model.mil and weights/weight.bin from the temporary directory
         * named by the model's hex identifier. */
        char hx[256] = "", tmp[800];
        cf_string(as_cf(MSG(msg_id)(model, sel("hexStringIdentifier"))), hx, sizeof hx);
        temp_dir(c, tmp, sizeof tmp);
        size_t tl = strlen(tmp);
        snprintf(m->dir, sizeof m->dir, "%s%s%s", tmp, (tl && tmp[tl - 1] == '/') ? "" : "/", hx);
        char p[1200];
        snprintf(p, sizeof p, "%s/weights", m->dir);
        if (!safe_component(hx)) {
            m->dir[0] = '\0';
            rc = set_err(c, ANET_ANE_RC_NOMEM, "-[_ANEInMemoryModel hexStringIdentifier] gave no usable name");
        } else if (mkdir(m->dir, 0700) == 0) {
            m->own_dir = 1;
        } else if (access(m->dir, W_OK) != 0) {
            rc = set_err(c, ANET_ANE_RC_NOMEM, "could not create the model directory '%s'", m->dir);
        }
        if (!rc && mkdir(p, 0700) != 0 && access(p, W_OK) != 0)
            rc = set_err(c, ANET_ANE_RC_NOMEM, "could not create '%s'", p);
        if (!rc) {
            snprintf(p, sizeof p, "%s/model.mil", m->dir);
            int bad = write_file(p, mil, mil_len);
            if (w && wlen) {
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
        if (m->own_dir) remove_tree(m->dir, 0);
        release(m->model);
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static int qos_call(darwin_ctx *c, anet_ane_model *m, const char *selector, int fail_rc) {
    if (!responds(m->model, selector)) return missing(c, "_ANEInMemoryModel", 0, selector);
    id pool = pool_push(c);
    CFDictionaryRef opts = empty_dict();
    id err = nil;
    BOOL ok = MSG(msg_qos_opt_err)(m->model, sel(selector), ANE_QOS, as_id(opts), &err);
    int rc = 0;
    if (!ok) {
        char call[128];
        snprintf(call, sizeof call, "-[_ANEInMemoryModel %s]", selector);
        rc = framework_fail(c, fail_rc, call, err);
    }
    CFRelease(opts);
    pool_pop(pool);
    return rc;
}

static int d_compile(void *ctx, anet_ane_model *m) {
    return qos_call(ctx, m, "compileWithQoS:options:error:", ANET_ANE_RC_COMPILE);
}

/* unloadWithQoS: on the device; the model leaves the resident set either way. */
static int device_unload(darwin_ctx *c, anet_ane_model *m) {
    anet_ane_residency_drop(&c->res, m);
    if (!m->loaded) return 0;
    m->loaded = 0;
    if (!responds(m->model, "unloadWithQoS:error:")) return missing(c, "_ANEInMemoryModel", 0, "unloadWithQoS:error:");
    id pool = pool_push(c);
    id err = nil;
    BOOL ok = MSG(msg_qos_err)(m->model, sel("unloadWithQoS:error:"), ANE_QOS, &err);
    int rc = ok ? 0 : framework_fail(c, ANET_ANE_RC_UNLOAD, "-[_ANEInMemoryModel unloadWithQoS:error:]", err);
    pool_pop(pool);
    return rc;
}

/* Loads m unless it is on the device already; first unloads the least recently used
 * program when the resident set is full. A failed load is retried once after ~100 ms. */
static int ensure_loaded(darwin_ctx *c, anet_ane_model *m) {
    const void *evict = NULL;
    if (!anet_ane_residency_use(&c->res, m, &evict) && m->loaded) return 0;
    if (evict) device_unload(c, (anet_ane_model *)(uintptr_t)evict); /* its failure does not stop m */
    int rc = qos_call(c, m, "loadWithQoS:options:error:", ANET_ANE_RC_LOAD);
    if (rc && rc != ANET_ANE_RC_UNAVAILABLE) {
        struct timespec ts = {0, LOAD_RETRY_NS};
        nanosleep(&ts, NULL);
        rc = qos_call(c, m, "loadWithQoS:options:error:", ANET_ANE_RC_LOAD);
        if (rc) {
            size_t n = strlen(c->err);
            snprintf(c->err + n, sizeof c->err - n, " (after one retry)");
        }
    }
    if (rc) anet_ane_residency_drop(&c->res, m);
    else m->loaded = 1;
    return rc;
}

static int d_load(void *ctx, anet_ane_model *m) {
    int rc = ensure_loaded(ctx, m);
    if (!rc) m->wanted = 1;
    return rc;
}

static int d_unload(void *ctx, anet_ane_model *m) {
    m->wanted = 0;
    return device_unload(ctx, m);
}

static void d_model_free(void *ctx, anet_ane_model *m) {
    if (!m) return;
    d_unload(ctx, m);
    release(m->model);
    if (m->own_dir) remove_tree(m->dir, 0);
    free(m);
}

static int d_surface_create(void *ctx, size_t bytes, anet_ane_surface **out) {
    darwin_ctx *c = ctx;
    *out = NULL;
    if (!c->opened) return set_err(c, ANET_ANE_RC_INVALID, "surface_create before open");
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
        id o = MSG(msg_id_ptr)((id)c->cls[3], sel("objectWithIOSurface:"), (void *)s->surf);
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
    if (!c->opened) return set_err(c, ANET_ANE_RC_INVALID, "request_create before open");
    anet_ane_request *r = calloc(1, sizeof *r);
    if (!r) return set_err(c, ANET_ANE_RC_NOMEM, "out of memory");
    id pool = pool_push(c);
    CFArrayRef io = NULL, ii = NULL, oo = NULL, oi = NULL;
    CFNumberRef proc = num(0);
    int rc = 0;
    if (make_arrays(in, nin, &io, &ii) || make_arrays(out, nout, &oo, &oi)) {
        rc = set_err(c, ANET_ANE_RC_NOMEM, "out of memory building the request arrays");
    } else {
        id q = MSG(msg_id_7id)((id)c->cls[2],
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
    if (!m->wanted) return set_err(c, ANET_ANE_RC_INVALID, "evaluate before load");
    int rc = ensure_loaded(c, m); /* an idle program may have been unloaded for another */
    if (rc) return rc;
    const char *s = "evaluateWithQoS:options:request:error:";
    if (!responds(m->model, s)) return missing(c, "_ANEInMemoryModel", 0, s);
    id pool = pool_push(c);
    CFDictionaryRef opts = empty_dict();
    id err = nil;
    BOOL ok = MSG(msg_qos_opt_req_err)(m->model, sel(s), ANE_QOS, as_id(opts), r->req, &err);
    /* Evaluate can return NO without an NSError (ANE-Training-iPhone): "no error object". */
    if (!ok) rc = framework_fail(c, ANET_ANE_RC_EVAL, "-[_ANEInMemoryModel evaluateWithQoS:options:request:error:]", err);
    CFRelease(opts);
    pool_pop(pool);
    return rc;
}

/* ---- The compiled model's own I/O layout (ane_seam.h io_layout) ----
 * -[_ANEInMemoryModel model] is the _ANEModel; its -modelAttributes dictionary holds
 * NetworkStatusList (an array; entry 0 is the first procedure) whose LiveInputList and
 * LiveOutputList are arrays of dictionaries: Symbol (string; Name in some versions),
 * Channels, Height, Width, RowStride, PlaneStride, BatchStride (numbers). Key names from
 * tmc/apple x/ane compile.go and sbryngelson/ANEForge _invokers/persistent_worker.mm. Every
 * value is type-checked: anything unexpected means "no layout", never a crash. */

static CFTypeRef dict_get(CFTypeRef dict, const char *key) {
    if (!is_cf(dict, CFDictionaryGetTypeID())) return NULL;
    CFStringRef k = CFStringCreateWithCString(kCFAllocatorDefault, key, kCFStringEncodingUTF8);
    if (!k) return NULL;
    CFTypeRef v = CFDictionaryGetValue((CFDictionaryRef)dict, k);
    CFRelease(k);
    return v;
}

static int64_t dict_int(CFTypeRef dict, const char *key) {
    CFTypeRef v = dict_get(dict, key);
    int64_t x = 0;
    if (!is_cf(v, CFNumberGetTypeID()) || !CFNumberGetValue((CFNumberRef)v, kCFNumberSInt64Type, &x)) return 0;
    return x;
}

static int read_io_list(darwin_ctx *c, CFTypeRef proc, const char *key, anet_ane_io_entry *e, int *n) {
    CFTypeRef list = dict_get(proc, key);
    if (!is_cf(list, CFArrayGetTypeID()))
        return set_err(c, ANET_ANE_RC_UNAVAILABLE, "the compiled model states no %s", key);
    CFIndex count = CFArrayGetCount((CFArrayRef)list);
    if (count > ANET_ANE_IO_MAX)
        return set_err(c, ANET_ANE_RC_UNAVAILABLE, "the compiled model lists %ld entries in %s (at most %d read)",
                       (long)count, key, ANET_ANE_IO_MAX);
    for (CFIndex i = 0; i < count; i++) {
        CFTypeRef d = CFArrayGetValueAtIndex((CFArrayRef)list, i);
        if (!is_cf(d, CFDictionaryGetTypeID()))
            return set_err(c, ANET_ANE_RC_UNAVAILABLE, "%s[%ld] is not a dictionary", key, (long)i);
        anet_ane_io_entry *x = &e[i];
        memset(x, 0, sizeof *x);
        cf_string(dict_get(d, "Symbol"), x->symbol, sizeof x->symbol);
        if (!x->symbol[0]) cf_string(dict_get(d, "Name"), x->symbol, sizeof x->symbol);
        x->channels = dict_int(d, "Channels");
        x->height = dict_int(d, "Height");
        x->width = dict_int(d, "Width");
        x->row_stride = dict_int(d, "RowStride");
        x->plane_stride = dict_int(d, "PlaneStride");
        x->batch_stride = dict_int(d, "BatchStride");
    }
    *n = (int)count;
    return 0;
}

static int d_io_layout(void *ctx, anet_ane_model *m, anet_ane_io_layout *out) {
    darwin_ctx *c = ctx;
    memset(out, 0, sizeof *out);
    if (!m || !m->wanted) return set_err(c, ANET_ANE_RC_INVALID, "io_layout before load");
    int rc = ensure_loaded(c, m);
    if (rc) return rc;
    if (!responds(m->model, "model")) return missing(c, "_ANEInMemoryModel", 0, "model");
    id pool = pool_push(c);
    id inner = MSG(msg_id)(m->model, sel("model"));
    CFTypeRef attrs = NULL;
    if (!responds(inner, "modelAttributes"))
        rc = missing(c, "_ANEModel", 0, "modelAttributes");
    else
        attrs = as_cf(MSG(msg_id)(inner, sel("modelAttributes")));
    CFTypeRef nsl = rc ? NULL : dict_get(attrs, "NetworkStatusList");
    if (!rc && (!is_cf(nsl, CFArrayGetTypeID()) || CFArrayGetCount((CFArrayRef)nsl) < 1))
        rc = set_err(c, ANET_ANE_RC_UNAVAILABLE, "the compiled model's attributes have no NetworkStatusList");
    CFTypeRef proc = rc ? NULL : CFArrayGetValueAtIndex((CFArrayRef)nsl, 0);
    if (!rc) rc = read_io_list(c, proc, "LiveInputList", out->inputs, &out->ninputs);
    if (!rc) rc = read_io_list(c, proc, "LiveOutputList", out->outputs, &out->noutputs);
    pool_pop(pool);
    if (rc) memset(out, 0, sizeof *out);
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
    .name = "darwin",
    .open = d_open,
    .model_create = d_model_create,
    .compile = d_compile,
    .load = d_load,
    .unload = d_unload,
    .model_free = d_model_free,
    .surface_create = d_surface_create,
    .surface_lock = d_surface_lock,
    .surface_unlock = d_surface_unlock,
    .surface_size = d_surface_size,
    .surface_free = d_surface_free,
    .request_create = d_request_create,
    .request_free = d_request_free,
    .evaluate = d_evaluate,
    .error = d_error,
    .destroy = d_destroy,
    .io_layout = d_io_layout,
};

anet_status anet_ane_darwin_seam_create(anet_ane_seam *out) {
    memset(out, 0, sizeof *out);
    int cap = ANET_ANE_RESIDENT_DEFAULT;
    anet_status st = anet_ane_residency_env(&cap); /* a malformed value is the user's error, said here */
    if (st) return st;
    darwin_ctx *c = calloc(1, sizeof *c);
    if (!c) return anet_fail(ANET_E_NOMEM, "ane: out of memory");
    anet_ane_residency_init(&c->res, cap);
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
