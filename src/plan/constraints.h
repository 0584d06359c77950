/* The ANE constraint table: every known rule as data, with its source and the chips it
 * applies to. One table serves vane (a program the profile rejects fails to compile, as on
 * the device), the planner and `ane_trainer check`. */
#ifndef ANET_PLAN_CONSTRAINTS_H
#define ANET_PLAN_CONSTRAINTS_H

#include "graph/ir.h"
#include "runtime/backend.h"

#define ANET_CHIP_BIT(c) (1u << (c))
#define ANET_CHIPS_ALL 0x1Fu

typedef struct anet_rule {
    const char *id;     /* stable, kebab-case: "rank-max-5", "op-rejected-concat", ... */
    const char *title;  /* one line: what the rule says */
    const char *reason; /* one sentence: why, as a user should read it */
    const char *source; /* where it is reported (repository and path, issue, paper) */
    unsigned chips;     /* ANET_CHIP_BIT mask of the profiles it applies to; STRICT has all */
} anet_rule;

typedef struct anet_verdict {
    int ok;                /* 1 eligible, 0 not */
    const anet_rule *rule; /* the first rule that failed (NULL when ok) */
    char detail[256];      /* the specifics: "rank 6 > 5 on value 'x'" */
} anet_verdict;

/* All rules (ML Program / MIL ones here; Core ML NeuralNetwork layer rules register with
 * the same struct in their own file). */
const anet_rule *anet_rules(int *n);
const anet_rule *anet_rule_find(const char *id); /* NULL if unknown */

/* Is op `op_id` of g eligible on chip? Fills v. */
anet_status anet_plan_check_op(const anet_graph *g, int op_id, anet_chip chip, anet_verdict *v);
/* Whole program (ops plus program-level rules such as I/O count and BLOBFILE count):
 * returns the number of violations (0 = eligible); fills up to max verdicts into v. */
int anet_plan_check_graph(const anet_graph *g, anet_chip chip, anet_verdict *v, int max);
/* Only the program-level rules of anet_plan_check_graph (program inputs' rank, axes and
 * dtypes; the BLOBFILE count), in the same order; for reports that judge ops one by one. */
int anet_plan_check_program(const anet_graph *g, anet_chip chip, anet_verdict *v, int max);

#endif
