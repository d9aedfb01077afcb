"""The notifier: notices stored for their recipients and delivered through channels.

Modules: `models` (the notice and its deliveries), `channels` (in-app, e-mail over SMTP, an SMS
gateway, behind one interface), `service` (`notify`, the one entry point other packages call,
and what a recipient does with their notices), `tasks` (the delivery job), `api` and `pages`.
"""
