"""The in-process checkout services on `nats.micro`: inventory, payment, shipping and the faults control.

State lives in JetStream KV (see `store.py`), so every process serving them shares it.
"""

from .faults import FAULTS_SUBJECT, FaultsClient, validate_faults
from .queries import lost_replies_by_instance, ping_services, services_snapshot
from .replies import CODE_NOTHING_TO_REFUND, CODE_NOTHING_TO_RESTOCK, CODE_VOIDED
from .runner import RunningServices, start_services
from .stock_control import STOCK_SUBJECT, StockClient

__all__ = [
    "CODE_NOTHING_TO_REFUND",
    "CODE_NOTHING_TO_RESTOCK",
    "CODE_VOIDED",
    "FAULTS_SUBJECT",
    "FaultsClient",
    "STOCK_SUBJECT",
    "StockClient",
    "RunningServices",
    "lost_replies_by_instance",
    "ping_services",
    "services_snapshot",
    "start_services",
    "validate_faults",
]
