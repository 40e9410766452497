"""Where the repository and the committed test data are, for the tests and their helpers."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")
SUPPORT = os.path.join(ROOT, "tests", "support")
