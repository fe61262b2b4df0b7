#define BOOST_TEST_MODULE store_cache
#include <boost/test/unit_test.hpp>
