#define BOOST_TEST_MODULE amed
#include <boost/test/unit_test.hpp>
