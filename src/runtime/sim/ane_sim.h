/* A simulator of the ANE private API, behind the same seam as ane_darwin.c (ane_seam.h).
 * Programs run on vane; every quirk of ANE_FACTS.md "Reported quirks" is a switchable rule
 * with a per-chip default, so the backend logic can be shown to avoid each one (and a
 * caller that ignores one fails here the way it would on a Mac). Fault injection makes
 * compile, load, eval or the framework itself fail on demand. */
#ifndef ANET_RUNTIME_SIM_ANE_SIM_H
#define ANET_RUNTIME_SIM_ANE_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "plan/forms.h"
#include "runtime/ane_seam.h"
#include "runtime/backend.h"

/* The quirks, each on (1) by default. */
typedef struct anet_ane_sim_rules {
    /* Constants are baked at compile: rewriting the weight file and reloading changes
     * nothing (Orion #7; maderix training/m5result.md). Off: load re-reads the weights. */
    int baked_constants;
    /* Compiles per simulator instance before compile fails (~119 per process: maderix,
     * Orion #5; 119-132 on M4: maderix PR #23). 0 = unlimited. */
    int compile_limit;
    /* Surfaces are matched to MIL names in alphabetical order, not declaration order
     * (Orion #3, #13). Off: declaration order. */
    int alphabetical_io;
    /* All inputs (and all outputs) must have one allocation size, else eval status 0x1d
     * (Orion #2, #12). */
    int uniform_alloc;
    /* Surfaces below this many bytes fail eval with status 0x1d (Orion #4: ~49 KB on M4
     * Max; imperatormk and ANE-Training-iPhone report ~2 KB). 0 = no minimum. */
    size_t min_surface_bytes;
    /* Data is read packed from byte 0 as the declared shape (Orion #14). Always the
     * behaviour here; the flag documents it and, off, makes a surface smaller than its
     * tensor an error rather than a 0x1d. */
    int packed_reads;
    /* Ops the chip's compiler rejects fail at compile (through vane's constraint table,
     * src/plan/constraints.h, for the configured chip). */
    int reject_ops;
    /* The program-form quirks (plan/forms.h): each rule that is on fails a program breaking
     * it the way the reports say the device fails (compile failure, 0x1d, silent zeros,
     * wrong values, a hang reported as a timeout); row-layout decides how surface rows are
     * read and written. ANE_TRAINER_FORMS switches them. */
    anet_forms forms;
    /* The compiled model states its I/O layout (io_layout); off: the seam has none, as on
     * systems where modelAttributes lacks it. */
    int report_layout;
    /* IOSurface lock discipline (Apple's IOSurfaceLock/IOSurfaceUnlock documentation: the pair
     * bounds the CPU's access to a surface's bytes; kIOSurfaceLockReadOnly must be given to both,
     * asymmetric use is undefined). Always checked: an evaluation whose request holds a surface
     * the CPU has locked fails (the CPU and the device would race), and an unlock must match a
     * lock of the same mode. audit_writes (ANE_TRAINER_SIM_AUDIT_WRITES=1; off by
     * default, it reads every surface at each unlock and evaluation) also catches the CPU
     * writing a surface without holding a write lock: after its unlock, through a read-only
     * lock, or never locked. */
    int audit_writes;
} anet_ane_sim_rules;

/* Injected faults. at == 0: never; at == N > 0: the N-th call fails; always: every call. */
typedef struct anet_ane_sim_fault {
    int at;
    int always;
} anet_ane_sim_fault;

typedef struct anet_ane_sim_faults {
    int framework_missing; /* open fails as if AppleNeuralEngine.framework were absent */
    int classes_missing;   /* open fails as if the private classes were renamed */
    anet_ane_sim_fault compile, load, eval;
} anet_ane_sim_faults;

typedef struct anet_ane_sim_config {
    anet_chip chip;
    anet_numerics numerics;
    anet_ane_sim_rules rules;
    anet_ane_sim_faults faults;
} anet_ane_sim_config;

/* The chip profile's rules, no faults. */
void anet_ane_sim_config_default(anet_chip chip, anet_ane_sim_config *out);
/* Parses a fault list: "eval@5,compile,load@2,framework,classes" (comma-separated; "@N"
 * makes only the N-th call fail). An unknown item is an error naming it. */
anet_status anet_ane_sim_faults_parse(const char *spec, anet_ane_sim_faults *out);
/* Applies ANE_TRAINER_SIM_FAULTS, ANE_TRAINER_SIM_COMPILE_LIMIT, ANE_TRAINER_SIM_AUDIT_WRITES
 * and ANE_TRAINER_FORMS from the environment. */
anet_status anet_ane_sim_config_env(anet_ane_sim_config *c);

/* A simulator seam (vane is opened lazily, at open()). */
anet_status anet_ane_sim_seam_create(const anet_ane_sim_config *cfg, anet_ane_seam *out);

/* Controls for tests, valid on a seam made by anet_ane_sim_seam_create. */
typedef struct anet_ane_sim_counts {
    int compiles;   /* compile calls, counted whether or not they succeeded */
    int loads;
    int evals;      /* evaluate calls */
    int surfaces;   /* live surfaces */
} anet_ane_sim_counts;
void anet_ane_sim_counts_get(const anet_ane_seam *seam, anet_ane_sim_counts *out);
/* The weight file a model wrote to its temporary directory (the framework's copy under
 * NSTemporaryDirectory()/<hex>/weights/weight.bin): tests overwrite it and reload. */
uint8_t *anet_ane_sim_model_weights(anet_ane_model *m, size_t *len);
/* Replaces the rules of a live simulator (tests switch a quirk off). */
void anet_ane_sim_set_rules(anet_ane_seam *seam, const anet_ane_sim_rules *rules);
int anet_ane_sim_is_sim(const anet_ane_seam *seam);
/* The id of the form rule that silently changed the last evaluation's outputs (silent zeros,
 * wrong values), or "" when none did: tests tell a quirk from a numerical error with it. */
const char *anet_ane_sim_last_quirk(const anet_ane_seam *seam);

#endif
