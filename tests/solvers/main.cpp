#define BOOST_TEST_MODULE solvers
#include <boost/test/unit_test.hpp>
