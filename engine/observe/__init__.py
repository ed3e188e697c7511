"""What operators watch: live counters per destination (:mod:`.counters`, the rows of
``tophosts`` and ``hoststatus``) and their stored totals, event rates, ``status``
figures (:mod:`.stats`), the mail log (:mod:`.mail_log`) with every line it may hold
(:mod:`.log_lines`), reading log files back, and message tracking.

Imports ``engine.store`` (and what it imports); the mail flow writes here, never the
other way round.
"""
