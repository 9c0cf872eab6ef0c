"""A tiny, hand-written stand-in for the shared datasets (same folder and field layout), so CI
can run train -> evaluate -> model card end to end in seconds. No row comes from a real set."""

from __future__ import annotations

import json
from pathlib import Path

RUMOR = [
    "紧急扩散！明天起全市停水三天，赶紧囤水，转给家人",
    "重大消息！喝板蓝根可以预防病毒，速转",
    "惊爆：某超市的鸡蛋是人造的，千万别买，转疯了",
    "速看！吃大蒜能杀死病毒，赶紧告诉家里老人",
    "紧急通知：今晚飞机撒药消毒，请关好门窗，速转",
    "震惊！某品牌奶粉含有毒物质，已致多名婴儿死亡，扩散",
    "转疯了！明天全城封路，超市将全部关门，赶紧抢购",
    "千万别吃香蕉，香蕉里有病毒，速转给亲友",
    "内部消息：银行明天全部停业，赶紧取钱，扩散",
    "惊爆内幕：自来水里加了药，喝了会生病，转给所有人",
]
NON_RUMOR = [
    "市气象台发布天气预报：明天多云转晴，气温回升",
    "今天上午，市政府召开新闻发布会，介绍城市建设进展",
    "市图书馆周末开放时间调整为上午九点至下午五点",
    "本市新开通两条公交线路，方便市民出行",
    "教育局公布今年中考时间安排，考生请注意查看",
    "市卫健委提醒：秋冬季注意预防流感，及时接种疫苗",
    "市交通局：地铁三号线今日起延长运营时间",
    "统计局发布数据：上季度本市经济平稳增长",
    "区文化馆举办书法展览，免费向市民开放",
    "市环保局通报本周空气质量总体良好",
]
EMOTION = {
    "happy": [
        "今天太开心了，终于考上了！",
        "好幸福啊，和家人一起过年",
        "哈哈哈太好笑了，开心",
        "收到礼物好开心，谢谢大家",
        "赢了比赛，超级开心",
    ],
    "angry": [
        "气死我了，这服务太差了！",
        "太过分了，简直无法忍受，愤怒",
        "气炸了，又被插队了",
        "凭什么这样对待我们，太气人了",
        "愤怒！骗子太可恶了",
    ],
    "sad": [
        "好难过，奶奶去世了",
        "心里好难受，想哭",
        "伤心，失恋了",
        "难过得睡不着，泪流满面",
        "太悲伤了，再也见不到了",
    ],
    "fear": [
        "好害怕，晚上一个人不敢出门",
        "吓死我了，地震了，好恐怖",
        "担心得要命，好害怕被感染",
        "恐惧，外面太危险了",
        "好怕，心跳得厉害",
    ],
    "surprise": [
        "什么？居然是他！太意外了",
        "天哪，竟然中奖了，没想到",
        "震惊，这也可以？",
        "万万没想到居然这样",
        "哇，好惊讶，竟然下雪了",
    ],
    "neutral": [
        "明天上午九点开会",
        "这本书一共有十章",
        "下午去超市买东西",
        "公交车每十分钟一班",
        "会议改到三楼会议室",
    ],
}


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def write_tiny_datasets(root: Path) -> Path:
    """Write the tiny dataset tree under `root` and return it."""
    posts = [(t, "rumor") for t in RUMOR] + [(t, "non-rumor") for t in NON_RUMOR]
    ced, ma, checked, ced_reposts, ma_reposts = [], [], [], [], []
    for i, (text, label) in enumerate(posts):
        variant = f"{text}（{i}）"
        ced.append({"id": f"c{i}", "text": variant, "label": label, "reposts_count": i})
        ma.append({"id": f"m{i}", "text": variant + "。", "label": label, "reposts_count": i})
        checked.append(
            {
                "id": f"k{i}",
                "text": "新冠" + variant,
                "label": "fake" if label == "rumor" else "real",
            }
        )
        reply = "真的假的？" if label == "rumor" else "知道了"
        for r in range(2):
            ced_reposts.append({"id": f"c{i}_r{r}", "source_id": f"c{i}", "rank": r, "text": reply})
            ma_reposts.append({"id": f"m{i}_r{r}", "event_id": f"m{i}", "rank": r, "text": reply})
    _write(root / "ced_weibo_rumor" / "posts.jsonl", ced)
    _write(root / "ced_weibo_rumor" / "reposts_first10.jsonl", ced_reposts)
    _write(root / "ma2016_weibo_rumor" / "events.jsonl", ma)
    _write(root / "ma2016_weibo_rumor" / "reposts_first10.jsonl", ma_reposts)
    _write(root / "checked_covid_weibo" / "posts.jsonl", checked)
    smp, nlpcc, clue = [], [], []
    nlpcc_names = {
        "happy": "optimism",
        "angry": "anger",
        "sad": "sadness",
        "fear": "fear",
        "surprise": "surprise",
    }
    clue_names = {
        "happy": "happiness",
        "angry": "anger",
        "sad": "sadness",
        "fear": "fear",
        "surprise": "surprise",
    }
    for label, texts in EMOTION.items():
        for i, text in enumerate(texts):
            for k in range(3):
                smp.append(
                    {"id": f"s{label}{i}{k}", "text": f"{text}{'！' * k}{k}", "label": label}
                )
            if label in nlpcc_names:
                nlpcc.append(
                    {"id": f"n{label}{i}", "text": text + "~", "label": nlpcc_names[label]}
                )
                clue.append({"id": f"l{label}{i}", "text": text + "…", "label": clue_names[label]})
    nlpcc.append({"id": "n-disgust", "text": "真恶心", "label": "disgust"})
    _write(root / "smp2020_ewect_usual" / "train.jsonl", smp)
    _write(root / "nlpcc2020_covid_weibo_emotion" / "labeled.jsonl", nlpcc)
    _write(root / "cluemotion2020_weibo_emotion" / "valid.jsonl", clue[: len(clue) // 2])
    _write(root / "cluemotion2020_weibo_emotion" / "test.jsonl", clue[len(clue) // 2 :])
    osm = [{"id": f"o{i}", "text": t, "label": "positive"} for i, t in enumerate(EMOTION["happy"])]
    osm += [{"id": f"o-{i}", "text": t, "label": "anger"} for i, t in enumerate(EMOTION["angry"])]
    _write(root / "osm2022_weibo_social_movement_sentiment" / "train.jsonl", osm)
    _write(root / "osm2022_weibo_social_movement_sentiment" / "test.jsonl", [])
    # fact-check claims (short titles) and unlabeled epidemic posts
    claims = [(t[:14] + "？", "false") for t in RUMOR] + [(t[:14], "true") for t in NON_RUMOR]
    _write(
        root / "piyao_org_cn_titles" / "titles.jsonl",
        [
            {"id": f"p{i}", "text": t, "label": "谣言" if v == "false" else "事实"}
            for i, (t, v) in enumerate(claims[::2])
        ],
    )
    _write(
        root / "tencent_jiaozhen_covid_factcheck" / "claims.jsonl",
        [{"id": f"j{i}", "text": "较真" + t, "label": v} for i, (t, v) in enumerate(claims[1::2])],
    )
    _write(
        root / "dxy_covid_rumor_debunks" / "claims.jsonl",
        [{"id": f"d{i}", "text": "丁香" + t, "label": v} for i, (t, v) in enumerate(claims[:6])],
    )
    _write(
        root / "cofacts_early_2017_rumor_answers" / "pairs.jsonl",
        [{"id": f"f{i}", "text": "轉發：" + t, "label": "rumor"} for i, t in enumerate(RUMOR[:4])],
    )
    unlabeled = [t + "，疫情期间" for texts in EMOTION.values() for t in texts]
    _write(
        root / "covid_weibo_hashtag_topics" / "posts_sample.jsonl",
        [{"id": f"u{i}", "text": f"#疫情#{t}"} for i, t in enumerate(unlabeled)],
    )
    return root
