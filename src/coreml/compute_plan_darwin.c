/* The --on-device seam on macOS 14.4+: Core ML's public MLComputePlan, reached from C through
 * the Objective-C runtime (objc_getClass, sel_registerName, objc_msgSend cast to each
 * method's type). Selectors are those of Apple's public headers (MLComputePlan.h,
 * MLComputePlanDeviceUsage.h, MLModelStructure*.h, MLModel.h):
 *
 *   +[MLModel compileModelAtURL:error:]                  .mlmodel/.mlpackage -> temporary .mlmodelc
 *   +[MLComputePlan loadContentsOfURL:configuration:completionHandler:]
 *   -[MLComputePlan modelStructure] -> neuralNetwork.layers | program.functions["main"].block
 *     .operations | pipeline.subModels
 *   -[MLComputePlan computeDeviceUsageForNeuralNetworkLayer:] / ...ForMLProgramOperation:
 *   -[MLComputePlanDeviceUsage preferredComputeDevice] / supportedComputeDevices, classified
 *     with isKindOfClass: MLNeuralEngineComputeDevice / MLCPUComputeDevice / MLGPUComputeDevice.
 *
 * The plan only comes through a completion handler (an Objective-C block); C11 has no
 * blocks, so the handler is a block literal laid out by hand following the Block ABI (clang's
 * "Block Implementation Specification"): isa = _NSConcreteStackBlock, flags, invoke pointer,
 * descriptor {reserved, size, signature}, then the captured state. Core ML copies it to the
 * heap (Block_copy memmoves `size` bytes, which is all a block without copy/dispose helpers
 * needs) and calls invoke(block, plan, error) on one of its queues. We wait for that with a
 * mutex/condition variable while running the current run loop, so a handler delivered to
 * the main queue is serviced too.
 *
 * NOTE: written from Apple's public headers and documentation; no machine this project was
 * developed on runs macOS, so this file has only been compiled with -fsyntax-only
 * (scripts/check_darwin.sh). Core ML is dlopen()ed, so nothing extra is linked. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CoreFoundation/CFRunLoop.h>
#include <CoreFoundation/CoreFoundation.h>
#include <objc/message.h>
#include <objc/runtime.h>

#include "core/error.h"
#include "coreml/compute_plan.h"

#define COREML_FRAMEWORK "/System/Library/Frameworks/CoreML.framework/CoreML"
#define PLAN_TIMEOUT_S 300 /* compiling and planning a large model can take a while */
#define MAX_BLOCK_DEPTH 16 /* nested MIL blocks, as our reader (ANET_CM_MAX_DEPTH) */
#define ML_COMPUTE_UNITS_ALL 2L /* MLComputeUnitsAll: let Core ML use the ANE */

/* Typed views of objc_msgSend, one per method shape used. */
typedef id (*msg_id)(id, SEL);
typedef id (*msg_id_id)(id, SEL, id);
typedef id (*msg_id_ulong)(id, SEL, unsigned long);
typedef id (*msg_id_id_err)(id, SEL, id, id *);
typedef BOOL (*msg_bool_id)(id, SEL, id);
typedef BOOL (*msg_bool_id_err)(id, SEL, id, id *);
typedef unsigned long (*msg_ulong)(id, SEL);
typedef const char *(*msg_cstr)(id, SEL);
typedef void (*msg_void)(id, SEL);
typedef void (*msg_void_long)(id, SEL, long);
typedef void (*msg_void_id_id_ptr)(id, SEL, id, id, void *);

/* Through a plain function pointer (see runtime/ane_darwin.c for why). */
typedef void (*msg_any)(void);
static msg_any msg_send(void) { return (msg_any)objc_msgSend; }
#define MSG(type) ((type)msg_send())

static SEL sel(const char *s) { return sel_registerName(s); }
static id as_id(CFTypeRef r) { return (id)(uintptr_t)r; }
static id cls(const char *name) { return (id)objc_getClass(name); }

/* ---- the completion handler as a hand-made block ---- */

/* What the handler hands over; heap-allocated and leaked on a timeout, because Core ML may
 * still call the handler later. */
typedef struct plan_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    id plan, error; /* retained by the handler */
} plan_wait;

struct plan_block;
typedef void (*plan_invoke)(struct plan_block *, id, id);

struct plan_block_descriptor {
    unsigned long reserved;
    unsigned long size;    /* sizeof(struct plan_block): what Block_copy copies */
    const char *signature; /* present because flags has BLOCK_HAS_SIGNATURE */
};

struct plan_block {
    void *isa;
    int flags;
    int reserved;
    plan_invoke invoke;
    const struct plan_block_descriptor *descriptor;
    plan_wait *wait; /* the captured variable */
};

#define BLOCK_HAS_SIGNATURE (1 << 30)
extern void *_NSConcreteStackBlock[32]; /* libSystem (libclosure) */

static void plan_done(struct plan_block *b, id plan, id error) {
    plan_wait *w = b->wait;
    pthread_mutex_lock(&w->mu);
    w->plan = plan ? MSG(msg_id)(plan, sel("retain")) : NULL;
    w->error = error ? MSG(msg_id)(error, sel("retain")) : NULL;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static const struct plan_block_descriptor plan_block_desc = {0, sizeof(struct plan_block), "v24@?0@8@16"};

/* Waits for the handler, running the run loop in between; 0 when it came, -1 on timeout. */
static int plan_wait_for(plan_wait *w) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 20 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        if (!w->done) pthread_cond_timedwait(&w->cv, &w->mu, &until);
        int done = w->done;
        pthread_mutex_unlock(&w->mu);
        if (done) return 0;
        CFRunLoopRunInMode(kCFRunLoopDefaultMode, 0.01, 1);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > PLAN_TIMEOUT_S) return -1;
    }
}

/* ---- reading the plan ---- */

typedef struct walk_ctx {
    id plan;
    id ane_cls, cpu_cls, gpu_cls;
    anet_cp_plan *out;
    anet_status st;
} walk_ctx;

static void cstr(id s, char *buf, size_t len) {
    const char *p = s ? MSG(msg_cstr)(s, sel("UTF8String")) : NULL;
    snprintf(buf, len, "%s", p ? p : "");
}

static unsigned long count(id arr) { return arr ? MSG(msg_ulong)(arr, sel("count")) : 0; }
static id at(id arr, unsigned long i) { return MSG(msg_id_ulong)(arr, sel("objectAtIndex:"), i); }

static int device_of(const walk_ctx *c, id dev) {
    if (!dev) return ANET_CP_NONE;
    if (c->ane_cls && MSG(msg_bool_id)(dev, sel("isKindOfClass:"), c->ane_cls)) return ANET_CP_ANE;
    if (c->cpu_cls && MSG(msg_bool_id)(dev, sel("isKindOfClass:"), c->cpu_cls)) return ANET_CP_CPU;
    if (c->gpu_cls && MSG(msg_bool_id)(dev, sel("isKindOfClass:"), c->gpu_cls)) return ANET_CP_GPU;
    return ANET_CP_OTHER;
}

static void add_usage(walk_ctx *c, const char *path, const char *name, const char *type, id usage) {
    if (c->st != ANET_OK) return;
    int pref = ANET_CP_NONE;
    unsigned sup = 0;
    if (usage) {
        pref = device_of(c, MSG(msg_id)(usage, sel("preferredComputeDevice")));
        id all = MSG(msg_id)(usage, sel("supportedComputeDevices"));
        for (unsigned long i = 0, n = count(all); i < n; i++) sup |= 1u << device_of(c, at(all, i));
    }
    c->st = anet_cp_plan_add(c->out, path, name, type, pref, sup);
}

static void walk_block(walk_ctx *c, id block, const char *path, int depth) {
    if (!block || depth > MAX_BLOCK_DEPTH) return;
    id ops = MSG(msg_id)(block, sel("operations"));
    for (unsigned long i = 0, n = count(ops); i < n && c->st == ANET_OK; i++) {
        id op = at(ops, i);
        char type[128], name[512] = "";
        cstr(MSG(msg_id)(op, sel("operatorName")), type, sizeof type);
        id outs = MSG(msg_id)(op, sel("outputs"));
        if (count(outs)) cstr(MSG(msg_id)(at(outs, 0), sel("name")), name, sizeof name);
        if (strcmp(type, "const") != 0) /* constants are not work; our report skips them too */
            add_usage(c, path, name, type, MSG(msg_id_id)(c->plan, sel("computeDeviceUsageForMLProgramOperation:"), op));
        id blocks = MSG(msg_id)(op, sel("blocks"));
        for (unsigned long k = 0, nb = count(blocks); k < nb; k++) walk_block(c, at(blocks, k), path, depth + 1);
    }
}

static void walk_structure(walk_ctx *c, id structure, const char *path, int depth) {
    if (!structure || depth > MAX_BLOCK_DEPTH || c->st != ANET_OK) return;
    id nn = MSG(msg_id)(structure, sel("neuralNetwork"));
    if (nn) {
        id layers = MSG(msg_id)(nn, sel("layers"));
        for (unsigned long i = 0, n = count(layers); i < n && c->st == ANET_OK; i++) {
            id l = at(layers, i);
            char name[512], type[128];
            cstr(MSG(msg_id)(l, sel("name")), name, sizeof name);
            cstr(MSG(msg_id)(l, sel("type")), type, sizeof type);
            add_usage(c, path, name, type, MSG(msg_id_id)(c->plan, sel("computeDeviceUsageForNeuralNetworkLayer:"), l));
        }
    }
    id prog = MSG(msg_id)(structure, sel("program"));
    if (prog) {
        CFStringRef key = CFStringCreateWithCString(kCFAllocatorDefault, "main", kCFStringEncodingUTF8);
        id fns = MSG(msg_id)(prog, sel("functions"));
        id fn = fns && key ? MSG(msg_id_id)(fns, sel("objectForKey:"), as_id(key)) : NULL;
        if (key) CFRelease(key);
        if (fn) walk_block(c, MSG(msg_id)(fn, sel("block")), path, 0);
    }
    id pipe = MSG(msg_id)(structure, sel("pipeline"));
    if (pipe) {
        id subs = MSG(msg_id)(pipe, sel("subModels"));
        for (unsigned long i = 0, n = count(subs); i < n && c->st == ANET_OK; i++) {
            char sub[1024];
            snprintf(sub, sizeof sub, "%s%smodels[%lu]", path, path[0] ? "/" : "", i);
            walk_structure(c, at(subs, i), sub, depth + 1);
        }
    }
}

static void error_text(id err, char *buf, size_t len) {
    buf[0] = '\0';
    if (err) cstr(MSG(msg_id)(err, sel("localizedDescription")), buf, len);
    if (!buf[0]) snprintf(buf, len, "no reason given");
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    while (a > 1 && s[a - 1] == '/') a--;
    return a >= b && strncmp(s + a - b, suffix, b) == 0;
}

static anet_status d_query(void *ctx, const char *path, anet_cp_plan *out) {
    (void)ctx;
    if (!dlopen(COREML_FRAMEWORK, RTLD_NOW)) {
        const char *e = dlerror();
        return anet_fail(ANET_E_UNSUPPORTED, "--on-device: cannot load Core ML (%s)", e ? e : "?");
    }
    id plan_cls = cls("MLComputePlan"), model_cls = cls("MLModel"), cfg_cls = cls("MLModelConfiguration");
    id url_cls = cls("NSURL"), pool_cls = cls("NSAutoreleasePool"), fm_cls = cls("NSFileManager");
    if (!plan_cls || !model_cls || !cfg_cls || !url_cls)
        return anet_fail(ANET_E_UNSUPPORTED, "--on-device needs macOS 14.4+ (MLComputePlan is missing on this system)");
    id pool = pool_cls ? MSG(msg_id)(MSG(msg_id)(pool_cls, sel("alloc")), sel("init")) : NULL;
    anet_status st = ANET_OK;
    char why[600];
    id compiled = NULL, cfg = NULL, model_url = NULL;
    plan_wait *w = NULL;
    struct plan_block blk;
    walk_ctx c;
    CFStringRef p = CFStringCreateWithCString(kCFAllocatorDefault, path, kCFStringEncodingUTF8);
    id url = p ? MSG(msg_id_id)(url_cls, sel("fileURLWithPath:"), as_id(p)) : NULL;
    if (!url) {
        st = anet_fail(ANET_E_NOMEM, "%s: cannot make a file URL", path);
        goto done;
    }
    /* The compute plan reads compiled models only. */
    model_url = url;
    if (!ends_with(path, ".mlmodelc")) {
        id err = NULL;
        compiled = MSG(msg_id_id_err)(model_cls, sel("compileModelAtURL:error:"), url, &err);
        if (!compiled) {
            error_text(err, why, sizeof why);
            st = anet_fail(ANET_E_FORMAT, "%s: Core ML could not compile the model: %s", path, why);
            goto done;
        }
        model_url = compiled;
    }
    cfg = MSG(msg_id)(MSG(msg_id)(cfg_cls, sel("alloc")), sel("init"));
    if (!cfg) {
        st = anet_fail(ANET_E_NOMEM, "--on-device: cannot create an MLModelConfiguration");
        goto done;
    }
    MSG(msg_void_long)(cfg, sel("setComputeUnits:"), ML_COMPUTE_UNITS_ALL);
    w = calloc(1, sizeof *w);
    if (!w || pthread_mutex_init(&w->mu, NULL) != 0 || pthread_cond_init(&w->cv, NULL) != 0) {
        free(w);
        w = NULL;
        st = anet_fail(ANET_E_NOMEM, "--on-device: out of memory");
        goto done;
    }
    blk = (struct plan_block){_NSConcreteStackBlock, BLOCK_HAS_SIGNATURE, 0, plan_done, &plan_block_desc, w};
    MSG(msg_void_id_id_ptr)(plan_cls, sel("loadContentsOfURL:configuration:completionHandler:"), model_url, cfg, &blk);
    if (plan_wait_for(w) != 0) {
        w = NULL; /* the handler may still run: its state must outlive us */
        st = anet_fail(ANET_E_IO, "%s: Core ML gave no compute plan within %d s", path, PLAN_TIMEOUT_S);
        goto done;
    }
    if (!w->plan) {
        error_text(w->error, why, sizeof why);
        st = anet_fail(ANET_E_FORMAT, "%s: Core ML could not plan the model: %s", path, why);
        goto done;
    }
    c = (walk_ctx){w->plan, cls("MLNeuralEngineComputeDevice"), cls("MLCPUComputeDevice"), cls("MLGPUComputeDevice"),
                   out, ANET_OK};
    walk_structure(&c, MSG(msg_id)(w->plan, sel("modelStructure")), "", 0);
    st = c.st;
done:
    if (w) {
        if (w->plan) MSG(msg_void)(w->plan, sel("release"));
        if (w->error) MSG(msg_void)(w->error, sel("release"));
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
    }
    if (cfg) MSG(msg_void)(cfg, sel("release"));
    if (compiled && fm_cls) { /* the temporary .mlmodelc Core ML compiled for us */
        id fm = MSG(msg_id)(fm_cls, sel("defaultManager"));
        if (fm) MSG(msg_bool_id_err)(fm, sel("removeItemAtURL:error:"), compiled, NULL);
    }
    if (p) CFRelease(p);
    if (pool) MSG(msg_void)(pool, sel("drain"));
    return st;
}

anet_status anet_cp_seam_os(anet_cp_seam *out) {
    out->name = "darwin";
    out->query = d_query;
    out->ctx = NULL;
    return ANET_OK;
}
