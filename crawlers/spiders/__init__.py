"""One spider per source type: feed, html, json_api, and the weibo and tieba adapters.

File, class and name agree (`feed.py`, `FeedSpider`, `name = "feed"`); the source is a spider
argument: `scrapy crawl feed -a source=demo-news`.
"""
