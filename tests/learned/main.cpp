#define BOOST_TEST_MODULE learned
#include <boost/test/unit_test.hpp>
