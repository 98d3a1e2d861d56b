"""`python -m sbt_train` -> the sbt-train CLI."""

import sys

from sbt_train.cli import main

sys.exit(main())
