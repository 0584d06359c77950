/* Which pieces of other modules the Core ML reader may call. They are built on other
 * branches (compiler: graph IR and MIL parser; vane: the constraint table); each switch
 * is turned on in the commit that merges its piece, so the paths that need it fail with a
 * clear "unsupported" message, never a guess, until then. */
#ifndef ANET_COREML_DEPS_H
#define ANET_COREML_DEPS_H

#define ANET_CM_HAVE_IR 1          /* src/graph/ir.c: anet_graph_* */
#define ANET_CM_HAVE_MIL_PARSER 1  /* src/mil/: anet_mil_parse */
#define ANET_CM_HAVE_PLAN_CHECK 1  /* src/plan/constraints.c: anet_plan_check_op, anet_rule_find */

#endif
