"""Game days: scenario files, their runner and their reports."""
