"""The web application: assembles routers, sessions, pages, static files and translations."""
