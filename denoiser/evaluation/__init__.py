"""Benchmark denoisers on held-out low-dose CT: tables, CSV and figures.

``python -m denoiser evaluate`` simulates (once, cached) phantom slices from
``denoiser.seeds.EVALUATION_SEEDS`` (anatomy no training run may use), scans them at normal
dose and at the evaluation dose (quarter dose by default), runs every method on the low-dose
images and measures each slice (``simulated``); then does the same on real CT slices whose
low-dose version is made by noise insertion (``real``). The low-dose input ("LD") and the
normal-dose image ("ND") are measured the same way and listed beside the methods (``methods``).
``reports`` writes the tables (``results.md``, ``results.csv``, ``per_slice.csv``,
``real_ct.md``), ``plots`` the figures (``examples.png``, ``nps.png``, ``real_ct.png``).
"""
