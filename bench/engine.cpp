// The bench engine: filled in by the bench work.
