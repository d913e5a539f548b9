import sys

from .token_classification import main

sys.exit(main())
