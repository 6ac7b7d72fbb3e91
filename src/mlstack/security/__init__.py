"""Rules that guard the front doors: the UI password login and spreadsheet-safe CSV exports."""
