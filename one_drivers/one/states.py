"""OpenNebula VM states: the STATE and LCM_STATE numbers oned writes in every VM document.

Numbers are oned's own (include/VirtualMachine.h, 4.x to 7.x); retired members are kept so that old
documents still decode. Every table built on these enums must cover every member (tests walk them).
"""

from __future__ import annotations

import enum


class VmState(enum.IntEnum):
    """The VM's global state (`<STATE>`)."""

    INIT = 0
    PENDING = 1
    HOLD = 2
    ACTIVE = 3
    STOPPED = 4
    SUSPENDED = 5
    DONE = 6
    FAILED = 7  # retired in 4.x, still found in old databases
    POWEROFF = 8
    UNDEPLOYED = 9
    CLONING = 10
    CLONING_FAILURE = 11


class LcmState(enum.IntEnum):
    """The life-cycle sub-state (`<LCM_STATE>`), meaningful while STATE is ACTIVE."""

    LCM_INIT = 0
    PROLOG = 1
    BOOT = 2
    RUNNING = 3
    MIGRATE = 4
    SAVE_STOP = 5
    SAVE_SUSPEND = 6
    SAVE_MIGRATE = 7
    PROLOG_MIGRATE = 8
    PROLOG_RESUME = 9
    EPILOG_STOP = 10
    EPILOG = 11
    SHUTDOWN = 12
    CANCEL = 13  # retired
    FAILURE = 14  # retired
    CLEANUP_RESUBMIT = 15
    UNKNOWN = 16
    HOTPLUG = 17
    SHUTDOWN_POWEROFF = 18
    BOOT_UNKNOWN = 19
    BOOT_POWEROFF = 20
    BOOT_SUSPENDED = 21
    BOOT_STOPPED = 22
    CLEANUP_DELETE = 23
    HOTPLUG_SNAPSHOT = 24
    HOTPLUG_NIC = 25
    HOTPLUG_SAVEAS = 26
    HOTPLUG_SAVEAS_POWEROFF = 27
    HOTPLUG_SAVEAS_SUSPENDED = 28
    SHUTDOWN_UNDEPLOY = 29
    EPILOG_UNDEPLOY = 30
    PROLOG_UNDEPLOY = 31
    BOOT_UNDEPLOY = 32
    HOTPLUG_PROLOG_POWEROFF = 33
    HOTPLUG_EPILOG_POWEROFF = 34
    BOOT_MIGRATE = 35
    BOOT_FAILURE = 36
    BOOT_MIGRATE_FAILURE = 37
    PROLOG_MIGRATE_FAILURE = 38
    PROLOG_FAILURE = 39
    EPILOG_FAILURE = 40
    EPILOG_STOP_FAILURE = 41
    EPILOG_UNDEPLOY_FAILURE = 42
    PROLOG_MIGRATE_POWEROFF = 43
    PROLOG_MIGRATE_POWEROFF_FAILURE = 44
    PROLOG_MIGRATE_SUSPEND = 45
    PROLOG_MIGRATE_SUSPEND_FAILURE = 46
    BOOT_UNDEPLOY_FAILURE = 47
    BOOT_STOPPED_FAILURE = 48
    PROLOG_RESUME_FAILURE = 49
    PROLOG_UNDEPLOY_FAILURE = 50
    DISK_SNAPSHOT_POWEROFF = 51
    DISK_SNAPSHOT_REVERT_POWEROFF = 52
    DISK_SNAPSHOT_DELETE_POWEROFF = 53
    DISK_SNAPSHOT_SUSPENDED = 54
    DISK_SNAPSHOT_REVERT_SUSPENDED = 55
    DISK_SNAPSHOT_DELETE_SUSPENDED = 56
    DISK_SNAPSHOT = 57
    DISK_SNAPSHOT_REVERT = 58  # retired
    DISK_SNAPSHOT_DELETE = 59
    PROLOG_MIGRATE_UNKNOWN = 60
    PROLOG_MIGRATE_UNKNOWN_FAILURE = 61
    DISK_RESIZE = 62
    DISK_RESIZE_POWEROFF = 63
    DISK_RESIZE_UNDEPLOYED = 64
    HOTPLUG_NIC_POWEROFF = 65
    HOTPLUG_RESIZE = 66
    HOTPLUG_SAVEAS_UNDEPLOYED = 67
    HOTPLUG_SAVEAS_STOPPED = 68
    BACKUP = 69
    BACKUP_POWEROFF = 70
    RESTORE = 71  # 7.x


class VmAction(enum.IntEnum):
    """What a HISTORY record's `<ACTION>` says ended it (VMActions::Action, include/VMActions.h 6.10)."""

    NONE = 0
    MIGRATE = 1
    LIVE_MIGRATE = 2
    UNDEPLOY = 5
    UNDEPLOY_HARD = 6
    HOLD = 7
    RELEASE = 8
    STOP = 9
    SUSPEND = 10
    RESUME = 11
    DELETE = 13
    DELETE_RECREATE = 14
    REBOOT = 15
    REBOOT_HARD = 16
    RESCHED = 17
    UNRESCHED = 18
    POWEROFF = 19
    POWEROFF_HARD = 20
    DISK_ATTACH = 21
    DISK_DETACH = 22
    NIC_ATTACH = 23
    NIC_DETACH = 24
    DISK_SNAPSHOT_CREATE = 25
    DISK_SNAPSHOT_DELETE = 26
    TERMINATE = 27
    TERMINATE_HARD = 28
    DISK_RESIZE = 29
    DEPLOY = 30
    CHOWN = 31
    CHMOD = 32
    UPDATECONF = 33
    RENAME = 34
    RESIZE = 35
    UPDATE = 36
    SNAPSHOT_CREATE = 37
    SNAPSHOT_DELETE = 38
    SNAPSHOT_REVERT = 39
    DISK_SAVEAS = 40
    DISK_SNAPSHOT_REVERT = 41
    RECOVER = 42
    RETRY = 43
    MONITOR = 44
    DISK_SNAPSHOT_RENAME = 45
    ALIAS_ATTACH = 46
    ALIAS_DETACH = 47
    POFF_MIGRATE = 48
    POFF_HARD_MIGRATE = 49
    BACKUP = 50
    NIC_UPDATE = 51
    BACKUP_CANCEL = 52
    SCHED_ADD = 53
    SCHED_UPDATE = 54
    SCHED_DELETE = 55
    SG_ATTACH = 56
    SG_DETACH = 57
    PCI_ATTACH = 58
    PCI_DETACH = 59
    RESTORE = 60

    @property
    def label(self) -> str:
        """The name oned prints and `one.vm.action` takes ("poweroff-hard"; POFF_ spelled "poweroff-")."""
        return self.name.lower().replace("_", "-").replace("poff-", "poweroff-")


def vm_state_from_number(value: int | str) -> VmState:
    """Decode `<STATE>`; an unknown number is an error, never a silent default."""
    return VmState(int(value))


def lcm_state_from_number(value: int | str) -> LcmState:
    """Decode `<LCM_STATE>`; an unknown number is an error, never a silent default."""
    return LcmState(int(value))


def state_label(state: VmState, lcm: LcmState) -> str:
    """The name `onevm show` prints: the LCM state while ACTIVE, else the VM state."""
    return lcm.name if state is VmState.ACTIVE else state.name


# LCM states of an ACTIVE VM whose instance oned wants stopped but kept (poweroff / undeploy paths).
POWEROFF_LCM_STATES = frozenset({LcmState.SHUTDOWN_POWEROFF, LcmState.SHUTDOWN_UNDEPLOY})
# LCM states in which oned resumes an existing instance with DEPLOY (the previous DEPLOY_ID is kept).
RESUME_DEPLOY_LCM_STATES = frozenset({LcmState.BOOT_POWEROFF, LcmState.BOOT_UNDEPLOY})
# LCM states oned uses for RESTORE after stop/suspend.
RESTORE_LCM_STATES = frozenset({LcmState.BOOT_SUSPENDED, LcmState.BOOT_STOPPED})


class HostState(enum.IntEnum):
    """`<HOST><STATE>` (include/Host.h; 1, 5, 6, 7 are the <= 5.10 transient MONITORING_* states, 8 is 5.x+)."""

    INIT = 0
    MONITORING_MONITORED = 1
    MONITORED = 2
    ERROR = 3
    DISABLED = 4
    MONITORING_ERROR = 5
    MONITORING_INIT = 6
    MONITORING_DISABLED = 7
    OFFLINE = 8


class ImageType(enum.IntEnum):
    """`<IMAGE><TYPE>` (include/Image.h ImageType); the names are what `TYPE=` takes in a template."""

    OS = 0
    CDROM = 1
    DATABLOCK = 2
    KERNEL = 3
    RAMDISK = 4
    CONTEXT = 5
    BACKUP = 6


class ImageState(enum.IntEnum):
    """`<IMAGE><STATE>` (include/Image.h ImageState)."""

    INIT = 0
    READY = 1
    USED = 2
    DISABLED = 3
    LOCKED = 4
    ERROR = 5
    CLONE = 6
    DELETE = 7
    USED_PERS = 8
    LOCKED_USED = 9
    LOCKED_USED_PERS = 10


class DatastoreType(enum.IntEnum):
    """`<DATASTORE><TYPE>` (include/Datastore.h DatastoreType); the names are what `TYPE=` takes."""

    IMAGE_DS = 0
    SYSTEM_DS = 1
    FILE_DS = 2
    BACKUP_DS = 3
