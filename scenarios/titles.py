"""Titles and one-line descriptions of the shipped scenarios for the picker, in Chinese and
English (the scenario files' own descriptions are English data notes)."""

from __future__ import annotations

SAMPLE_ZH = "示例城市（合成数据，仿渝中半岛）"
SAMPLE_EN = "Sample city (synthetic, Yuzhong-like)"

TITLES: dict[str, tuple[str, str, str, str]] = {
    # name: (中文标题, 中文说明, English title, English description)
    "yuzhong-baseline": ("基准方案", "预算3000万元，按步行路网计算：口袋公园300米、老年食堂500米、托育点300米。",
                         "Baseline", "30 M CNY, walking distances: parks 300 m, canteens 500 m, "
                                     "childcare 300 m."),
    "yuzhong-budget-15m": ("预算减半", "基准方案，预算1500万元。", "Half budget",
                           "The baseline with 15 M CNY."),
    "yuzhong-budget-60m": ("预算翻倍", "基准方案，预算6000万元。", "Double budget",
                           "The baseline with 60 M CNY."),
    "yuzhong-balanced": ("均衡投入", "口袋公园最多用60%的预算，给托育点留出资金。", "Balanced",
                         "Parks capped at 60 % of the budget, leaving money for childcare."),
    "yuzhong-elderly-first": ("老年优先", "老年食堂权重提高到3。", "Elderly first",
                              "Canteen weight 3."),
    "yuzhong-circles-5-10-15": ("5-10-15分钟生活圈", "按《城市居住区规划设计标准》GB 50180-2018的步行圈设定服务半径。",
                                "5-10-15-minute circles",
                                "Radii from the walking circles of GB 50180-2018."),
    "yuzhong-euclidean": ("直线距离对照", "不用路网，按直线距离计算（与步行距离对比）。",
                          "Straight-line distances",
                          "No street network: compare with walking distances."),
    "yuzhong-capacity": ("考虑容量", "老年食堂按座位数×2轮、托育点按托位数计算实际服务人数。",
                         "With capacities",
                         "Canteens serve seats x 2 sittings, childcare rooms their places."),
    "yuzhong-equity-floors": ("公平底线", "每个社区口袋公园覆盖率不低于40%、老年食堂不低于80%。",
                              "Equity floors",
                              "Every community: at least 40 % park and 80 % canteen coverage."),
    "yuzhong-maxmin": ("补齐最弱社区", "先尽量提高覆盖最差社区的覆盖率，再提高总覆盖。",
                       "Worst-served first",
                       "Raise the worst-covered community first, then total coverage."),
    "yuzhong-complete-circle": ("完整生活圈", "三类设施都可达的居民额外加分。", "Complete circle",
                                "A bonus per resident with all three services in reach."),
    "yuzhong-distance-decay": ("距离衰减", "半径外一定距离内按一半计入覆盖。", "Distance decay",
                               "Half credit a little beyond the radius."),
    "yuzhong-least-cost": ("最省投资", "达到全市覆盖率目标的最低投资方案。", "Least cost",
                           "The cheapest plan that meets city-wide coverage targets."),
    "yuzhong-phasing": ("分年度实施", "2026、2027年各1500万元，先建效果最好的点位。", "Phasing",
                        "15 M CNY in 2026 and 15 M in 2027; the best sites first."),
    "yuzhong-street-budgets": ("分街道预算", "11个街道各250万元。", "Budgets by subdistrict",
                               "2.5 M CNY for each of the 11 subdistricts."),
    "wuhan-canteens": ("武汉江汉区老年食堂", "真实WorldPop人口网格：选20处老年食堂，服务60岁以上居民。",
                       "Wuhan Jianghan canteens",
                       "Real WorldPop age grid: 20 canteens for residents aged 60+."),
    "swain55-s10-p5": ("Swain 55点算例", "经典最大覆盖问题的公开最优解（609）。", "Swain 55 case",
                       "Published MCLP optimum (609)."),
    "sjc324-s800-p4": ("圣若泽324点算例", "经典最大覆盖问题的公开最优解（12,106）。", "SJC324 case",
                       "Published MCLP optimum (12,106)."),
    "sf-stores": ("旧金山算例", "spopt 的旧金山路网距离算例（已知最优875,247）。",
                  "San Francisco case", "spopt's network-distance case (optimum 875,247)."),
}


def title(name: str, lang: str) -> str:
    """``示例城市 · 基准方案`` style title of a shipped scenario (the name otherwise)."""
    if name not in TITLES:
        return name
    zh, _, en, _ = TITLES[name]
    if name.startswith("yuzhong-"):
        return f"{'示例城市' if lang == 'zh' else 'Sample city'} · {zh if lang == 'zh' else en}"
    return zh if lang == "zh" else en


def description(name: str, lang: str) -> str | None:
    """The scenario's one-line description in ``lang`` (None if not a shipped scenario)."""
    if name not in TITLES:
        return None
    _, zh, _, en = TITLES[name]
    prefix = (SAMPLE_ZH if lang == "zh" else SAMPLE_EN) + ": " if name.startswith(
        "yuzhong-") else ""
    return prefix + (zh if lang == "zh" else en)
