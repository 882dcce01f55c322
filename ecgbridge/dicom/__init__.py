"""DICOM in and out: pixel decoding, waveform objects, the SCP and the sending SCU."""
