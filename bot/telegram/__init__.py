"""Telegram front end (aiogram 3): routers per feature; built by the chat front-end issue."""
