"""`sbt-bench score`: recorded answers (predict-only runs, answer files) turned into results."""
