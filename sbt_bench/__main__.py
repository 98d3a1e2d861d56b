"""`python -m sbt_bench` is `sbt-bench` (also what `accelerate launch -m sbt_bench` runs)."""

from sbt_bench.cli import main

main()
