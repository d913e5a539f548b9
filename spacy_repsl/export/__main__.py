import sys

from .token_classification import main

if __name__ == "__main__":
    sys.exit(main())
