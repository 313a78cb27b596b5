"""Statistics and figures of a visual-grading reader study, from its tidy export (Django-free)."""
