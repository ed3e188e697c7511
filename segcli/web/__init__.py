"""The appliance's web interface (twisted.web): the AsyncOS XML status pages (:mod:`.xml_status`)."""
