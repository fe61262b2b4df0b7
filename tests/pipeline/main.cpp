#define BOOST_TEST_MODULE dsx_pipeline
#include <boost/test/unit_test.hpp>
