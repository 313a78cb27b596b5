"""DICOMweb (PS3.18) for researchers and their tools, rooted at /dicomweb/.

QIDO-RS search, WADO-RS retrieve (instances, metadata, frames, rendered), STOW-RS
store (the API twin of the upload page), and WADO-URI for Cornerstone's `wadouri:`
loader. Authenticated by session or `Authorization: Token ...`; every lookup goes
through reader_study.access, so a researcher only ever finds their own cases.
"""
