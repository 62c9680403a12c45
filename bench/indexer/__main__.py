import sys

from bench.indexer.run import main

sys.exit(main())
