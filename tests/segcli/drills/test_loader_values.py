"""What the loader accepts as values: the lab's addresses (``${lab.sink}``, ``${lab.dns}``,
``${lab.blackhole}`` once a black hole is armed), text figures of ``hoststatus``, the bare
values of a DNS ``records`` fault, and the two servers a ``dns`` check can count."""

from __future__ import annotations

from pathlib import Path

import pytest

from segcli.drills.loader import DrillFileError, Problem, parse_drill, record_value_problem

SOURCE = Path("drills/values-test.toml")
HEAD = '''schema = 1
id = "values-test"
title = "values"
category = "dns"
[ticket]
text = "-"
'''
BLACKHOLE = '''
  [[phase.fault]]
  id = "hole"
  target = "lab"
  action = "dns_blackhole"
'''


def drill_text(*phases: str, fix: str = "") -> str:
    """A drill of *phases* (each the body of a ``[[phase]]`` after its name)."""
    body = "".join(f'\n[[phase]]\nname = "p{n}"\n{p}' for n, p in enumerate(phases, 1))
    return HEAD + body + (f"\n[fix]\n{fix}\n" if fix else "")


def problems(text: str) -> list[Problem]:
    with pytest.raises(DrillFileError) as caught:
        parse_drill(text, SOURCE)
    return caught.value.problems


def check(kind_line: str) -> str:
    return f'\n  [[phase.expect]]\n  desc = "a check"\n  {kind_line}\n'


# -- the lab's addresses -------------------------------------------------------------------------
def test_the_sink_and_the_lab_zone_are_lab_values_everywhere() -> None:
    text = drill_text('cli = ["smtproutes new example.com ${lab.sink}", '
                      '"dnsconfig servers ${lab.dns}", "telnet 127.0.0.1 ${lab.sink_port}"]\n',
                      fix='cli = ["dnsconfig servers ${lab.dns}"]')
    drill = parse_drill(text, SOURCE)
    assert drill.phases[0].cli[0] == "smtproutes new example.com ${lab.sink}"


def test_the_black_hole_exists_from_the_checks_of_the_phase_that_arms_it() -> None:
    text = drill_text(BLACKHOLE + check('config = { command = "dnsconfig print", '
                                        'lacks = ["${lab.blackhole}"] }'),
                      'cli = ["dnsconfig servers ${lab.blackhole}", "commit"]\n',
                      fix='cli = ["dnsconfig servers ${lab.dns}", "commit"]')
    drill = parse_drill(text, SOURCE)
    assert drill.phases[0].faults[0].action == "dns_blackhole"
    assert drill.phases[1].cli[0] == "dnsconfig servers ${lab.blackhole}"


@pytest.mark.parametrize(("phases", "field"), [
    pytest.param(('cli = ["dnsconfig servers ${lab.blackhole}"]\n',), "phase[1].cli[1]",
                 id="never-armed"),
    pytest.param(('cli = ["dnsconfig servers ${lab.blackhole}"]\n' + BLACKHOLE,),
                 "phase[1].cli[1]", id="own-commands-run-before-its-faults"),
    pytest.param(('cli = ["dnsconfig servers ${lab.dns}"]\n' + BLACKHOLE.replace(
        "dns_blackhole", "hang").replace('"lab"', '"setd"') + '  intake = "a@b.test"\n',
                  'cli = ["dnsconfig servers ${lab.blackhole}"]\n'), "phase[2].cli[1]",
                 id="another-fault"),
])
def test_the_black_hole_is_refused_where_no_phase_has_armed_it(phases: tuple[str, ...],
                                                              field: str) -> None:
    (problem,) = problems(drill_text(*phases))
    assert problem.field == field
    assert problem.message.startswith("${lab.blackhole} is not defined: the DNS black hole's "
                                      "address exists once a phase arms a lab dns_blackhole")


def test_an_unknown_lab_value_lists_the_new_ones() -> None:
    (problem,) = problems(drill_text('cli = ["telnet ${lab.sink_addr}"]\n'))
    assert "lab.sink_port, lab.sink, lab.dns" in problem.message


# -- hoststatus figures that are text -------------------------------------------------------------
def test_host_up_down_is_compared_as_text_in_equal() -> None:
    text = drill_text(check('hoststatus = "the.tdc.queue"\n  equal = { "Host up/down" = "down", '
                            '"Active Recipients" = 0 }'))
    (phase,) = parse_drill(text, SOURCE).phases
    assert phase.expect[0].equal == {"Host up/down": "down", "Active Recipients": 0}


@pytest.mark.parametrize(("figures", "field", "message"), [
    ('equal = { "Host up/down" = "sideways" }', "equal.Host up/down",
     "'Host up/down' is 'up' or 'down', not 'sideways'"),
    ('delta = { "Host up/down" = "up" }', "delta.Host up/down",
     "'Host up/down' is text (up or down): it has no delta"),
    ('equal = { "Active Recipients" = "none" }', "equal.Active Recipients",
     "'none': only numbers"),
])
def test_text_figures_take_only_their_words_and_numbers_stay_formulas(
        figures: str, field: str, message: str) -> None:
    (problem,) = problems(drill_text(check(f'hoststatus = "the.tdc.queue"\n  {figures}')))
    assert problem.field == f"phase[1].expect[1].{field}"
    assert message in problem.message


# -- DNS records faults: bare values of the fault's type -------------------------------------------
def records_fault(rdtype: str, *values: str) -> str:
    quoted = ", ".join(f'"{v}"' for v in values)
    type_line = f'  type = "{rdtype}"\n' if rdtype else ""
    return drill_text(f'\n  [[phase.fault]]\n  target = "dns"\n  action = "records"\n'
                      f'  name = "x.test"\n{type_line}  records = [{quoted}]\n')


def test_bare_values_of_the_fault_type_load() -> None:
    for rdtype, values in (("A", ("127.0.0.1", "192.0.2.7")), ("AAAA", ("::1",)),
                           ("MX", ("10 mx1.x.test", "20 mx2.x.test.")), ("A", ("${lab.dns}",))):
        (fault,) = parse_drill(records_fault(rdtype, *values), SOURCE).phases[0].faults
        assert (fault.type, fault.records) == (rdtype, values)


@pytest.mark.parametrize(("rdtype", "value", "field", "message"), [
    ("A", "MX 10 mx1.x.test", "records[1]", "is not an IPv4 address"),
    ("A", "::1", "records[1]", "is not an IPv4 address"),
    ("AAAA", "127.0.0.1", "records[1]", "is not an IPv6 address"),
    ("MX", "MX 10 mx1.x.test", "records[1]", "is not 'preference host'"),
    ("MX", "mx1.x.test", "records[1]", "is not 'preference host'"),
    ("MX", "70000 mx1.x.test", "records[1]", "is not 'preference host'"),
    ("MX", "10 bad host", "records[1]", "is not 'preference host'"),
    ("", "127.0.0.1", "type", "a records fault needs the 'type' of its records (A, AAAA, MX)"),
    ("TXT", "hello", "type", "a records fault needs the 'type'"),
])
def test_a_records_value_that_does_not_fit_its_type_is_refused(
        rdtype: str, value: str, field: str, message: str) -> None:
    (problem,) = problems(records_fault(rdtype, value))
    assert problem.field == f"phase[1].fault[1].{field}"
    assert message in problem.message


def test_record_value_problem_names_the_bare_form() -> None:
    assert record_value_problem("MX", "0 mx.example.test") is None
    assert "its 'type' says they are A" in str(record_value_problem("A", "A 127.0.0.1"))


# -- dns checks: the lab zone or the black hole ----------------------------------------------------
def test_a_dns_check_counts_the_zone_by_name_or_the_black_hole_by_datagrams() -> None:
    text = drill_text(BLACKHOLE + check('dns = { name = "x.test", count = 0 }')
                      + check('dns = { server = "blackhole", count = 2 }'))
    zone, hole = parse_drill(text, SOURCE).phases[0].expect
    assert (zone.spec, hole.spec) == ({"name": "x.test", "count": 0},
                                      {"server": "blackhole", "count": 2})


@pytest.mark.parametrize(("spec", "field", "message"), [
    ('{ server = "blackhole", name = "x.test", count = 1 }', ".name",
     "the black hole reads no names: it takes no 'name'"),
    ('{ server = "resolver", count = 1 }', ".server",
     "unknown DNS server 'resolver' (one of: zone, blackhole)"),
    ('{ server = "zone", count = 1 }', "", "a dns check of the lab zone needs a 'name'"),
    ('{ count = 1 }', "", "a dns check of the lab zone needs a 'name'"),
])
def test_a_dns_check_that_mixes_them_up_is_refused(spec: str, field: str, message: str) -> None:
    (problem,) = problems(drill_text(check(f"dns = {spec}")))
    assert problem.field == f"phase[1].expect[1].dns{field}"
    assert message in problem.message
