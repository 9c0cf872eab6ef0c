"""Source signatures: the parts of a post that tell which outlet or collection it came from
rather than what it claims.

Measured on the cross-source protocol (`nlp evaluate --protocol cross-source`): a model that
can read these learns each dataset's style (CHECKED's non-rumors are all People's Daily posts
with a 【headline】 and a (人民日报记者...) sign-off). `strip_signatures` removes them from
already-normalized text (URLs and @names are removed by `analysis.text.normalize`):

- a leading bracketed header 【...】 (its words are kept, the brackets and position are not:
  the header is often the claim itself);
- 转发微博 / 轉發微博 / repost chains `//:`;
- #hashtag# markers (the words are kept);
- a trailing sign-off in parentheses naming a reporter, editor or source: (记者...), (来源...);
- 网页链接 / 全文 / 展开全文 / 原图 link stubs.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*[【\[]([^】\]]{1,80})[】\]]")
_REPOST = re.compile(r"转发微博|轉發微博|//\s*:|//")
_HASH = re.compile(r"#([^#]{1,40})#")
_SIGNOFF = re.compile(
    r"[(（][^()（）]{0,30}(记者|编辑|来源|责编|通讯员|摄影|via|综合)[^()（）]{0,30}[)）]\s*$"
)
_STUBS = re.compile(r"网页链接|展开全文|全文|原图|o网页链接|\.{3}全文")
_SPACES = re.compile(r"\s+")


def strip_signatures(text: str) -> str:
    """`text` (normalized) without source signatures; the claim's words stay."""
    text = _HEADER.sub(r"\1 ", text)
    text = _REPOST.sub(" ", text)
    text = _HASH.sub(r"\1 ", text)
    text = _STUBS.sub(" ", text)
    text = _SIGNOFF.sub(" ", text)
    return _SPACES.sub(" ", text).strip()
