"""The local scale-out drill (``python -m drill``), run against the stand-ins in ``stand_ins``."""
