"""`python -m receiver` is `alert-analyst`."""

from receiver.cli import main

raise SystemExit(main())
