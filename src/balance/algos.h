/* algos.h — the built-in algorithm tables, in the order the registry lists them. */
#ifndef FC_BALANCE_ALGOS_H
#define FC_BALANCE_ALGOS_H

#include "fulcrum/algorithm.h"

extern const struct fc_algorithm fc_algo_round_robin;
extern const struct fc_algorithm fc_algo_random;
extern const struct fc_algorithm fc_algo_least_conn;
extern const struct fc_algorithm fc_algo_ip_hash;
extern const struct fc_algorithm fc_algo_consistent_hash;
extern const struct fc_algorithm fc_algo_p2c;
extern const struct fc_algorithm fc_algo_ewma;
extern const struct fc_algorithm fc_algo_rebalance;

#define FC__BUILTIN_ALGORITHMS                                                                     \
	&fc_algo_round_robin, &fc_algo_random, &fc_algo_least_conn, &fc_algo_ip_hash,              \
	        &fc_algo_consistent_hash, &fc_algo_p2c, &fc_algo_ewma, &fc_algo_rebalance

#endif
