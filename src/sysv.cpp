// filled in by the shared-memory work
