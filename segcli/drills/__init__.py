"""Troubleshooting drills: self-checking TDC failures for trainees, trainers and CI.

A drill file (TOML, schema 1) poses one failure, checks that it shows as it should, applies
the documented fix and proves it.  The rooms, lowest first:

- :mod:`segcli.drills.model`: the drill file as data (frozen dataclasses; no I/O).
- :mod:`segcli.drills.loader`: TOML to model, every problem named with file, line and field;
  :mod:`segcli.drills.expressions`: ``${name}`` values and timer formulas.
- :mod:`segcli.drills.catalogue`: where drills are found (shipped, per user, ``--path``).
- :mod:`segcli.drills.lab`: a fresh lab for one drill; :mod:`segcli.drills.checks`: the
  check kinds; :mod:`segcli.drills.runner`: phases in order; :mod:`segcli.drills.report`.
- :mod:`segcli.drills.handson`: ``drill start`` and the commands that talk to it.
- :mod:`segcli.drills.cli`: the ``segcli drill`` command line.

Drills use the lab (:mod:`segcli.lab`) and the command engine; nothing below imports them.
"""
