"""`--mode=study`: when does learned synthetic data help a captioner (docs/results/report.md)."""
