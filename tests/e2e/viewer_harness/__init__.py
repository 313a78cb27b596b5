"""A stand-in for the Django pages that host the viewer bundle: the built entries, real DICOM
files and stub reading APIs, served by the standard library for real-Chromium checks."""
