"""One module per capability, each exporting `router()`; bot.app.build_root_router orders them."""
