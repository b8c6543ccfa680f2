#include "lesson.hpp"
int main() { return 0; }
