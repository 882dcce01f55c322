"""Non-DICOM and encapsulated inputs: PDF pages, image files, patient sidecars.

`pdf` renders PDF pages to pixels, `files` turns a file from a swept folder into job payloads,
`patient_sidecar` reads the optional patient/study fields written beside a file.
"""
