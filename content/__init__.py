"""User-facing data (Simplified Chinese texts, menus, intents, the jieba user dictionary).

No code lives here; bot.content loads these files.
"""
