"""The terminals of the command engine: the interactive renderer (prompt_toolkit, for a
person), the plain renderer (literal AsyncOS prompts, for scripts and SSH exec) and the
pager.  Each implements :class:`commands.io.Terminal`; imports ``commands`` and ``engine``,
never ``segcli.ssh`` (SSH channels use these renderers, not the other way round).
"""
