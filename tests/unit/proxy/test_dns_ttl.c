/* test_dns_ttl.c — the lowest TTL of a DNS answer: several records, name
 * compression, a question section to skip, no answer, a TTL with the top bit
 * set (RFC 2181: 0), a record whose data runs out of the message, a name
 * running out of it, a reserved label type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/dns_ttl.h"

/* id 1, flags, 1 question, `an` answers, no authority or additional */
#define HEAD(an) 0, 1, 0x81, 0x80, 0, 1, 0, (an), 0, 0, 0, 0
/* the question: a.test IN A */
#define QUESTION 1, 'a', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1
/* an answer for the question's name (a pointer to offset 12), IN A, TTL t */
#define ANSWER(t0, t1, t2, t3) 0xc0, 12, 0, 1, 0, 1, (t0), (t1), (t2), (t3), 0, 4, 127, 0, 0, 1

static void test_lowest_of_the_answers(void **state)
{
	(void)state;
	static const unsigned char m[] = {HEAD(3), QUESTION, ANSWER(0, 0, 1, 44), /* 300 */
	                                  ANSWER(0, 0, 0, 60), ANSWER(0, 1, 0, 0)};
	assert_int_equal(fc_dns_answer_min_ttl(m, sizeof(m)), 60);
	/* cut inside the second record: only the first counts */
	assert_int_equal(fc_dns_answer_min_ttl(m, sizeof(m) - 20), 300);
	/* cut inside the question: none */
	assert_true(fc_dns_answer_min_ttl(m, 15) == UINT64_MAX);
	assert_true(fc_dns_answer_min_ttl(m, 0) == UINT64_MAX);
	assert_true(fc_dns_answer_min_ttl(NULL, 100) == UINT64_MAX);
}

static void test_no_answer_and_odd_ttls(void **state)
{
	(void)state;
	static const unsigned char none[] = {HEAD(0), QUESTION};
	assert_true(fc_dns_answer_min_ttl(none, sizeof(none)) == UINT64_MAX);
	static const unsigned char top[] = {HEAD(2), QUESTION, ANSWER(0x80, 0, 0, 5),
	                                    ANSWER(0, 0, 0, 9)};
	assert_int_equal(fc_dns_answer_min_ttl(top, sizeof(top)), 0);
	/* the count promises two records, the message holds one */
	static const unsigned char lie[] = {HEAD(2), QUESTION, ANSWER(0, 0, 0, 7)};
	assert_int_equal(fc_dns_answer_min_ttl(lie, sizeof(lie)), 7);
}

static void test_bad_names(void **state)
{
	(void)state;
	/* a label longer than what is left */
	static const unsigned char longlabel[] = {HEAD(1), 60, 'a', 'b'};
	assert_true(fc_dns_answer_min_ttl(longlabel, sizeof(longlabel)) == UINT64_MAX);
	/* a reserved label type (0x40) in an answer's name */
	static const unsigned char reserved[] = {HEAD(1), QUESTION, 0x40, 1, 0, 1, 0,
	                                         1,       0,        0,    0, 5, 0, 0};
	assert_true(fc_dns_answer_min_ttl(reserved, sizeof(reserved)) == UINT64_MAX);
	/* a pointer cut in half */
	static const unsigned char half[] = {HEAD(1), QUESTION, 0xc0};
	assert_true(fc_dns_answer_min_ttl(half, sizeof(half)) == UINT64_MAX);
	/* rdlength beyond the end */
	static const unsigned char rd[] = {HEAD(1), QUESTION, 0xc0, 12, 0, 1,   0, 1,
	                                   0,       0,        0,    5,  0, 200, 1, 2};
	assert_true(fc_dns_answer_min_ttl(rd, sizeof(rd)) == UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_lowest_of_the_answers),
	        cmocka_unit_test(test_no_answer_and_odd_ttls),
	        cmocka_unit_test(test_bad_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
