"""The appliance's web interface (AsyncOS 15.5's GUI for the TDC path), over HTTPS.

Served by the appliance process with twisted.web (:mod:`segcli.web.server`), pages rendered
by Jinja2 with autoescaping (``templates/``), a little JavaScript served by the appliance
itself (``static/``).  The pieces:

- :mod:`segcli.web.server` -- the HTTPS listener (the appliance's certificate, as the SMTP
  listener's STARTTLS) and the plain-HTTP listener that only redirects to it.
- :mod:`segcli.web.sessions` -- logged-in sessions: a server-side table keyed by a random
  token in a ``Secure; HttpOnly; SameSite=Strict`` cookie, a CSRF token per session, the
  session's own pending changes (the CLI's commit model), expiry after inactivity.
- :mod:`segcli.web.app` -- routing, log in / log out, the CSRF and role checks every POST
  goes through, and :class:`~segcli.web.app.PageContext`, what a page handler gets.
- :mod:`segcli.web.pages` -- the pages; each module registers its routes when imported.
- :mod:`segcli.web.xml_status` -- the AsyncOS XML status pages at ``/xml`` (HTTP Basic
  authentication, for monitoring tools).

How to add a page
-----------------

1. Write a module in ``segcli/web/pages/`` (say ``reporting.py``) and add its name to
   ``PAGE_MODULES`` in ``segcli/web/pages/__init__.py``.
2. Register its routes with the decorators of :mod:`segcli.web.app`::

       from segcli.web.app import PageContext, Response, action, page

       @page("/reporting/delivery", menu="Reporting", title="Delivery Status")
       async def delivery_status(ctx: PageContext) -> Response:
           rows = ...  # read ctx.appliance (counters, mail engine) or ctx.config
           return ctx.render("delivery_status.html", rows=rows)

       @action("/reporting/delivery/something")      # a POST (a form's target)
       async def do_something(ctx: PageContext) -> Response:
           value = ctx.form("field")                   # str, "" when absent
           error = ctx.record(SomeChange(...))         # None, or the appliance's message
           if error:
               return ctx.render("x.html", errors={"field": error})
           return ctx.redirect("/reporting/delivery")

   ``menu``/``title`` put the page in the menu bar (omit them for pages reached by links,
   e.g. a policy's or a host's details).  ``@page`` handles GET (and HEAD); ``@action``
   handles POST.  Query arguments: ``ctx.arg("hostname")``.  A handler returns
   ``ctx.render(...)`` (HTML), ``ctx.redirect(path)``, or ``ctx.json(data)`` (for the
   page's own JavaScript refreshing itself: ``fetch("/path?format=json")``; GET only).
3. Write its template in ``segcli/web/templates/`` extending the layout::

       {% extends "layout.html" %}
       {% block content %}
         <h1>Delivery Status</h1>
         <form method="post" action="/reporting/delivery/something">
           {{ csrf_field() }}
           <input name="field" value="{{ value }}">
           {% if errors.field %}<span class="error">{{ errors.field }}</span>{% endif %}
         </form>
       {% endblock %}

   Everything is autoescaped: never mark user text ``|safe``.  Every form posts
   ``{{ csrf_field() }}`` (the session's CSRF token); a POST without it is refused
   before any handler runs.  Page scripts: put ``x.js`` in ``static/`` and
   ``{% block scripts %}<script src="/static/x.js"></script>{% endblock %}``
   (nothing from the internet).

What a handler gets (:class:`~segcli.web.app.PageContext`): ``ctx.user`` (the logged-in
name), ``ctx.role`` (:class:`engine.store.users.Role`), ``ctx.can_change`` (the role may
change the configuration), ``ctx.appliance`` (:class:`engine.appliance.Appliance`),
``ctx.config`` (the configuration as this session sees it: running plus its pending
changes), ``ctx.session`` (:class:`~segcli.web.sessions.WebSession`: ``csrf_token``,
``pending``), ``ctx.request`` (the twisted.web request).  Every page requires a logged-in
session; every ``@action`` is refused (403) for a role that may not change the
configuration, unless registered with ``@action(path, changes_config=False)`` (e.g. a
search form that only reads).  Templates get ``user``, ``role``, ``can_change``,
``pending`` (the session has uncommitted changes), ``menu``, ``current`` (this page's
path), ``csrf_token`` and ``csrf_field()``.
"""
