#include <string>
#include <sstream>
std::string fmt(int x) { std::ostringstream o; o << "square=" << x; return o.str(); }
