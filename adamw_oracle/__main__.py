import sys

from adamw_oracle.cli import main

sys.exit(main())
