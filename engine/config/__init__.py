"""The appliance configuration: one typed tree (:mod:`.model`), the printable-text rule
every string obeys (:mod:`.text`), the rules for single values (:mod:`.values`,
:mod:`.addresses`), replayable change records (:mod:`.changes`),
the XML document ``showconfig``/``loadconfig`` use (:mod:`.xml_document`) and the
configuration directory (:mod:`.files`).

The bottom of the engine: imports nothing else of ``engine``.
"""
