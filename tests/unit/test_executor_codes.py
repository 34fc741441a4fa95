"""OCF exit codes: names, recovery classes, LSB mapping."""

from __future__ import annotations

import pytest

from ha.executor.codes import (
    ExecStatus,
    exec_status_name,
    lsb_to_ocf,
    ocf_rc_of,
    rc_info,
    rc_name,
    recovery_class,
)


@pytest.mark.parametrize("rc, alias, name", [
    (0, "OCF_SUCCESS", "ok"), (1, "OCF_ERR_GENERIC", "error"),
    (2, "OCF_ERR_ARGS", "invalid parameter"), (3, "OCF_ERR_UNIMPLEMENTED", "unimplemented feature"),
    (4, "OCF_ERR_PERM", "insufficient privileges"), (5, "OCF_ERR_INSTALLED", "not installed"),
    (6, "OCF_ERR_CONFIGURED", "not configured"), (7, "OCF_NOT_RUNNING", "not running"),
    (8, "OCF_RUNNING_PROMOTED", "promoted"), (9, "OCF_FAILED_PROMOTED", "promoted (failed)"),
])
def test_names(rc: int, alias: str, name: str) -> None:
    assert (rc_info(rc).alias, rc_name(rc)) == (alias, name)


@pytest.mark.parametrize("rc, cls", [
    (1, "soft"), (2, "hard"), (3, "hard"), (4, "hard"), (5, "hard"), (6, "fatal"),
    (8, "soft"), (9, "soft"), (7, "soft"), (190, "none"), (77, "soft"),
])
def test_recovery_classes_of_unexpected_results(rc: int, cls: str) -> None:
    assert recovery_class(rc, expected_rc=0) == cls


def test_expected_results_and_recurring_unimplemented_need_no_recovery() -> None:
    assert recovery_class(7, expected_rc=7) == "none"        # a probe finding it stopped
    assert recovery_class(3, interval_ms=10_000) == "none"   # "not supported"
    assert recovery_class(0, expected_rc=7) == "soft"


@pytest.mark.parametrize("code, ocf", [(0, 0), (1, 7), (2, 7), (3, 7), (4, 1), (150, 5),
                                       (151, 4), (99, 1)])
def test_lsb_status(code: int, ocf: int) -> None:
    assert lsb_to_ocf("status", code) == ocf
    assert lsb_to_ocf("monitor", code) == ocf


def test_lsb_other_actions_share_codes_up_to_7() -> None:
    assert [lsb_to_ocf("start", c) for c in range(9)] == [0, 1, 2, 3, 4, 5, 6, 7, 1]


def test_ocf_out_of_range_is_generic() -> None:
    assert [ocf_rc_of(c) for c in (0, 9, 10, 190, 191, 255, -9)] == [0, 9, 1, 190, 191, 1, 1]


def test_exec_status_names() -> None:
    assert exec_status_name(ExecStatus.TIMEOUT) == "Timed Out"
    assert exec_status_name(ExecStatus.CANCELLED) == "Cancelled"
    assert exec_status_name(ExecStatus.NOT_INSTALLED) == "Not installed"
