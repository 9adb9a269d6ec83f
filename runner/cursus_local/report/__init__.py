"""What a CI reads from runs: result files in a stable, versioned shape (summary), JUnit XML
(junit), regressions between two runs (compare), and the runs folder itself (runs: listing,
`latest`, pruning). Between the testers (pipeline, unit) and the CLI, which renders all of it."""
