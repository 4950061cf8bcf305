"""The Services page's rules: which settings an admin may change there (``fields``), how the saved
values are stored encrypted, merged over the environment and audited (``store``), what the page
shows (``views``) and "Test connection" (``probes``).

Saving only writes the database; the caller announces the new configuration version after the
commit (``config_version.bump``), and every process rebuilds its clients (``wiring.py``)."""

from .fields import FIELDS, SERVICES, FieldInvalid, FieldSpec, fields_of, mask
from .probes import ProbeClients, ProbeResult, try_connection
from .store import (
    Change,
    SaveResult,
    Stored,
    choose_household,
    effective,
    forget,
    load,
    rotate_secrets,
    save,
)
from .views import CardView, FieldView, OptionView, cards

__all__ = ["FIELDS", "SERVICES", "CardView", "Change", "FieldInvalid", "FieldSpec", "FieldView", "OptionView",
           "ProbeClients", "SaveResult", "Stored", "ProbeResult", "cards", "choose_household", "effective",
           "fields_of", "forget", "load", "mask", "rotate_secrets", "save", "try_connection"]
