#define BOOST_TEST_MODULE diffusion
#include <boost/test/unit_test.hpp>
