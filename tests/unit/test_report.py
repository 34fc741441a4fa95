"""The run report (``harness.report``: HTML with an SVG timeline) and ``harness.junit``.

Both render ``tests/data/harness_result_sample.json``: five nodes, a 2|3 partition
from 5 s to 20 s, a kill never undone, a pause, one failed check with a violation,
one failed step and a measurement with a null figure.
"""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.junit import render_junit, write_junit
from harness.report import (
    LEFT,
    RIGHT,
    WIDTH,
    nice_step,
    render_html,
    render_svg,
    tick_label,
    write_html,
)

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "harness_result_sample.json"
SVG = "{http://www.w3.org/2000/svg}"
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}
MALICIOUS = "<script>alert(1)</script>"


@pytest.fixture
def result() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return data


def passing(result: dict[str, Any]) -> dict[str, Any]:
    r = copy.deepcopy(result)
    r["ok"] = True
    for c in r["checks"]:
        c["ok"], c["violations"] = True, []
    for s in r["steps"]:
        s["ok"], s["detail"] = True, None
    return r


class TagBalance(HTMLParser):
    """Records every non-void tag that is closed out of order or never closed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> but open: {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(doc: str) -> TagBalance:
    p = TagBalance()
    p.feed(doc)
    p.close()
    assert p.errors == [] and p.stack == [], (p.errors, p.stack)
    return p


def svg_of(doc: str) -> ET.Element:
    chunks = re.findall(r"<svg\b.*?</svg>", doc, flags=re.S)
    assert len(chunks) == 1
    return ET.fromstring(chunks[0])


def groups(svg: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in svg.iter(f"{SVG}g") if g.get("class") == cls]


def title(el: ET.Element) -> str:
    t = el.find(f"{SVG}title")
    assert t is not None and t.text
    return t.text


def band(fault: ET.Element) -> ET.Element:
    return [r for r in fault.findall(f"{SVG}rect") if r.get("fill-opacity")][0]


def x_of(result: dict[str, Any], t_ms: float) -> float:
    return LEFT + t_ms / float(result["duration_ms"]) * (WIDTH - LEFT - RIGHT)


# --- HTML and SVG structure ---------------------------------------------------------


def test_sample_follows_the_schema(result: dict[str, Any]) -> None:
    assert result["nodes"] == [1, 2, 3, 4, 5]
    assert set(result["timeline"]) == {"1", "2", "3", "4", "5"}
    for segs in result["timeline"].values():  # contiguous lanes covering the whole run
        assert segs[0]["t_start_ms"] == 0.0 and segs[-1]["t_end_ms"] == result["duration_ms"]
        assert all(a["t_end_ms"] == b["t_start_ms"] for a, b in zip(segs, segs[1:], strict=False))
    partition = result["faults"][0]
    assert (partition["kind"], partition["t_start_ms"], partition["t_end_ms"]) == ("partition", 5000.0, 20000.0)
    assert any(f["kind"] == "kill" and f["t_end_ms"] is None for f in result["faults"])
    assert [c["ok"] for c in result["checks"]].count(False) == 1
    assert any(v is None for m in result["measurements"] for v in m.values())


def test_html_is_balanced_and_svg_is_well_formed_xml(result: dict[str, Any]) -> None:
    doc = render_html(result)
    assert doc.startswith("<!DOCTYPE html>")
    parse_html(doc)
    svg = svg_of(doc)
    assert svg.tag == f"{SVG}svg" and svg.get("width") == str(WIDTH)
    assert ET.fromstring(render_svg(result)).tag == f"{SVG}svg"  # standalone too


def test_one_lane_per_node_with_a_titled_segment_per_interval(result: dict[str, Any]) -> None:
    svg = svg_of(render_html(result))
    lanes = groups(svg, "lane")
    assert [g.get("data-node") for g in lanes] == ["1", "2", "3", "4", "5"]
    for lane in lanes:
        node = lane.get("data-node")
        segs = [r for r in lane.iter(f"{SVG}rect") if (r.get("class") or "").startswith("seg ")]
        assert len(segs) == len(result["timeline"][node])
        for rect, seg in zip(segs, result["timeline"][node], strict=True):
            tip = title(rect)
            assert tip.startswith(f"node {node} · {seg['state']} · ring ")
            assert ("inquorate" if not seg["quorate"] else "quorate") in tip
            assert float(rect.get("width", "0")) >= 1
            assert float(rect.get("x", "0")) == pytest.approx(x_of(result, seg["t_start_ms"]), abs=0.01)
    kinds = {lane.get("data-node"): [r.get("class") for r in lane.iter(f"{SVG}rect") if r.get("class")]
             for lane in lanes}
    assert kinds["3"][-1] == "seg down" and "seg paused" in kinds["5"]
    assert "seg inquorate" in kinds["1"] and "seg forming" in kinds["1"]


def test_a_new_ring_draws_a_separator_and_its_id(result: dict[str, Any]) -> None:
    svg = svg_of(render_html(result))
    lanes = {g.get("data-node"): g for g in groups(svg, "lane")}
    for node, expected in (("1", 6), ("3", 3), ("5", 5)):  # 1.12 1.16 1.20 1.24 1.28 1.32; ...
        seps = [ln for ln in lanes[node].iter(f"{SVG}line") if ln.get("class") == "ring-change"]
        assert len(seps) == expected, node
    texts = [t.text for t in lanes["4"].iter(f"{SVG}text")]
    assert {"1.12", "3.16", "1.20", "1.24", "1.28", "1.32"} <= set(texts)


def test_tiny_segment_is_still_one_pixel_wide(result: dict[str, Any]) -> None:
    r = copy.deepcopy(result)
    r["timeline"]["2"].insert(1, {"t_start_ms": 1800.0, "t_end_ms": 1800.5, "state": "down",
                                  "ring_id": None, "members": [], "quorate": False})
    lane = [g for g in groups(svg_of(render_html(r)), "lane") if g.get("data-node") == "2"][0]
    down = [x for x in lane.iter(f"{SVG}rect") if x.get("class") == "seg down"]
    assert len(down) == 1 and float(down[0].get("width", "0")) == 1.0


def test_a_band_per_fault_over_the_lanes_it_hits(result: dict[str, Any]) -> None:
    svg = svg_of(render_html(result))
    faults = groups(svg, "fault")
    assert [g.get("data-fault") for g in faults] == [str(f["id"]) for f in result["faults"]]
    by_id = {g.get("data-fault"): g for g in faults}
    for f in result["faults"]:
        g = by_id[str(f["id"])]
        assert f["label"] in [t.text for t in g.iter(f"{SVG}text")]
        bands = [r for r in g.findall(f"{SVG}rect") if r.get("fill-opacity")]
        assert len(bands) == 1  # all lanes for the partition, one lane for kill and pause
        assert float(bands[0].get("x", "0")) == pytest.approx(x_of(result, f["t_start_ms"]), abs=0.01)
    partition, kill = by_id["1"], by_id["2"]
    assert float(band(partition).get("height", "0")) > 4 * float(band(kill).get("height", "0"))
    assert band(kill).get("fill", "").startswith("url(#fade")  # open-ended: fades out ...
    assert kill.find(f"{SVG}path") is not None  # ... with an arrow head
    assert float(band(kill).get("x", "0")) + float(band(kill).get("width", "0")) == pytest.approx(WIDTH - RIGHT)
    assert len(partition.findall(f"{SVG}line")) == 2 and len(kill.findall(f"{SVG}line")) == 1
    assert "still active at the end" in title(kill)


def test_a_marker_per_violation_on_the_lanes_it_names(result: dict[str, Any]) -> None:
    r = copy.deepcopy(result)
    svg = svg_of(render_html(r))
    marks = groups(svg, "violation")
    assert len(marks) == 1
    assert "rings 1.16 [1,2] and 3.16 [3,4,5] both quorate" in title(marks[0])
    tri = marks[0].findall(f"{SVG}path")
    assert len(tri) == 2  # nodes [1, 2]
    tip_x = float(tri[0].get("d", "").split("L")[-1].split(",")[0])
    assert tip_x == pytest.approx(x_of(r, 6650.0), abs=0.01)
    r["checks"][2]["ok"] = False
    r["checks"][2]["violations"] = [{"invariant": "agreed_order", "t_ms": 30000.0, "nodes": [4],
                                     "detail": "n4 delivered 17 before 16"}]
    marks = groups(svg_of(render_html(r)), "violation")
    assert len(marks) == 2 and len(marks[1].findall(f"{SVG}path")) == 1


def test_steps_and_time_axis(result: dict[str, Any]) -> None:
    svg = svg_of(render_html(result))
    steps = groups(svg, "step")
    assert len(steps) == len(result["steps"])
    assert "expect nodes 1,2 inquorate within 1s" in title(steps[3]) and "FAILED" in title(steps[3])
    assert "FAILED" not in title(steps[2])
    labels = {t.text for t in svg.iter(f"{SVG}text")}
    assert {"0", "5 s", "10 s", "40 s"} <= labels and "45 s" not in labels
    assert {"operational, quorate", "operational, inquorate", "paused", "down"} <= labels  # legend


@pytest.mark.parametrize(("span", "step", "label"), [
    (42000.0, 5000.0, "5 s"), (800.0, 100.0, "100 ms"), (2500.0, 500.0, "500 ms"),
    (15000.0, 2000.0, "2 s"), (3.0, 0.5, "0.5 ms"), (120000.0, 20000.0, "20 s")])
def test_nice_ticks(span: float, step: float, label: str) -> None:
    assert nice_step(span) == pytest.approx(step)
    assert tick_label(step, nice_step(span)) == label


# --- header, summary, tables ---------------------------------------------------------


def test_fail_badge_and_violation_sentence(result: dict[str, Any]) -> None:
    doc = render_html(result)
    assert re.search(r'<div class="badge fail" id="verdict">FAIL</div>', doc)
    summary = doc[doc.index('id="failures"'):]
    summary = summary[:summary.index("</section>")]
    assert ("one_quorate_partition violated at t=6.650 s on nodes [1, 2]: "
            "rings 1.16 [1,2] and 3.16 [3,4,5] both quorate") in summary
    assert "step 3 failed at t=6.650 s" in summary
    text = "".join(parse_html(doc).text)
    for needed in ("partition_2_3_of_5", "sim", "2026-11-25T10:00:00Z", "12.3 s", "Split a five-node"):
        assert needed in text


def test_pass_badge_when_ok(result: dict[str, Any]) -> None:
    doc = render_html(passing(result))
    assert '<div class="badge pass" id="verdict">PASS</div>' in doc
    assert "FAIL" not in doc and 'id="failures"' not in doc and "violated at" not in doc
    assert groups(svg_of(doc), "violation") == []


def test_tables(result: dict[str, Any]) -> None:
    doc = render_html(result)
    meas = doc[doc.index("<h2>Measurements</h2>"):doc.index("<h2>Checks</h2>")]
    assert meas.count("<tr") == 1 + 3 and "1210.0" in meas and "1650.0" in meas and "900.0" in meas
    assert re.search(r"kill n3</td>.*?—</td></tr>", meas)
    checks = doc[doc.index("<h2>Checks</h2>"):doc.index("<h2>Steps</h2>")]
    assert checks.count("FAILED") == 1 and checks.count(">ok<") == 3
    steps = doc[doc.index("<h2>Steps</h2>"):doc.index("<h2>Files</h2>")]
    assert steps.count("<tr") == 1 + 14 and "nodes 1,2 still quorate on ring 1.16" in steps
    files = doc[doc.index("<h2>Files</h2>"):]
    for n in range(1, 6):
        assert f'href="nodes/n{n}/trace.jsonl"' in files and f'href="nodes/n{n}/ha.log"' in files
    assert 'href="scenario.yaml"' in files


# --- safety: escaping, offline ---------------------------------------------------------


def test_user_text_is_escaped_everywhere(result: dict[str, Any]) -> None:
    r = copy.deepcopy(result)
    r["scenario"]["description"] = MALICIOUS
    r["scenario"]["name"] = 'x"><img src=x onerror=alert(2)>'
    r["steps"][0]["text"] = MALICIOUS
    r["faults"][0]["label"] = MALICIOUS
    r["checks"][0]["violations"][0]["detail"] = MALICIOUS + "\x01"
    r["timeline"]["1"][1]["ring_id"] = "<b>1.12</b>"
    r["files"]["logs"]["1"] = 'a" onclick="alert(3)'
    doc = render_html(r)
    assert "<script" not in doc.lower() and "<img" not in doc and "<b>" not in doc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    assert 'onclick="' not in doc and "onerror=alert" not in doc.replace("&quot;&gt;&lt;img src=x onerror=alert", "")
    parse_html(doc)
    svg = svg_of(doc)  # still well formed, the control character replaced
    assert MALICIOUS in [t.text for t in svg.iter(f"{SVG}text")]


def test_nothing_is_fetched_from_the_network(result: dict[str, Any]) -> None:
    r = copy.deepcopy(result)
    r["files"]["traces"]["2"] = "https://evil.example/trace.jsonl"
    r["files"]["logs"]["2"] = "//evil.example/ha.log"
    r["files"]["scenario"] = "javascript:alert(1)"
    doc = render_html(r)
    refs = re.findall(r"""\b(?:src|href|xlink:href|action)\s*=\s*["']?([^"'\s>]*)""", doc, flags=re.I)
    assert refs and all(not re.match(r"^(?:[a-z][a-z0-9+.-]*:|//)", u, flags=re.I) for u in refs), refs
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//|@import", doc, flags=re.I)
    assert "https://evil.example/trace.jsonl" in doc  # shown as text, not linked


def test_write_html(tmp_path: Path, result: dict[str, Any]) -> None:
    path = tmp_path / "run" / "report.html"
    write_html(result, path)
    assert path.read_text(encoding="utf-8") == render_html(result)


# --- JUnit --------------------------------------------------------------------------------


def test_junit_counts_and_failures(result: dict[str, Any]) -> None:
    root = ET.fromstring(render_junit(result))
    suites = root.findall("testsuite")
    assert root.tag == "testsuites" and len(suites) == 1
    suite = suites[0]
    n_tests = len(result["checks"]) + len(result["steps"])
    n_failures = sum(c["ok"] is False for c in result["checks"]) + sum(s["ok"] is False for s in result["steps"])
    assert n_failures == 2
    assert suite.get("name") == "hastack.partition_2_3_of_5"
    for el in (root, suite):
        assert (el.get("tests"), el.get("failures"), el.get("errors"), el.get("skipped")) == (
            str(n_tests), str(n_failures), "0", "0")
    assert suite.get("time") == "12.300" and suite.get("timestamp") == "2026-11-25T10:00:00"
    cases = suite.findall("testcase")
    assert len(cases) == n_tests
    assert {c.get("classname") for c in cases} == {"hastack.partition_2_3_of_5.sim"}
    assert [c.get("name") for c in cases][:4] == [f"check:{c['name']}" for c in result["checks"]]
    assert cases[4 + 3].get("name") == "step:3 expect nodes 1,2 inquorate within 1s"
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == n_failures
    f = failed[0].find("failure")
    assert f is not None and f.get("type") == "one_quorate_partition"
    assert "violated at t=6.650 s on nodes [1, 2]" in (f.get("message") or "")
    assert "both quorate" in (f.text or "")
    step_failure = failed[1].find("failure")
    assert step_failure is not None and step_failure.get("type") == "step"
    assert "still quorate" in (step_failure.get("message") or "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["seed"] == "7" and props["backend"] == "sim"
    out = suite.findtext("system-out") or ""
    assert "partition 1,2|3,4,5" in out and "detection 1210.0 ms" in out and "merge after heal n/a" in out
    assert [child.tag for child in suite][0] == "properties"  # schema order


def test_junit_passing_and_hostile_text(tmp_path: Path, result: dict[str, Any]) -> None:
    ok = ET.fromstring(render_junit(passing(result))).find("testsuite")
    assert ok is not None and ok.get("failures") == "0" and ok.find(".//failure") is None
    r = copy.deepcopy(result)
    r["steps"][3]["detail"] = MALICIOUS + ' & "quotes" \x00\x07'
    r["steps"][4]["ok"] = None  # not reached: skipped
    r["scenario"]["name"] = "a<b>&c"
    path = tmp_path / "junit.xml"
    write_junit(r, path)
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "hastack.a<b>&c"
    assert suite.get("skipped") == "1" and suite.get("failures") == "2"
    msgs = [f.get("message") for f in suite.iter("failure")]
    assert any(m and m.startswith(MALICIOUS + ' & "quotes"') for m in msgs)
