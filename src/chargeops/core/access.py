"""Who may do what, and over which records: roles, permissions and scopes.

Every API route and console page names one permission it needs. A role grants a
permission over a scope: everything, the caller's organization, or only the caller's
own records. A caller with several roles gets the widest scope any of them grants.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    TECHNICIAN = "technician"
    SUPPORT = "support"
    FLEET_MANAGER = "fleet_manager"
    DRIVER = "driver"


class Permission(enum.StrEnum):
    STATIONS_READ = "stations:read"
    STATIONS_CONTROL = "stations:control"  # remote commands
    STATIONS_MANAGE = "stations:manage"  # register, move between sites
    SESSIONS_READ = "sessions:read"
    TOKENS_READ = "tokens:read"
    TOKENS_MANAGE = "tokens:manage"
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    SITES_READ = "sites:read"
    SITES_MANAGE = "sites:manage"
    FILES_READ = "files:read"  # diagnostics and logs stations uploaded
    ORGANIZATIONS_MANAGE = "organizations:manage"
    API_KEYS_MANAGE = "api_keys:manage"
    TARIFFS_READ = "tariffs:read"  # prices, before charging: everyone
    TARIFFS_MANAGE = "tariffs:manage"  # tariffs, versions, assignments; credit CDRs
    CDRS_READ = "cdrs:read"  # charge detail records, scoped like sessions
    INVOICES_READ = "invoices:read"  # invoices and credit notes, scoped like CDRs
    BILLING_MANAGE = "billing:manage"  # issuer details, customer accounts, runs, credit notes
    MONITORING_READ = "monitoring:read"  # health, faults, anomalies, uptime
    MONITORING_MANAGE = "monitoring:manage"  # declare maintenance and excluded outages
    MESSAGES_READ = "messages:read"  # the OCPP message log (it carries card ids)
    INCIDENTS_READ = "incidents:read"
    INCIDENTS_HANDLE = "incidents:handle"  # acknowledge, assign, comment, resolve
    ALERTS_MANAGE = "alerts:manage"  # rules, escalation policies, notification channels


class Scope(enum.IntEnum):
    """How far a permission reaches; larger is wider."""

    OWN = 1  # records of the caller (a driver's sessions and tokens)
    ORGANIZATION = 2  # records of the caller's organization (a fleet's drivers)
    ALL = 3


P = Permission
_EVERYTHING = {p: Scope.ALL for p in Permission}
_STAFF_READ = {
    P.STATIONS_READ: Scope.ALL,
    P.SESSIONS_READ: Scope.ALL,
    P.SITES_READ: Scope.ALL,
    P.TARIFFS_READ: Scope.ALL,
    P.CDRS_READ: Scope.ALL,
    P.INVOICES_READ: Scope.ALL,
    P.MONITORING_READ: Scope.ALL,
    P.MESSAGES_READ: Scope.ALL,
    P.INCIDENTS_READ: Scope.ALL,
    P.INCIDENTS_HANDLE: Scope.ALL,
}

GRANTS: dict[Role, dict[Permission, Scope]] = {
    Role.ADMIN: _EVERYTHING,
    Role.OPERATOR: {
        **_STAFF_READ,
        P.STATIONS_CONTROL: Scope.ALL,
        P.STATIONS_MANAGE: Scope.ALL,
        P.TOKENS_READ: Scope.ALL,
        P.TOKENS_MANAGE: Scope.ALL,
        P.USERS_READ: Scope.ALL,
        P.USERS_MANAGE: Scope.ALL,
        P.SITES_MANAGE: Scope.ALL,
        P.FILES_READ: Scope.ALL,
        P.TARIFFS_MANAGE: Scope.ALL,
        P.BILLING_MANAGE: Scope.ALL,
        P.MONITORING_MANAGE: Scope.ALL,
        P.ALERTS_MANAGE: Scope.ALL,
    },
    Role.TECHNICIAN: {
        **_STAFF_READ,
        P.STATIONS_CONTROL: Scope.ALL,
        P.FILES_READ: Scope.ALL,
        P.MONITORING_MANAGE: Scope.ALL,  # declare the maintenance they do
    },
    Role.SUPPORT: {
        **_STAFF_READ,
        P.STATIONS_CONTROL: Scope.ALL,  # start a session for a driver whose card fails
        P.TOKENS_READ: Scope.ALL,
        P.TOKENS_MANAGE: Scope.ALL,  # block a lost card
        P.USERS_READ: Scope.ALL,
    },
    Role.FLEET_MANAGER: {
        P.STATIONS_READ: Scope.ALL,
        P.SITES_READ: Scope.ALL,
        P.SESSIONS_READ: Scope.ORGANIZATION,
        P.TARIFFS_READ: Scope.ALL,
        P.CDRS_READ: Scope.ORGANIZATION,
        P.INVOICES_READ: Scope.ORGANIZATION,
        P.TOKENS_READ: Scope.ORGANIZATION,
        P.TOKENS_MANAGE: Scope.ORGANIZATION,
        P.USERS_READ: Scope.ORGANIZATION,
    },
    Role.DRIVER: {
        P.STATIONS_READ: Scope.ALL,  # find a free charger
        P.SITES_READ: Scope.ALL,
        P.SESSIONS_READ: Scope.OWN,
        P.TARIFFS_READ: Scope.ALL,  # prices are shown before charging
        P.CDRS_READ: Scope.OWN,
        P.INVOICES_READ: Scope.OWN,  # receipts
        P.TOKENS_READ: Scope.OWN,
    },
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (by login or by one of their API keys)."""

    user_id: int
    organization_id: int | None
    roles: frozenset[Role]
    name: str  # for audit records: the user's email, and the key's name for a key

    def scope(self, permission: Permission) -> Scope | None:
        """The widest scope the caller's roles grant for ``permission``; None: not at all."""
        granted = [GRANTS[r][permission] for r in self.roles if permission in GRANTS[r]]
        return max(granted) if granted else None

    def may(self, permission: Permission) -> bool:
        return self.scope(permission) is not None

    @property
    def permissions(self) -> frozenset[Permission]:
        return frozenset(p for p in Permission if self.may(p))


def parse_roles(names: str | list[str]) -> frozenset[Role]:
    """Roles from ``"admin,operator"`` or a list; ValueError naming the unknown ones."""
    items = names.split(",") if isinstance(names, str) else names
    wanted = {n.strip().lower() for n in items if n.strip()}
    unknown = wanted - {r.value for r in Role}
    if unknown:
        known = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {', '.join(sorted(unknown))}; roles: {known}")
    return frozenset(Role(n) for n in wanted)
