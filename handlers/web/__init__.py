"""The web: a third channel over the same services, served by the same aiohttp server as the
KakaoTalk skill. The staff console (signed in with one-time links from chat) and the public
pages (campaign, cases, results, receipts). Server-rendered HTML (Jinja2 templates), one
small stylesheet, and pages that work without JavaScript."""

CHANNEL = "web"
