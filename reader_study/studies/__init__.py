"""Reader studies: set-up, presentations, export and analysis."""
