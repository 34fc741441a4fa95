"""crm_simulate's text, and ``ha simulate`` end to end (checked against crm_simulate 2.1.5)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from lxml import etree
from test_scheduler_cibs import cib, history, nv, op, prim, two_nodes

from ha.cli import simulate
from ha.scheduler import schedule
from ha.scheduler.model import Change
from ha.scheduler.text import render, summary_lines


def test_summary_columns_grow_with_the_longest_name_and_details() -> None:
    lines = summary_lines([Change("Start", "rsc2", "node1"),
                           Change("Move", "rsc4", "node1 -> node2"),
                           Change("Stop", "a-much-longer-name", "node2", "node availability")])
    assert lines == [
        "  * Start      rsc2                   (          node1 )",
        "  * Move       rsc4                   ( node1 -> node2 )",
        "  * Stop       a-much-longer-name     (          node2 )  due to node availability",
    ]


def test_short_names_use_the_minimum_widths() -> None:
    assert summary_lines([Change("Start", "A", "n1")]) == ["  * Start      A       (    n1 )"]


def _example() -> etree._Element:
    return cib(["node1", "node2"], prim("A") + prim("B", nv("target-role", "Stopped")),
               status=two_nodes(history("B", op("B", "start"))),
               node_attrs={"node2": nv("standby", "on")})


def test_status_and_summary_as_crm_simulate_prints_them() -> None:
    assert render(schedule(_example())) == (
        "1 of 2 resource instances DISABLED and 0 BLOCKED from further action due to failure\n"
        "\n"
        "Current cluster status:\n"
        "  * Node List:\n"
        "    * Node node2: standby\n"
        "    * Online: [ node1 ]\n"
        "\n"
        "  * Full List of Resources:\n"
        "    * A\t(ocf:pacemaker:Dummy):\t Stopped\n"
        "    * B\t(ocf:pacemaker:Dummy):\t Started node1 (disabled)\n"
        "\n"
        "Transition Summary:\n"
        "  * Start      A       ( node1 )\n"
        "  * Stop       B       ( node1 )  due to node availability\n")


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    path = tmp_path / "cib.xml"
    path.write_bytes(etree.tostring(_example()))
    parser = argparse.ArgumentParser()
    simulate.add_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["simulate", "-x", str(path), *argv])
    code = args.func(args)
    return code, capsys.readouterr().out


def test_cli_prints_scores_with_s(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(tmp_path, capsys, "-s", "-R")
    assert code == 0
    assert "pcmk__primitive_assign: A allocation score on node1: 0\n" in out
    assert "pcmk__primitive_assign: B allocation score on node1: -INFINITY\n" in out


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(tmp_path, capsys, "--output-as", "json")
    data = json.loads(out)
    assert code == 0
    assert data["summary"][0] == {"verb": "Start", "resource": "A", "details": "node1",
                                  "reason": ""}
    assert {(a["resource"], a["task"], a["node"]) for a in data["actions"]} >= {
        ("A", "start", "node1"), ("B", "stop", "node1")}


def test_cli_refuses_what_is_not_xml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.xml"
    path.write_text("<cib")
    parser = argparse.ArgumentParser()
    simulate.add_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["simulate", "-x", str(path)])
    assert args.func(args) == simulate.EXIT_INVALID
    assert "ha simulate" in capsys.readouterr().err


def test_explain_names_the_scores_constraints_and_action(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cib.xml"
    path.write_bytes(etree.tostring(_example()))
    parser = argparse.ArgumentParser()
    simulate.add_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["explain", "B", "-x", str(path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "now: Started on node1" in out and "decided: stay stopped" in out
    assert "target-role is Stopped" in out and "node2 cannot run resources (standby)" in out
    assert "action: Stop (node1) due to node availability" in out
    args = parser.parse_args(["explain", "nothing", "-x", str(path)])
    assert args.func(args) == simulate.EXIT_NOSUCH


def test_explain_a_group_or_clone_member_by_member() -> None:
    from ha.scheduler.explain import explain

    group = '<group id="G">' + prim("G1") + prim("G2") + "</group>"
    clone = '<clone id="C">' + prim("P") + "</clone>"
    t = schedule(cib(["node1", "node2"], group + clone, status=two_nodes()))
    g = explain(t, "G")
    assert g[0] == "G (group of 2)"
    assert "G1 (ocf:pacemaker:Dummy)" in g and "G2 (ocf:pacemaker:Dummy)" in g
    c = explain(t, "C")
    assert c[0] == "C (clone of 2)" and "P:0 (ocf:pacemaker:Dummy)" in c
    assert any(line.startswith("  action: Start") for line in c)
    assert explain(t, "nothing") == []
