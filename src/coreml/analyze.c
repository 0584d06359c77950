/* The analysis: a verdict per layer (NeuralNetwork rules or the MIL constraint table), then
 * the segments (maximal runs of consecutive ANE layers, with the tensors that cross their
 * borders) and the number of ANE <-> CPU switches. Name lookups go through sorted indexes
 * so that a file with many layers stays O(n log n). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coreml/coreml.h"
#include "coreml/compute_plan.h"
#include "coreml/deps.h"
#include "core/error.h"

typedef struct name_ref {
    const char *name;
    int idx; /* layer index (or known-tensor index) */
} name_ref;

static int cmp_ref(const void *a, const void *b) {
    const name_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* First entry not before (name, idx) in (name, idx) order, or n. */
static size_t lower_at(const name_ref *refs, size_t n, const char *name, int idx) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(refs[mid].name, name);
        if (c < 0 || (c == 0 && refs[mid].idx < idx)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

typedef struct index {
    name_ref *known, *prod, *cons;
    size_t nknown, nprod, ncons;
} index;

static void index_free(index *ix) {
    free(ix->known);
    free(ix->prod);
    free(ix->cons);
}

static anet_status index_build(const anet_cm_model *m, index *ix) {
    memset(ix, 0, sizeof *ix);
    size_t np = 0, nc = 0;
    for (int i = 0; i < m->nlayers; i++) {
        np += (size_t)m->layers[i].noutputs;
        nc += (size_t)m->layers[i].ninputs;
    }
    ix->known = malloc(((size_t)m->nknown + 1) * sizeof *ix->known);
    ix->prod = malloc((np + 1) * sizeof *ix->prod);
    ix->cons = malloc((nc + 1) * sizeof *ix->cons);
    if (!ix->known || !ix->prod || !ix->cons) {
        index_free(ix);
        return anet_fail(ANET_E_NOMEM, "%s: out of memory indexing the layers", m->path);
    }
    for (int i = 0; i < m->nknown; i++) ix->known[ix->nknown++] = (name_ref){m->known[i].name, i};
    for (int i = 0; i < m->nlayers; i++) {
        for (int j = 0; j < m->layers[i].noutputs; j++) ix->prod[ix->nprod++] = (name_ref){m->layers[i].outputs[j], i};
        for (int j = 0; j < m->layers[i].ninputs; j++) ix->cons[ix->ncons++] = (name_ref){m->layers[i].inputs[j], i};
    }
    qsort(ix->known, ix->nknown, sizeof *ix->known, cmp_ref);
    qsort(ix->prod, ix->nprod, sizeof *ix->prod, cmp_ref);
    qsort(ix->cons, ix->ncons, sizeof *ix->cons, cmp_ref);
    return ANET_OK;
}

/* Every lookup below is a binary search, also when a hostile file repeats one name in
 * every layer. */

/* The latest shape the file states for name (a layer's own record beats a feature's). */
static const anet_cm_shape *known_shape(const anet_cm_model *m, const index *ix, const char *name) {
    size_t i = lower_at(ix->known, ix->nknown, name, INT_MAX);
    if (i == 0 || strcmp(ix->known[i - 1].name, name) != 0) return NULL;
    return &m->known[ix->known[i - 1].idx].shape;
}

/* Is name produced by a layer with index in [a, b)? */
static int produced_in(const index *ix, const char *name, int a, int b) {
    size_t i = lower_at(ix->prod, ix->nprod, name, a);
    return i < ix->nprod && strcmp(ix->prod[i].name, name) == 0 && ix->prod[i].idx < b;
}

/* Is name consumed by a layer in [lo, a) or (b, hi]? (lo..hi: the layers that can see it.) */
static int consumed_outside(const index *ix, const char *name, int a, int b, int lo, int hi) {
    size_t first = lower_at(ix->cons, ix->ncons, name, lo);
    if (first < ix->ncons && strcmp(ix->cons[first].name, name) == 0 && ix->cons[first].idx < a) return 1;
    size_t after = lower_at(ix->cons, ix->ncons, name, b + 1);
    return after < ix->ncons && strcmp(ix->cons[after].name, name) == 0 && ix->cons[after].idx <= hi;
}

/* Separate programs (checkpoints: train and eval) share tensor names but nothing else. */
static int same_program(const anet_cm_model *m, int i, int j) {
    return !m->private_path || m->layers[i].graph == m->layers[j].graph;
}

static int is_model_output(const anet_cm_model *m, const char *name, int graph) {
    for (int i = 0; i < m->noutputs; i++)
        if (strcmp(m->outputs[i].name, name) == 0) return 1;
    for (int gi = 0; gi < m->ngraphs; gi++) {
        if (m->private_path && gi != graph) continue;
        const anet_graph *g = m->graphs[gi];
        if (!g) continue;
        for (int i = 0; i < g->noutputs; i++)
            if (strcmp(g->values[g->outputs[i]].name, name) == 0) return 1;
    }
    return 0;
}

static int has_tensor(const anet_cm_tensor *t, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return 1;
    return 0;
}

/* A segment lists at most this many tensors per side (the rest are counted in *_more): keeps
 * the listing readable and the dedup below linear enough on hostile files. */
#define SEG_MAX_LISTED 32

static int push_tensor(anet_cm_tensor **arr, int *n, const char *name, const anet_cm_shape *s) {
    anet_cm_tensor *p = realloc(*arr, (size_t)(*n + 1) * sizeof *p);
    if (!p) return -1;
    *arr = p;
    p[*n].name = anet_cm_strndup(name, strlen(name));
    if (!p[*n].name) return -1;
    if (s) p[*n].shape = *s;
    else {
        memset(&p[*n].shape, 0, sizeof p[*n].shape);
        p[*n].shape.rank = -1;
    }
    (*n)++;
    return 0;
}

const char *anet_cm_rules_name(anet_cm_rules r) { return r == ANET_CM_RULES_PRIVATE ? "private" : "coreml"; }

static void unmodeled(anet_cm_model *m, anet_cm_layer *l, const char *why) {
    l->verdict = ANET_CM_UNKNOWN;
    l->rule = anet_rule_nn_find("mil-op-unmodeled");
    anet_cm_set_detail(l, "%.250s", why && why[0] ? why : m->ir_error);
}

/* An ML Program op under the rule set of m->rules: Core ML placement rules from the op's type,
 * parameters and shapes; or the private API's compile rules from its graph IR. */
static anet_status judge_mil(anet_cm_model *m, anet_cm_layer *l, anet_chip chip) {
    if (m->rules == ANET_CM_RULES_COREML) {
        anet_rules_coreml_check(l, chip);
        return ANET_OK;
    }
    if (l->op == -2) { /* judged while building the IR (not modeled, rank > 5) */
        l->verdict = l->ir_verdict;
        l->rule = l->ir_rule;
        anet_cm_set_detail(l, "%s", l->ir_detail ? l->ir_detail : "");
        return ANET_OK;
    }
#if ANET_CM_HAVE_PLAN_CHECK
    if (l->graph >= 0 && l->op >= 0 && m->graphs[l->graph]) {
        anet_verdict v;
        memset(&v, 0, sizeof v);
        anet_status st = anet_plan_check_op(m->graphs[l->graph], l->op, chip, &v);
        if (st != ANET_OK) return anet_fail_ctx(st, "%s: checking op '%s'", m->path, l->name);
        if (v.ok) {
            l->verdict = ANET_CM_ANE;
            l->rule = anet_rule_nn_find("mil-op-ok");
            anet_cm_set_detail(l, "%s op", l->type);
        } else {
            l->verdict = ANET_CM_CPU;
            l->rule = v.rule;
            anet_cm_set_detail(l, "%s", v.detail);
        }
        return ANET_OK;
    }
#else
    (void)chip;
#endif
    unmodeled(m, l, m->ir_error[0] ? NULL : "the program could not be converted to the graph IR");
    return ANET_OK;
}

/* Under the Core ML rules a boundary cast runs with the ops it serves: on the CPU when every
 * layer it feeds or is fed by is there. */
static void place_casts(anet_cm_model *m, const index *ix) {
    const anet_rule *cast = anet_rule_coreml_find("coreml-cast-boundary");
    for (int i = 0; i < m->nlayers; i++) {
        anet_cm_layer *l = &m->layers[i];
        if (l->rule != cast) continue;
        int cpu = 0, other = 0;
        for (int j = 0; j < l->noutputs; j++) {
            size_t k = lower_at(ix->cons, ix->ncons, l->outputs[j], INT_MIN);
            for (; k < ix->ncons && strcmp(ix->cons[k].name, l->outputs[j]) == 0; k++) {
                const anet_cm_layer *n = &m->layers[ix->cons[k].idx];
                if (n->rule == cast) continue;
                if (n->verdict == ANET_CM_CPU) cpu++;
                else other++;
            }
        }
        for (int j = 0; j < l->ninputs; j++) {
            size_t k = lower_at(ix->prod, ix->nprod, l->inputs[j], INT_MIN);
            for (; k < ix->nprod && strcmp(ix->prod[k].name, l->inputs[j]) == 0; k++) {
                const anet_cm_layer *n = &m->layers[ix->prod[k].idx];
                if (n->rule == cast) continue;
                if (n->verdict == ANET_CM_CPU) cpu++;
                else other++;
            }
        }
        if (cpu && !other) {
            l->verdict = ANET_CM_CPU;
            anet_cm_append_detail(l, ", serving only layers on the CPU");
        }
    }
}

/* Program-level rules of every ML Program graph (program inputs, BLOBFILE count). */
static anet_status program_rules(anet_cm_model *m, anet_chip chip) {
    free(m->issues);
    m->issues = NULL;
    m->nissues = 0;
    if (m->rules != ANET_CM_RULES_PRIVATE) return ANET_OK; /* rules of the in-memory compile path */
#if ANET_CM_HAVE_PLAN_CHECK
    for (int gi = 0; gi < m->ngraphs; gi++) {
        if (!m->graphs[gi]) continue;
        anet_verdict v[16];
        memset(v, 0, sizeof v);
        int n = anet_plan_check_program(m->graphs[gi], chip, v, 16);
        if (n < 0) return anet_fail_ctx(ANET_E_INVALID, "%s: checking program %d", m->path, gi);
        if (n > 16) n = 16; /* the first 16 say enough */
        if (!n) continue;
        anet_cm_issue *p = realloc(m->issues, (size_t)(m->nissues + n) * sizeof *p);
        if (!p) return anet_fail(ANET_E_NOMEM, "%s: out of memory", m->path);
        m->issues = p;
        const char *name = "main";
        for (int i = 0; i < m->nlayers; i++)
            if (m->layers[i].graph == gi && m->layers[i].model_path[0]) {
                name = m->layers[i].model_path;
                break;
            }
        for (int k = 0; k < n; k++) {
            anet_cm_issue *is = &m->issues[m->nissues++];
            memset(is, 0, sizeof *is);
            is->graph = gi;
            snprintf(is->program, sizeof is->program, "%s", name);
            is->rule = v[k].rule;
            is->verdict = ANET_CM_CPU;
            snprintf(is->detail, sizeof is->detail, "%s", v[k].detail);
        }
    }
#else
    (void)chip;
#endif
    return ANET_OK;
}

anet_status anet_coreml_analyze(anet_cm_model *m, anet_chip chip) {
    index ix;
    anet_status st = index_build(m, &ix);
    if (st != ANET_OK) return st;
    m->chip = chip;
    if (m->rules == ANET_CM_RULES_DEFAULT) m->rules = m->private_path ? ANET_CM_RULES_PRIVATE : ANET_CM_RULES_COREML;
    m->n_ane = m->n_cpu = m->n_unknown = m->switches = 0;
    for (int i = 0; i < m->nlayers && st == ANET_OK; i++) {
        anet_cm_layer *l = &m->layers[i];
        /* Shapes the layer itself does not state come from the rest of the file. */
        for (int j = 0; j < l->ninputs; j++)
            if (l->in_shapes[j].rank < 0) {
                const anet_cm_shape *s = known_shape(m, &ix, l->inputs[j]);
                if (s) l->in_shapes[j] = *s;
            }
        if (l->is_mil) st = judge_mil(m, l, chip);
        else anet_rules_nn_check(l, chip);
    }
    if (st != ANET_OK) {
        index_free(&ix);
        return st;
    }
    if (m->rules == ANET_CM_RULES_COREML) place_casts(m, &ix);
    /* Switches: ANE <-> CPU transitions in file order; unknown layers sit between them
     * without counting as either. */
    int last = -1; /* index of the last layer with an ane or cpu verdict */
    for (int i = 0; i < m->nlayers; i++) {
        anet_cm_placement p = m->layers[i].verdict;
        if (p == ANET_CM_ANE) m->n_ane++;
        else if (p == ANET_CM_CPU) m->n_cpu++;
        else m->n_unknown++;
        if (p == ANET_CM_UNKNOWN) continue;
        if (last >= 0 && same_program(m, last, i) && p != m->layers[last].verdict) m->switches++;
        last = i;
    }
    for (int i = 0; i < m->nsegments; i++) {
        for (int j = 0; j < m->segments[i].ninputs; j++) free(m->segments[i].inputs[j].name);
        for (int j = 0; j < m->segments[i].noutputs; j++) free(m->segments[i].outputs[j].name);
        free(m->segments[i].inputs);
        free(m->segments[i].outputs);
    }
    free(m->segments);
    m->segments = NULL;
    m->nsegments = 0;
    for (int a = 0; a < m->nlayers;) {
        if (m->layers[a].verdict != ANET_CM_ANE) {
            a++;
            continue;
        }
        int b = a;
        while (b + 1 < m->nlayers && m->layers[b + 1].verdict == ANET_CM_ANE && same_program(m, b, b + 1)) b++;
        int lo = a, hi = b; /* the layers of this program */
        if (m->private_path) {
            while (lo > 0 && same_program(m, lo - 1, a)) lo--;
            while (hi + 1 < m->nlayers && same_program(m, hi + 1, a)) hi++;
        } else {
            lo = 0;
            hi = m->nlayers - 1;
        }
        anet_cm_segment *p = realloc(m->segments, (size_t)(m->nsegments + 1) * sizeof *p);
        if (!p) goto oom;
        m->segments = p;
        anet_cm_segment *sg = &p[m->nsegments++];
        memset(sg, 0, sizeof *sg);
        sg->first = a;
        sg->last = b;
        for (int i = a; i <= b; i++) {
            const anet_cm_layer *l = &m->layers[i];
            for (int j = 0; j < l->ninputs; j++) {
                if (produced_in(&ix, l->inputs[j], a, i) || has_tensor(sg->inputs, sg->ninputs, l->inputs[j]))
                    continue;
                if (sg->ninputs >= SEG_MAX_LISTED) sg->inputs_more++;
                else if (push_tensor(&sg->inputs, &sg->ninputs, l->inputs[j],
                                     l->in_shapes[j].rank >= 0 ? &l->in_shapes[j] : NULL) != 0)
                    goto oom;
            }
            for (int j = 0; j < l->noutputs; j++)
                if ((consumed_outside(&ix, l->outputs[j], a, b, lo, hi) || is_model_output(m, l->outputs[j], l->graph)) &&
                    !has_tensor(sg->outputs, sg->noutputs, l->outputs[j])) {
                    const anet_cm_shape *s = l->out_shapes[j].rank >= 0 ? &l->out_shapes[j]
                                                                       : known_shape(m, &ix, l->outputs[j]);
                    if (sg->noutputs >= SEG_MAX_LISTED) sg->outputs_more++;
                    else if (push_tensor(&sg->outputs, &sg->noutputs, l->outputs[j], s) != 0) goto oom;
                }
        }
        a = b + 1;
    }
    index_free(&ix);
    st = program_rules(m, chip);
    if (st != ANET_OK) return st;
    m->analyzed = 1;
    return ANET_OK;
oom:
    index_free(&ix);
    return anet_fail(ANET_E_NOMEM, "%s: out of memory computing segments", m->path);
}

int anet_coreml_compat(const anet_cm_model *m) {
    int ane = m->n_ane, cpu = m->n_cpu;
    if (m->on_device) {
        /* The OS decides: its placement replaces ours wherever it reported one. */
        ane = cpu = 0;
        for (int i = 0; i < m->nlayers; i++) {
            const anet_cm_layer *l = &m->layers[i];
            if (l->os_device == ANET_CP_ANE) ane++;
            else if (l->os_device != ANET_CP_NONE) cpu++;
            else if (l->verdict == ANET_CM_ANE) ane++;
            else if (l->verdict == ANET_CM_CPU) cpu++;
        }
    }
    (void)cpu;
    if (m->nlayers > 0 && ane == m->nlayers && m->nissues == 0) return 0;
    if (ane == 0) return 2; /* nothing likely on the ANE: not "partly" */
    return 1;
}
