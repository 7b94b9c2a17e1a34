"""APScheduler wiring and the jobs. Jobs only enqueue or tidy rows; they never send anything themselves."""
