"""The three stages of a run, each a function of a `RunContext`: generate, train, evaluate."""
