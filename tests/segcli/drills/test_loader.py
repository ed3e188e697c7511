"""Drill files to the model, and every kind of bad file named by file, line and field.

The full example is DRILLS.md §7.3 adapted to this product's lab (``${lab.default_intake}``,
the product's log lines); each bad file is that example with one mistake put in, and the
test finds the line of the mistake in the text, as a person would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from segcli.drills.loader import (
    MAX_BYTES,
    DrillFileError,
    Problem,
    load_drill,
    parse_drill,
    validate,
)
from segcli.drills.model import Check, FaultSpec, TrafficSpec

DATA = Path(__file__).parent / "data"
EXAMPLE = DATA / "dns-nxdomain-hard-bounce.toml"
TEXT = EXAMPLE.read_text(encoding="utf-8")
SOURCE = Path("drills/dns-nxdomain-hard-bounce.toml")


def line_of(text: str, needle: str) -> int:
    """The line of *needle*'s only appearance in *text*."""
    assert text.count(needle) == 1, needle
    return text[:text.index(needle)].count("\n") + 1


def problems(text: str, source: Path = SOURCE, *, strict: bool = False) -> list[Problem]:
    with pytest.raises(DrillFileError) as caught:
        parse_drill(text, source, strict=strict)
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return caught.value.problems


def with_fault(fault: str) -> str:
    """The example with a ``[[phase.fault]]`` (its keys indented) before the first check."""
    return mutate("]\n\n  [[phase.expect]]\n  desc     = \"the original",
                  f"]\n\n  [[phase.fault]]\n  {fault}\n  [[phase.expect]]\n"
                  "  desc     = \"the original")


def mutate(old: str, new: str) -> str:
    assert TEXT.count(old) == 1, old
    return TEXT.replace(old, new)


# -- the full example -----------------------------------------------------------------------------
def test_the_full_example_maps_onto_the_model() -> None:
    drill = load_drill(EXAMPLE)
    assert (drill.id, drill.category, drill.difficulty, drill.source) == \
        ("dns-nxdomain-hard-bounce", "dns", 1, EXAMPLE)
    assert drill.tags == ("seed", "config-mistake", "hard-bounce", "no-retry")
    assert drill.ticket_from == "SOC analyst" and "SETD dashboard" in drill.ticket_text
    assert drill.lab.trickle is not None and drill.lab.trickle.every_s == 30
    assert drill.vars["good_intake"] == "${lab.default_intake}"
    (phase,) = drill.phases
    assert (phase.name, phase.session) == ("fault", "s1")
    assert phase.cli[0] == "tdcconfig enable ${bad_intake}"
    assert phase.traffic == (TrafficSpec(id="m1", kind="clean", to="bob@example.com",
                                         subject="drill nxdomain m1", line=phase.traffic[0].line),)
    assert [c.kind for c in phase.expect] == [
        "log", "sequence", "absent", "hoststatus", "tophosts", "dns", "sink", "setd",
        "findevent", "invariant"]
    absent = phase.expect[2]
    assert absent.watch_s == "${r} + 20" and len(absent.spec) == 2
    counters = phase.expect[3]
    assert counters.spec == "the.tdc.queue"
    assert counters.delta["DNS Hard Bounces"] == 1 and counters.equal == {"Active Recipients": 0}
    assert phase.expect[0].spoiler and phase.expect[0].line == line_of(
        TEXT, 'desc     = "the original message is accepted') - 1
    assert len(drill.hints) == 3 and len(drill.diagnosis) == 4
    assert drill.fix.cli[0] == "tdcconfig enable ${good_intake}"
    assert drill.solved is not None and drill.solved.traffic[0].id == "v1"
    by_shape = drill.solved.expect[2]
    assert (by_shape.kind, by_shape.shape, by_shape.fields) == ("log", "T-OK", {"jmid": "${vjmid}"})
    assert by_shape.spec.startswith("TDC: MID (?P<jmid>${vjmid}) successfully delivered")
    assert validate(drill) == []


def test_traffic_from_is_the_sender_and_faults_map_to_fault_specs() -> None:
    text = with_fault('id = "throttle"\n  target = "setd"\n  intake = "${lab.default_intake}"\n'
                      '  action = "reply"\n  stage = "rcpt"\n  code = 451\n  times = 1\n\n'
                      '  [[phase.fault]]\n  target = "dns"\n  action = "servfail"\n'
                      '  name = "${lab.default_domain}"\n  type = "MX"\n')
    m1 = '{ id = "m1", kind = "clean", to = "bob@example.com", subject = "drill nxdomain m1" }'
    text = text.replace(m1, '{ id = "m1", from = "carol@example.org", to = "bob@example.com", count = 2 }')
    drill = parse_drill(text, SOURCE)
    phase = drill.phases[0]
    assert phase.traffic[0].sender == "carol@example.org" and phase.traffic[0].count == 2
    assert phase.faults == (
        FaultSpec(id="throttle", target="setd", action="reply", intake="${lab.default_intake}",
                  stage="rcpt", code=451, times=1, line=line_of(text, 'id = "throttle"') - 1),
        FaultSpec(id="", target="dns", action="servfail", name="${lab.default_domain}", type="MX",
                  line=line_of(text, 'target = "dns"') - 1))


# -- bad files: the right problem, at the right line and field --------------------------------------
BAD = [
    pytest.param("difficulty = 1", "difficulty = = 1", "difficulty = = 1", "",
                 "TOML syntax error", id="syntax"),
    pytest.param("  within_s = 20\n", "  withins_s = 20\n", "withins_s = 20",
                 "solved.expect[2].withins_s", "unknown key 'withins_s' (did you mean 'within_s'?)",
                 id="unknown-key"),
    pytest.param('  invariant = "the.tdc.queue"\n', '  invariant = "the.tdc.queue"\n  log = "x"\n',
                 'desc      = "counters add up', "phase[1].expect[10]",  # (the line above)
                 "exactly one kind", id="two-check-kinds"),
    pytest.param('  invariant = "the.tdc.queue"\n', '  invariants = "the.tdc.queue"\n',
                 'invariants = "the.tdc.queue"', "phase[1].expect[10].invariants",
                 "unknown key 'invariants' (did you mean 'invariant'?)", id="unknown-check-kind"),
    pytest.param("'''DNS Error ${bad_domain} MX - NXDomain'''",
                 "'''DNS Error (${bad_domain} MX - NXDomain'''", "DNS Error (",
                 "phase[1].expect[2].sequence[2]", "regex does not compile: missing )",
                 id="bad-regex"),
    pytest.param("'''TDC: MID ${jmid} delivery failed", "'''TDC: MID ${jmidd} delivery failed",
                 "${jmidd}", "phase[1].expect[2].sequence[4]", "${jmidd} is not defined",
                 id="undefined-variable"),
    pytest.param('watch_s = "${r} + 20"', 'watch_s = "${r} + import(20)"', "import(20)",
                 "phase[1].expect[3].watch_s", "is not a formula", id="bad-formula"),
    pytest.param('findevent = { mid = "${jmid}"', 'findevent = { mid = "${v1.mid}"', "${v1.mid}",
                 "phase[1].expect[9].findevent.mid", "${v1.mid} is not defined",
                 id="solved-traffic-used-too-early"),
    pytest.param('category   = "dns"', 'category   = "dnss"', 'category   = "dnss"', "category",
                 "unknown category 'dnss'", id="category"),
    pytest.param("difficulty = 1", "difficulty = 4", "difficulty = 4", "difficulty",
                 "must be 1, 2 or 3", id="difficulty"),
    pytest.param("schema     = 1", "schema     = 2", "schema     = 2", "schema",
                 "schema 2 is not supported", id="schema"),
    pytest.param('bad_domain  = "beta.cmd.cisco.con"', 'bad_domain  = "${good_intake}"',
                 'bad_domain  = "${good_intake}"', "vars.bad_domain",
                 "${good_intake} is not defined: [vars] may use timers and lab.* values",
                 id="vars-use-vars"),
    pytest.param('  { id = "m1", kind = "clean"', '  { id = "m1", kind = "spam"', 'kind = "spam"',
                 "phase[1].traffic[1].kind", "unknown traffic kind 'spam'", id="traffic-kind"),
    pytest.param("  delta    = { hard_bounced = 1, delivered = 0, soft_bounced = 0 }\n"
                 "  equal    = { active = 0 }\n", "", 'desc     = "tophosts shows', "phase[1].expect[5]",
                 "a tophosts check needs 'delta' or 'equal'", id="counters-without-figures"),
    pytest.param('setd = { account = "${lab.default_intake}", delta =', 'setd = { delta =',
                 "setd = { delta =", "phase[1].expect[8].setd",
                 "a setd check with 'delta' needs 'account'", id="setd-delta-without-account"),
    pytest.param('  desc     = "tophosts shows', '  shape = "G-BNC-EXP"\n  desc     = "tophosts shows',
                 'shape = "G-BNC-EXP"', "phase[1].expect[5]", "exactly one kind",
                 id="shape-and-kind"),
]


@pytest.mark.parametrize(("old", "new", "marker", "field", "message"), BAD)
def test_a_bad_file_gives_the_right_problem(old: str, new: str, marker: str, field: str,
                                            message: str) -> None:
    text = mutate(old, new)
    found = problems(text)
    assert len(found) == 1, found
    (problem,) = found
    line = line_of(text, marker)
    if re.search(r"expect\[\d+\]$", field):  # a whole check: its [[phase.expect]] line
        line -= 1
    assert (problem.file, problem.line, problem.field) == (SOURCE, line, field)
    assert message in problem.message
    assert str(problem).startswith(f"{SOURCE}:{problem.line}: ")


def test_a_bad_fault_action_names_the_actions_there_are() -> None:
    text = with_fault('target = "setd"\n  intake = "${lab.default_intake}"\n  action = "explode"\n')
    (problem,) = problems(text)
    assert (problem.line, problem.field) == (line_of(text, 'action = "explode"'),
                                              "phase[1].fault[1].action")
    assert problem.message.startswith("unknown setd action 'explode' (one of: reply, hang,")


@pytest.mark.parametrize(("fault", "field", "message"), [
    ('target = "setd"\n  action = "reply"\n  stage = "rcpt"\n  code = 250\n  intake = "a@b.test"\n',
     "phase[1].fault[1].code",
     "needs a 4xx or 5xx 'code'"),
    ('target = "setd"\n  action = "untrusted_cert"\n  stage = "rcpt"\n  intake = "a@b.test"\n',
     "phase[1].fault[1].stage",
     "happens at starttls"),
    ('target = "dns"\n  action = "servfail"\n  stage = "rcpt"\n  name = "x.test"\n',
     "phase[1].fault[1].stage", "a dns fault takes no 'stage'"),
    ('target = "net"\n  action = "cut"\n', "phase[1].fault[1].target", "unknown target 'net'"),
    ('target = "setd"\n  action = "hang"\n', "phase[1].fault[1]", "a setd fault needs 'intake'"),
    ('target = "setd"\n  action = "slow"\n  intake = "${nobody}"\n  delay_s = 5\n',
     "phase[1].fault[1].intake", "${nobody} is not defined"),
])
def test_fault_rules(fault: str, field: str, message: str) -> None:
    text = with_fault(fault)
    (problem,) = problems(text)
    assert problem.field == field and message in problem.message


def test_the_id_must_be_the_file_name() -> None:
    (problem,) = problems(TEXT, Path("drills/other.toml"))
    assert (problem.line, problem.field) == (line_of(TEXT, 'id         = "dns'), "id")
    assert "is not the file's name" in problem.message


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    text = mutate("difficulty = 1", "difficulty = 7").replace("  within_s = 20\n",
                                                              "  withins_s = 20\n")
    found = problems(text)
    assert [p.field for p in found] == ["difficulty", "solved.expect[2].withins_s"]


def test_strict_lists_the_checks_that_only_warn() -> None:
    text = mutate('  desc      = "counters add up on the.tdc.queue"\n',
                  '  desc      = "counters add up on the.tdc.queue"\n  severity  = "warn"\n')
    drill = parse_drill(text, SOURCE)
    assert drill.phases[0].expect[-1].severity == "warn"
    (problem,) = problems(text, strict=True)
    assert (problem.field, problem.line) == ("phase[1].expect[10].severity",
                                             line_of(text, 'severity  = "warn"'))


def test_named_groups_bind_in_file_order_and_within_a_sequence() -> None:
    text = mutate("'''TDC: MID (?P<jmid>\\d+) with Message-ID '${m1.message_id}'",
                  "'''TDC: MID ${jmid} with Message-ID '${m1.message_id}'")
    found = problems(text)
    assert [p.field for p in found] == [
        "phase[1].expect[2].sequence[1]", "phase[1].expect[2].sequence[4]", "phase[1].expect[2].sequence[5]",
         "phase[1].expect[3].absent[1]", "phase[1].expect[3].absent[2]",
         "phase[1].expect[9].findevent.mid"]


def test_validate_takes_lines_from_the_file_of_a_loaded_drill(tmp_path: Path) -> None:
    drill = load_drill(EXAMPLE)
    broken = type(drill.phases[0].expect[0])(**{**drill.phases[0].expect[0].__dict__,
                                                "spec": "MID (?P<mid>"})
    assert isinstance(broken, Check)
    phase = drill.phases[0].__class__(**{**drill.phases[0].__dict__,
                                         "expect": (broken, *drill.phases[0].expect[1:])})
    bad = drill.__class__(**{**drill.__dict__, "phases": (phase,)})
    (problem,) = validate(bad)
    assert (problem.field, problem.line) == ("phase[1].expect[1].log",
                                             line_of(TEXT, "log      = '''MID (?P<mid>"))


def test_files_over_one_mib_are_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (MAX_BYTES + 1))
    with pytest.raises(DrillFileError, match="larger than 1 MiB"):
        load_drill(big)


def test_a_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(DrillFileError, match="cannot read"):
        load_drill(tmp_path / "none.toml")
