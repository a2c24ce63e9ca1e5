/* algos.h — the built-in algorithm tables, in the order the registry lists them. */
#ifndef FC_BALANCE_ALGOS_H
#define FC_BALANCE_ALGOS_H

#include "fulcrum/algorithm.h"

extern const struct fc_algorithm fc_algo_round_robin;

#define FC__BUILTIN_ALGORITHMS &fc_algo_round_robin

#endif
