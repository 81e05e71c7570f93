/* placeholder until the linter lands */
int main(void);
int main(void) { return 0; }
