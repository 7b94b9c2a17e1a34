"""The secretaries' web console under /console: server-rendered pages (Jinja2) over the same bot.domain
functions and the same bot.domain.policy as the chat. `app.console_app` builds the sub-application."""
