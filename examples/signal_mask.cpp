int main() { return 0; }  // stub: being written
