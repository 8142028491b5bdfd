"""spark-submit target: `spark-submit spark-jobs/run_job.py --job-type ... [--param k=v ...]`."""

import os
import sys

# Under spark-submit the package sits next to this file (the image copies spark-jobs/ whole).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helix_jobs.main import main

if __name__ == "__main__":
    sys.exit(main())
