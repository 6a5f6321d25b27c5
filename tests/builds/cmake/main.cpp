#include <iostream>
#include <string>
#include <cstdlib>
#include "config.h"
extern "C" int sq(int);
std::string fmt(int);
int main(int argc, char **argv) {
    if (argc < 2) return 1;
    std::cout << fmt(sq(std::atoi(argv[1]))) << " " << PROBE << std::endl;
    return 0;
}
