import sys
from pathlib import Path

# tests import the media generators in tests/mediagen.py as a plain module
sys.path.insert(0, str(Path(__file__).parent))
