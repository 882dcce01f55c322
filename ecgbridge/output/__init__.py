"""Files written for each digitized image: a WFDB record and its JSON sidecar."""
from ecgbridge.output.sidecar import write_sidecar
from ecgbridge.output.wfdb_record import write_wfdb_record

__all__ = ["write_sidecar", "write_wfdb_record"]
