"""Discord front end (discord.py 2): cogs per feature; built by the chat front-end issue."""
