"""Command-line programs: `python -m training.train`, `python -m training.evaluate`,
`training/main.sh`."""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, CPU features) is noise on a command line.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
