"""Commit Changes: this session's pending changes, a comment, Commit or Abandon Changes.
The commit is the CLI's (:meth:`engine.appliance.Appliance.commit`): the new version
reaches every CLI session and every other browser at once."""

from __future__ import annotations

from commands.session import PendingChanges
from engine.config.model import ConfigError
from segcli.web.app import PageContext, Response, action, page

PATH = "/commit"
TITLE = "Uncommitted Changes"


def _page(ctx: PageContext, *, comment: str = "", errors: dict[str, str] | None = None,
          committed: str = "", status: int = 200) -> Response:
    changes = [change.describe() for change in ctx.session.pending.changes]
    return ctx.render("commit.html", status=status, title=TITLE, changes=changes,
                      comment=comment, errors=errors or {}, committed=committed)


@page(PATH)
async def review(ctx: PageContext) -> Response:
    return _page(ctx)


@action(PATH)
async def commit(ctx: PageContext) -> Response:
    session = ctx.session
    if ctx.form("do") == "abandon":
        session.pending = PendingChanges(ctx.appliance.running)
        return _page(ctx, committed="Your changes have been abandoned.")
    comment = ctx.form("comment")
    if not session.pending:
        return _page(ctx)
    try:
        version = await ctx.appliance.commit(session.pending.changes, user=session.user,
                                             comment=comment, rollback=True)
    except ConfigError as exc:
        return _page(ctx, comment=comment, status=400,
                     errors={"comment": f"Commit failed: {exc} Your changes are still pending."})
    session.pending = PendingChanges(version)
    return _page(ctx, committed="Your changes have been committed.")
