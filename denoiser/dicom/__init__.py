"""DICOM for the denoiser, one module per job: what a CT image is (`standard`), reading a
series into HU (`read`), writing a new series (`write`) and its denoised twin (`derive`)."""
