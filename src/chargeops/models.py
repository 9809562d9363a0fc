"""Every domain's tables, gathered for migrations."""

from chargeops.alerts import models as _alerts
from chargeops.billing import models as _billing
from chargeops.commands import models as _commands
from chargeops.files import models as _files
from chargeops.monitoring import models as _monitoring
from chargeops.sessions import models as _sessions
from chargeops.stations import models as _stations
from chargeops.storage import jobs as _jobs
from chargeops.storage.base import Base
from chargeops.users import models as _users

metadata = Base.metadata

__all__ = [
    "_alerts",
    "_billing",
    "_commands",
    "_files",
    "_jobs",
    "_monitoring",
    "_sessions",
    "_stations",
    "_users",
    "metadata",
]
