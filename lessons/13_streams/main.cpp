#include "lesson.hpp"
int main() {}
