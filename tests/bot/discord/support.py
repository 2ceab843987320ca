"""Helpers for driving the Discord front end in tests (also used by the parity and
group-safety tests)."""

from __future__ import annotations

from bot.discord.bot import RigshareBot


def cog_command(bot: RigshareBot, name: str):
    """The slash command ``name`` as registered on the bot's command tree."""
    command = bot.tree.get_command(name)
    assert command is not None, f"/{name} is not registered"
    return command


async def slash(bot: RigshareBot, name: str, interaction, **options):
    """Run a slash command's callback the way the tree does: with its cog bound, if any
    (the registry's commands have none; /board lives in a cog)."""
    command = cog_command(bot, name)
    assert set(options) <= {p.name for p in command.parameters}, f"/{name} has no {options}"
    if command.binding is None:
        await command.callback(interaction, **options)
    else:
        await command.callback(command.binding, interaction, **options)
    return interaction


async def principal_of(bot: RigshareBot, user) -> object:
    """The rigshare user behind a fake Discord user (created like a first command would)."""
    return await bot.app.users.identify(
        "discord", str(user.id), user.display_name, chat_id=str(user.id)
    )


async def with_wallet(bot: RigshareBot, user) -> object:
    """The Discord user, with its development wallet linked where linking is a step."""
    who = await principal_of(bot, user)
    try:
        from tests.support import link_wallet
    except ImportError:  # wallets that are connected from the start
        return who
    await link_wallet(bot.app, who)
    return who


async def approve_all(app) -> None:
    """The renter approves every pending wallet request; wait for the effects."""
    await app.settle()
    for request_id in list(app.wallet.pending):
        await app.wallet.approve(request_id)
    await app.settle()


def dm_texts(transcript, user) -> list[str]:
    return [
        v.content or ""
        for m in transcript.messages
        if m.audience == "dm" and m.user_id == user.id
        for v in m.versions[-1:]
    ]
