import sys

from bench.trainer.run import main

sys.exit(main())
