"""State enums match oned's numbers; every member decodes and names round-trip."""

from __future__ import annotations

import pytest

from one_drivers.one.states import LcmState, VmState, lcm_state_from_number, state_label, vm_state_from_number


def test_numbers_are_dense_and_match_oned() -> None:
    assert [m.value for m in VmState] == list(range(12))
    assert [m.value for m in LcmState] == list(range(72))
    assert (LcmState.BOOT_POWEROFF.value, LcmState.BOOT_UNDEPLOY.value, LcmState.CLEANUP_DELETE.value) == (
        20,
        32,
        23,
    )


def test_recorded_states_decode() -> None:
    assert state_label(vm_state_from_number("3"), lcm_state_from_number("3")) == "RUNNING"
    assert state_label(vm_state_from_number("6"), lcm_state_from_number("0")) == "DONE"


def test_unknown_numbers_are_errors() -> None:
    with pytest.raises(ValueError):
        vm_state_from_number(12)
    with pytest.raises(ValueError):
        lcm_state_from_number(99)


def test_host_states_are_host_h() -> None:
    from one_drivers.one.states import HostState

    # include/Host.h, 4.4 (0-7) and 7.4 (0, 2, 3, 4, 8 in use; 1, 5, 6, 7 kept as comments)
    assert {s.name: int(s) for s in HostState} == {
        "INIT": 0,
        "MONITORING_MONITORED": 1,
        "MONITORED": 2,
        "ERROR": 3,
        "DISABLED": 4,
        "MONITORING_ERROR": 5,
        "MONITORING_INIT": 6,
        "MONITORING_DISABLED": 7,
        "OFFLINE": 8,
    }


def test_image_and_datastore_enums_are_image_h_and_datastore_h() -> None:
    from one_drivers.one.records import IMAGE_STATES, IMAGE_TYPES
    from one_drivers.one.states import DatastoreType, ImageState, ImageType

    # include/Image.h ImageType / ImageState and include/Datastore.h DatastoreType of 6.10.5
    assert [t.name for t in ImageType] == [
        "OS",
        "CDROM",
        "DATABLOCK",
        "KERNEL",
        "RAMDISK",
        "CONTEXT",
        "BACKUP",
    ]
    assert [int(t) for t in ImageType] == list(range(7))
    assert [int(s) for s in ImageState] == list(range(11))
    assert (ImageState.LOCKED, ImageState.USED_PERS, ImageState.LOCKED_USED_PERS) == (4, 8, 10)
    assert {t.name: int(t) for t in DatastoreType} == {
        "IMAGE_DS": 0,
        "SYSTEM_DS": 1,
        "FILE_DS": 2,
        "BACKUP_DS": 3,
    }
    # the records' name tables say the same
    assert tuple(t.name for t in ImageType) == IMAGE_TYPES
    assert tuple(s.name for s in ImageState) == IMAGE_STATES
