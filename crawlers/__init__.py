"""Crawlers: polite, incremental Scrapy crawling of the sources listed in `sources.yaml`.

Flow of one crawl (one process per crawl: the Twisted reactor cannot restart):

    sources.yaml -> spider (feed, html, json_api; weibo, tieba adapters) -> PostItem
        -> NormalizePipeline (HTML -> text, dates, counts; `ingest.posts.build_post`)
        -> DedupPipeline (fingerprints; an id seen twice in the run is a duplicate)
        -> StorePipeline (known ids are duplicates; near-duplicates get `dup_of`; batched
           writes in a worker thread; a page's checkpoint is saved after its posts)
    spider closed -> SourceRun stats, coverage-gap / credentials alerts (`crawlers.health`)

Modules: `sources` / `source_types` (the sources file), `credentials`, `normalize`, `feeds`,
`dedup`, `health`, `middlewares` (backoff retries honouring Retry-After, auth guard),
`hosts` / `hostguard` (the SSRF guard: a source's hosts, internal addresses, credential scope),
`pipelines`, `extensions` (run stats), `spiders/`, `run` (in-process and subprocess crawls),
`schedule` (`tingfeng run` jobs), `cli`, `bench`, `fixtures/` (the local fixture site).

Errors (`crawlers.errors`):

    CrawlerError               base of everything below
    ├── SourceConfigError      sources.yaml is unreadable or invalid; names file, source, field
    ├── UnknownSource          no source with that name in the sources file
    └── CredentialsError       credentials setting/file unreadable or missing a named entry

Nothing here connects, reads settings or imports Scrapy at import time.
"""
