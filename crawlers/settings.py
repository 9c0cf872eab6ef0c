"""Scrapy project settings (static; per-source limits are applied by each spider from
sources.yaml, and the operator's User-Agent from Tingfeng settings, when a crawl starts)."""

BOT_NAME = "tingfeng"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

# Politeness (defaults; each source's `politeness` block overrides them)
ROBOTSTXT_OBEY = True
ROBOTSTXT_USER_AGENT = "tingfeng"
USER_AGENT = "Mozilla/5.0 (compatible; Tingfeng/0.1)"
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 2.0
DOWNLOAD_DELAY_JITTER = 0.5  # ±50% around DOWNLOAD_DELAY
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 2.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 5 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
REDIRECT_MAX_TIMES = 5
DOWNLOAD_VERIFY_CERTIFICATES = True  # a source may opt out (verify_tls: false, logged)
METAREFRESH_MAXDELAY = 5

# Retries with backoff, honouring Retry-After (crawlers.middlewares.BackoffRetryMiddleware)
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
RETRY_BACKOFF_BASE = 1.0
RETRY_BACKOFF_MAX = 60.0
RETRY_AFTER_MAX = 120.0
RETRY_GIVE_UP_LOG_LEVEL = "WARNING"

DOWNLOADER_MIDDLEWARES = {
    "crawlers.hostguard.HostGuardMiddleware": 40,  # before offsite (50) and robots.txt (100)
    "crawlers.hostguard.CredentialScopeMiddleware": 760,  # after cookies (700)
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.BackoffRetryMiddleware": 550,
    "crawlers.middlewares.AuthGuardMiddleware": 650,
}
ITEM_PIPELINES = {
    "crawlers.pipelines.NormalizePipeline": 100,
    "crawlers.pipelines.DedupPipeline": 200,
    "crawlers.pipelines.StorePipeline": 300,
}
EXTENSIONS = {
    "crawlers.extensions.RunHealthExtension": 500,
    "scrapy.extensions.telnet.TelnetConsole": None,
}
TINGFENG_STORE_BATCH = 200
TINGFENG_CHECKPOINT_WAIT = 1.0  # seconds a page's checkpoint waits for the next batch write

REMOTE_CONTROL_ENABLED = False  # no control port per crawl
COOKIES_DEBUG = False  # never log credentials
DEFAULT_DROPITEM_LOG_LEVEL = "INFO"
LOG_FORMATTER = "crawlers.logformat.PrivateLogFormatter"  # items by source/id/URL, no author id
STATS_DUMP = False  # the run-health extension logs one summary line per source
LOG_LEVEL = "INFO"
STATS_DUMP = False  # the run-health extension logs one summary line per source
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
