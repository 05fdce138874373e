"""`simsiam-zoo demo`: its settings (settings.py), the run within a time budget (run.py) and its report (report.py)."""

from simsiam_zoo.demo.run import DemoResult, format_table, run_demo
from simsiam_zoo.demo.settings import DEMO_EPOCHS, DEMO_MODEL

__all__ = ["DEMO_EPOCHS", "DEMO_MODEL", "DemoResult", "format_table", "run_demo"]
