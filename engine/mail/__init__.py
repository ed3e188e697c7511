"""The mail flow: the listener's handler (:mod:`.listener`), the work queue with its
policies, splits and verdicts (:mod:`.work_queue`, :mod:`.verdicts`), ordinary delivery
(:mod:`.delivery`), ``the.tdc.queue`` (:mod:`.tdc_queue`) with its journal copies
(:mod:`.journal`), bounce messages, big bodies' spool files (:mod:`.spooling`), and
:class:`.mail_engine.MailEngine` wiring them.

Imports every other engine package; only :mod:`engine.appliance` imports it.
"""
