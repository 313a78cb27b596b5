"""The denoiser model registry: registered, versioned checkpoints, their pages and API."""
