"""Game days: scenario files (model), their timeline (plan), the run (runner) and its report."""
