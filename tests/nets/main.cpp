#define BOOST_TEST_MODULE nets
#include <boost/test/unit_test.hpp>
