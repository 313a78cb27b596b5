"""DICOM for the denoiser: what a CT image is (`standard`), reading, writing, deriving."""
