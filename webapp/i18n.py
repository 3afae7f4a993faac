"""Chinese and English text and locale-aware numbers (Babel) for the app.

Every visible string goes through :func:`tr`; numbers through :func:`people`,
:func:`money`, :func:`pct` (万 / 亿 in Chinese, thousands separators and M in English).
"""

from __future__ import annotations

import math

from babel.numbers import format_compact_decimal, format_decimal

LANGS = ("zh", "en")
LOCALES = {"zh": "zh_Hans_CN", "en": "en_US"}

TEXT: dict[str, tuple[str, str]] = {
    # key: (中文, English)
    "app_title": ("15分钟生活圈 · 设施选址", "15-minute life circles · facility siting"),
    "app_caption": ("把闲置空间改造成口袋公园、老年食堂和托育点：在预算内让尽可能多的居民步行可达。",
                    "Turn idle spaces into pocket parks, elderly canteens and childcare rooms: "
                    "reach as many residents as possible on foot, within the budget."),
    "language": ("语言", "Language"),
    "scenario": ("情景", "Scenario"),
    "scenario_help": ("示例城市（合成数据）或自己上传的数据", "Sample city (synthetic) or your own data"),
    "uploaded_data": ("上传的数据", "Uploaded data"),
    "choose": ("请选择", "Choose an option"),
    "budget": ("预算（万元）", "Budget (million CNY)"),
    "time_limit": ("求解时间上限（秒）", "Time limit (s)"),
    "solve": ("求解", "Solve"),
    "cancel": ("停止求解", "Stop solving"),
    "tab_data": ("数据", "Data"),
    "tab_edit": ("情景设置", "Scenario settings"),
    "tab_results": ("结果", "Results"),
    "tab_compare": ("方案比较", "Compare"),
    "tab_curve": ("预算曲线", "Budget curve"),
    "tab_export": ("导出", "Export"),
    "demand_units": ("居住单元", "Residential units"),
    "residents": ("常住人口", "Residents (people)"),
    "candidate_sites": ("候选闲置点位", "Candidate sites"),
    "existing_facilities": ("现有设施", "Existing facilities"),
    "distances": ("距离", "Distances"),
    "walking": ("步行路网距离", "walking, on the street network"),
    "euclidean": ("直线距离", "straight-line"),
    "table_pairs": ("距离表", "distance table"),
    "per_community": ("各社区人口", "Population by community"),
    "community": ("社区", "Community"),
    "map_of_data": ("数据地图", "Map of the data"),
    "map_type": ("地图显示的设施类型", "Facility type on the map"),
    "people_unit": ("人", "people"),
    "yuan": ("元", "CNY"),
    "status_optimal": ("已求得最优方案", "Optimal plan"),
    "status_optimal_detail": ("已证明没有更好的方案（容差 {tol}）。",
                              "Proven: no better plan exists (tolerance {tol})."),
    "status_feasible": ("可行方案，距最优不超过 {gap}", "Feasible plan, within {gap} of optimal"),
    "status_feasible_detail": ("在时间上限内停止；已证明最优方案至多再好 {gap}。",
                               "Stopped at the time limit; the best possible plan is at most "
                               "{gap} better (proven)."),
    "status_stopped": ("已按要求停止：保留目前最好的方案，距最优不超过 {gap}",
                       "Stopped on request: best plan so far kept, within {gap} of optimal"),
    "status_infeasible": ("无可行方案", "No feasible plan"),
    "status_no_solution": ("时间内未找到方案", "No plan found within the limits"),
    "status_error": ("求解出错", "Solver error"),
    "solving": ("正在求解…", "Solving…"),
    "queued": ("排队中：服务器正在求解其他情景，稍候自动开始。",
               "Queued: the server is solving other scenarios; this starts automatically."),
    "from_store": ("已求解过（结果已保存，无需重新计算）。", "Solved before (stored result, not recomputed)."),
    "not_solved": ("尚未求解。设置好情景后点击左侧“求解”。",
                   "Not solved yet. Set up the scenario, then press Solve on the left."),
    "progress_chart": ("求解进度：目标值与上界", "Progress: objective and bound"),
    "incumbent": ("当前最好方案", "best plan"),
    "bound": ("最优上界", "bound"),
    "elapsed": ("用时（秒）", "time (s)"),
    "kpi_new": ("新增覆盖 · {type}", "Newly covered · {type}"),
    "kpi_cov": ("覆盖率 {before} → {after}", "coverage {before} → {after}"),
    "kpi_cost": ("总投资", "Total cost"),
    "kpi_cost_delta": ("预算 {budget}", "budget {budget}"),
    "kpi_per_person": ("每新增覆盖一人花费", "Cost per newly covered resident"),
    "kpi_sites": ("新建点位", "New sites"),
    "kpi_gap": ("与最优的差距", "Gap to optimal"),
    "why_idle": ("为什么没有新建{type}？", "Why no new {type}?"),
    "idle_low_ratio": (
        "预算优先投向每万元覆盖人数最多的点位。最好的{type}候选点（{site}）可新增覆盖 {people}（{group}），"
        "投资 {cost}，按权重 {weight} 折合每万元 {ratio} 加权人；而本方案中效率最低的已选点位每万元仍有 "
        "{threshold}。所以在当前权重和预算下，建{type}不如把钱用在其他设施上——这是模型的正确结果，不是错误。"
        "若政策要求一定要建，可以一键尝试：",
        "The budget goes where each 10,000 CNY covers the most weighted people. The best {type} "
        "candidate ({site}) would newly cover {people} ({group}) for {cost}: at weight {weight} "
        "that is {ratio} weighted people per 10,000 CNY, while the least efficient site in the "
        "plan still gives {threshold}. So at this weight and budget the money does more "
        "elsewhere: a correct result, not a bug. If policy requires {type}, try:"),
    "idle_no_candidates": ("没有任何候选点位可以改造为{type}（成本列为空或点位被排除）。",
                           "No candidate site can become a {type} (blank cost column, or "
                           "all excluded)."),
    "idle_nothing": ("{group}已全部被覆盖或都不在任何候选点的服务半径内。",
                     "Everyone in {group} is already covered or out of reach of every "
                     "candidate."),
    "variant_weight": ("把{type}权重提高到 {value}", "Raise the {type} weight to {value}"),
    "variant_target": ("要求{type}全市覆盖率至少 {value}", "Require {type} coverage of at least {value}"),
    "variant_share": ("其他设施各自最多用预算的 {value}", "Cap each other type at {value} of the budget"),
    "map_title": ("方案地图", "Plan map"),
    "legend_new": ("新增覆盖", "newly covered"),
    "legend_existing": ("原已覆盖", "already covered"),
    "legend_uncovered": ("仍未覆盖", "still uncovered"),
    "legend_existing_fac": ("现有设施", "existing facility"),
    "legend_candidates": ("候选点位", "candidate site"),
    "legend_streets": ("步行道路", "walkable streets"),
    "legend_population": ("人口", "residents"),
    "service_area": ("服务半径 {r} 米", "service radius {r} m"),
    "aggregated_note": ("单元过多，按 {cell} 米网格汇总显示。", "Too many units to draw: shown as {cell} m grid cells."),
    "sites_table": ("选中的点位", "Chosen sites"),
    "col_site": ("点位", "Site"),
    "col_change": ("变化", "Change"),
    "col_change_overall": ("总体变化", "Overall change"),
    "col_type": ("改造为", "Becomes"),
    "col_cost": ("投资（元）", "Cost (CNY)"),
    "col_reached": ("服务人数", "People reached"),
    "col_newly": ("新增覆盖人数", "Newly covered"),
    "col_kind": ("空间类型", "Space"),
    "col_area": ("面积（㎡）", "Area (m²)"),
    "col_year": ("年份", "Year"),
    "communities_table": ("各社区覆盖情况（覆盖率最低的标红）", "Coverage by community (worst-served in red)"),
    "col_population": ("人口", "Population"),
    "col_covered": ("覆盖人数", "Covered"),
    "col_coverage_pct": ("覆盖率 %", "Coverage %"),
    "types": ("设施类型", "Facility types"),
    "col_label": ("名称", "Name"),
    "col_group": ("服务人群（人口列）", "Target group (column)"),
    "col_radius": ("服务半径（米）", "Radius (m)"),
    "col_minutes": ("步行分钟", "Walking minutes"),
    "col_weight": ("权重", "Weight"),
    "col_max_sites": ("最多新建", "Max new sites"),
    "col_share": ("最多占预算", "Max budget share"),
    "col_capacity": ("容量列", "Capacity column"),
    "col_cost_col": ("成本列", "Cost column"),
    "radius_unit": ("半径单位", "Radius in"),
    "metres": ("米", "metres"),
    "minutes": ("步行分钟（60 米/分钟）", "walking minutes (60 m/min)"),
    "policies": ("政策开关", "Policy switches"),
    "floors": ("各社区最低覆盖率（公平底线）", "Minimum coverage in every community (equity floors)"),
    "floor_mode": ("底线类型", "Floor type"),
    "floor_hard": ("必须满足", "must hold"),
    "floor_soft": ("尽量满足（按缺口扣分）", "soft (penalty per person short)"),
    "complete_circle": ("完整生活圈加分：三类设施都可达的居民", "Complete life circle bonus: residents with every service in reach"),
    "circle_weight": ("完整生活圈权重", "Complete-circle weight"),
    "least_cost": ("最省钱：达到覆盖目标的最低投资", "Least cost: cheapest plan meeting the targets"),
    "targets": ("全市覆盖率目标", "City-wide coverage targets"),
    "area_budgets": ("分街道预算上限", "Budgets by subdistrict"),
    "area_column": ("分区列", "Area column"),
    "phasing": ("分年度实施", "Phasing over years"),
    "phasing_years": ("年份（逗号分隔）", "Years (comma separated)"),
    "phasing_budgets": ("各年预算（万元，逗号分隔）", "Yearly budgets (million CNY, comma separated)"),
    "sites_rules": ("指定与排除点位", "Forced and excluded sites"),
    "force_open": ("必须建设的点位", "Sites that must open"),
    "exclude": ("不得使用的点位", "Sites that must stay closed"),
    "pick_hint": ("可在下表中勾选点位，或在“数据”页地图上框选，再点按钮。",
                  "Tick sites in the table below, or box-select them on the Data map, then "
                  "press a button."),
    "col_id": ("编号", "ID"),
    "pick_sites": ("选择点位编号", "Choose site ids"),
    "col_type_key": ("类型代码", "type key"),
    "add_force": ("设为必须建设", "Force open"),
    "add_exclude": ("设为排除", "Exclude"),
    "clear_rules": ("清除指定与排除", "Clear forced and excluded"),
    "save_toml": ("保存情景文件（TOML）", "Save scenario file (TOML)"),
    "load_toml": ("打开情景文件（TOML）", "Open a scenario file (TOML)"),
    "problems": ("输入有问题（共 {n} 条）：", "Problems with the input ({n}):"),
    "scenario_ok": ("情景有效。", "Scenario is valid."),
    "upload": ("上传自己的数据", "Upload your own data"),
    "upload_help": ("格式与命令行相同：CSV / XLSX / GeoPackage / GeoJSON / 压缩的 Shapefile（.zip），单个文件不超过 {mb} MB。",
                    "Same formats as the command line: CSV / XLSX / GeoPackage / GeoJSON / "
                    "zipped Shapefile, at most {mb} MB per file."),
    "up_demand": ("居住人口（必填）", "Residents (required)"),
    "up_sites": ("候选点位（必填）", "Candidate sites (required)"),
    "up_existing": ("现有设施（可选）", "Existing facilities (optional)"),
    "up_network": ("步行路网（可选，GraphML / GeoPackage）", "Street network (optional, GraphML / GeoPackage)"),
    "up_crs": ("x/y 坐标系（有 lon/lat 列时忽略）", "CRS of x/y (ignored for lon/lat columns)"),
    "up_use": ("使用上传的数据", "Use the uploaded data"),
    "compare_pick": ("选择要比较的方案（第一个为基准）", "Plans to compare (the first is the baseline)"),
    "compare_need": ("至少求解两个情景后才能比较。", "Solve at least two scenarios to compare them."),
    "kpi_table": ("主要指标与差值", "Key figures and differences"),
    "site_changes": ("点位变化（相对基准）", "Site changes (vs the baseline)"),
    "added": ("新增", "added"),
    "dropped": ("取消", "dropped"),
    "changed_type": ("改变用途", "changed use"),
    "same": ("相同", "same"),
    "curve_budgets": ("预算范围（万元）", "Budget range (million CNY)"),
    "curve_points": ("点数", "Points"),
    "curve_run": ("计算预算曲线", "Compute the budget curve"),
    "curve_cov": ("覆盖率随预算变化", "Coverage as the budget grows"),
    "curve_marginal": ("每新增覆盖一人的边际成本（元/人）", "Marginal cost per newly covered resident (CNY)"),
    "yuan_per_person": ("边际成本（元/人）", "Marginal cost (CNY per person)"),
    "status_col": ("求解状态", "Status"),
    "curve_note": ("边际成本陡增之处，就是再加钱回报明显变小的地方。",
                   "Where the marginal cost climbs steeply, extra money stops paying."),
    "export_csv": ("点位清单 CSV", "Site list CSV"),
    "export_xlsx": ("Excel 工作簿", "Excel workbook"),
    "export_gpkg": ("GeoPackage（GIS）", "GeoPackage (GIS)"),
    "brief_html": ("政策简报（网页）", "Policy brief (HTML)"),
    "brief_pdf": ("政策简报（PDF）", "Policy brief (PDF)"),
    "export_toml": ("情景文件 TOML", "Scenario file TOML"),
    "stale": ("情景设置已修改，下方是修改前的结果；点击“求解”更新。",
              "Settings changed since this plan was solved; press Solve to update it."),
    "solved_list": ("已求解的方案", "Solved plans"),
    "name": ("方案名称", "Plan name"),
    "map_key": ("绿色：新增覆盖　浅蓝：原已覆盖　粉红：仍未覆盖　实心符号：新建设施　空心符号：现有设施",
                "Green: newly covered · light blue: already covered · pink: still uncovered · "
                "filled symbols: new facilities · open symbols: existing ones"),
    "map_settings": ("地图设置", "Map settings"),
    "tile_help": ("留空时地图由数据本身（路网、人口网格）绘制，完全离线。填写后浏览器会向该地址请求底图。坐标按 WGS84 显示，高德、腾讯等 GCJ-02 底图会有数百米偏移。",
                  "Empty: maps are drawn from the data itself (streets, population cells), "
                  "fully offline. Set: the browser fetches base tiles from this address. "
                  "Points are placed in WGS84; GCJ-02 tiles (Amap, Tencent) are offset by "
                  "several hundred metres."),
    "tile_url": ("可选底图瓦片地址（如天地图，需自己的密钥）", "Optional tile URL (e.g. Tianditu with your key)"),
    "park": ("口袋公园", "pocket park"),
    "canteen": ("老年食堂", "elderly canteen"),
    "childcare": ("托育点", "childcare room"),
    "pop_total": ("全体居民", "all residents"),
    "pop_60plus": ("60岁及以上老人", "residents aged 60+"),
    "pop_0_3": ("0-3岁婴幼儿", "children aged 0-3"),
    "pop_0_14": ("0-14岁儿童", "children aged 0-14"),
}


def tr(key: str, lang: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` with ``{name}`` fields filled in."""
    zh, en = TEXT[key]
    text = zh if lang == "zh" else en
    return text.format(**values) if values else text


def type_name(name: str, lang: str, label: str | None = None) -> str:
    """A facility type's display name: known types translated, else the scenario's label."""
    if name in TEXT:
        return tr(name, lang)
    return label or name


def group_name(column: str, lang: str) -> str:
    """A target-group column's display name."""
    return tr(column, lang) if column in TEXT else column


def number(value: float | None, lang: str, digits: int = 0) -> str:
    """A plain number with the locale's separators."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format_decimal(round(value, digits), locale=LOCALES[lang],
                          format=f"#,##0{'.' + '0' * digits if digits else ''}")


def people(value: float | None, lang: str) -> str:
    """People: ``18.2万人`` in Chinese, ``181,865 people`` in English."""
    if value is None or not math.isfinite(value):
        return "–"
    if lang == "zh":
        if abs(value) >= 10_000:
            return format_compact_decimal(value, locale=LOCALES[lang],
                                          fraction_digits=1) + "人"
        return number(value, lang) + "人"
    return number(value, lang) + " people"


def money(value: float | None, lang: str) -> str:
    """Money: ``2,599.7万元`` in Chinese, ``26.0 M CNY`` in English."""
    if value is None or not math.isfinite(value):
        return "–"
    if lang == "zh":
        if abs(value) >= 100_000_000:
            return number(value / 1e8, lang, 2) + "亿元"
        if abs(value) >= 10_000:
            return number(value / 1e4, lang, 1) + "万元"
        return number(value, lang, 2 if abs(value) < 10 else 0) + "元"
    if abs(value) >= 1e6:
        return number(value / 1e6, lang, 2) + " M CNY"
    return number(value, lang, 2 if abs(value) < 10 else 0) + " CNY"


def pct(value: float | None, lang: str, digits: int = 1) -> str:
    """A percentage given in percent units (``38.8`` -> ``38.8%``)."""
    if value is None or not math.isfinite(value):
        return "–"
    return number(value, lang, digits) + "%"


def budget_unit(lang: str, budget: float | None = None) -> float:
    """CNY per unit of the budget inputs: 万元 (10,000) in Chinese, million in English; 1
    for budgets that count sites rather than yuan (below 10,000, as in p-median cases)."""
    if budget is not None and math.isfinite(budget) and 0 < budget < 10_000:
        return 1.0
    return 1e4 if lang == "zh" else 1e6


def budget_label(lang: str, unit: float) -> str:
    """Label of a budget input in ``unit`` CNY."""
    if unit == 1.0:
        return "预算（元）" if lang == "zh" else "Budget (CNY)"
    return tr("budget", lang)
