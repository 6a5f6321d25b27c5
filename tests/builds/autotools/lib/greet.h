char *greet(const char *who);
double root2(void);
